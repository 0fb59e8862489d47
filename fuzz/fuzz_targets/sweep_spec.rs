//! The sweep spec parser (`isoflop sweep plan|run SPEC`) on arbitrary text: an error, or a spec
//! that passes its own validation and plans without a panic (the plan itself may refuse it);
//! a plan makes a valid run graph, its `[compress]` runs included.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(spec) = isoflop_sweep::SweepSpec::parse(text, "fuzz.toml") {
        spec.validate().expect("a parsed spec is valid");
        if let Ok(runs) = isoflop_sweep::plan(&spec) {
            for r in &runs {
                assert!(r.tokens > 0 && r.tokens <= isoflop_train::MAX_RUN_TOKENS, "{}", r.key);
                assert!(r.flops.is_finite() && r.params > 0.0, "{}", r.key);
            }
            let distill = spec.distill.as_ref().map_or(0, |d| {
                isoflop_sweep::graph::distill_inputs(d.teacher, &runs).len()
            });
            let finetune = spec.finetune.tasks.len() * spec.finetune.methods.len();
            let n = runs.len() * (1 + spec.compress.variants().len() + finetune) + distill;
            let graph = isoflop_sweep::RunGraph::for_spec(&spec, runs).expect("a plan's graph");
            assert_eq!(graph.len(), n);
        }
    }
});

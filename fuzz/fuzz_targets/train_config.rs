//! The `isoflop train --config FILE` parser on arbitrary text: an error, or settings whose
//! counts are finite and non-negative, which then resolve to a valid configuration or an
//! error (never a panic).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(f) = isoflop_train::TrainOverrides::parse(text, "fuzz.toml") {
        for c in [f.params, f.tokens, f.batch_tokens, f.eval_tokens, f.final_eval_tokens]
            .into_iter()
            .flatten()
        {
            assert!(c.is_finite() && c >= 0.0, "count {c} passed");
        }
        // A config that resolves is one the trainer accepts (threads above the machine are
        // refused, never started).
        if let Ok(vocab) = f.tokenizer_kind().map(|k| k.vocab())
            && let Ok(cfg) = f.resolve(vocab)
        {
            assert!(cfg.validate().is_ok());
        }
    }
});

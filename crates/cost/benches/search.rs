//! `--search` must enumerate every layout in well under 100 ms: Llama-2-70B on 64 and on 1024
//! H100s, global batch 1024 sequences of 4096 tokens.

use criterion::{Criterion, criterion_group, criterion_main};
use isoflop_cost::{FlopConvention, Hardware, SearchSpace, TrainRecipe, preset, search};
use std::hint::black_box;

fn bench(c: &mut Criterion) {
    let shape = preset("llama2-70b").unwrap();
    let hw = Hardware::preset("h100-sxm").unwrap();
    for gpus in [64u64, 1024] {
        let space = SearchSpace {
            gpus,
            global_batch: 1024,
            seq: 4096,
            tokens: 2e12,
            recipe: TrainRecipe::Bf16Adam,
            convention: FlopConvention::Palm,
            mfu: 0.4,
            flash_attention: true,
        };
        let r = search(&shape, &hw, &space, 10).unwrap();
        eprintln!("{gpus} GPUs: {} layouts enumerated, {} fit", r.enumerated, r.fitting);
        c.bench_function(&format!("search llama2-70b on {gpus} h100-sxm"), |b| {
            b.iter(|| search(black_box(&shape), &hw, &space, 10).unwrap())
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);

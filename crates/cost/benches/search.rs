//! `--search` must enumerate every layout in well under 100 ms: Llama-2-70B on 64 and on 1024
//! H100s, global batch 1024 sequences of 4096 tokens. Also the `cpu` probe's matmul kernel
//! (512×512 f32, one thread and all threads): 2·512³ = 268.4 MFLOP per iteration.

use criterion::{Criterion, criterion_group, criterion_main};
use isoflop_cost::{
    FlopConvention, Hardware, SearchSpace, TrainRecipe, matmul_f32, preset, search,
};
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

fn probe(c: &mut Criterion) {
    let n = 512;
    let a: Vec<f32> = (0..n * n).map(|i| (i % 7) as f32 * 0.25).collect();
    let b: Vec<f32> = (0..n * n).map(|i| (i % 5) as f32 * 0.5).collect();
    let mut out = vec![0.0f32; n * n];
    let all = std::thread::available_parallelism().map_or(1, |t| t.get());
    for threads in [1, all] {
        c.bench_function(&format!("matmul_f32 512 on {threads} threads"), |bench| {
            bench.iter(|| matmul_f32(black_box(&a), &b, &mut out, n, threads))
        });
    }
}

criterion_group!(benches, bench, probe);
criterion_main!(benches);

//! `isoflop estimate` end to end: exact counts, the JSON keys other parts rely on, sourced
//! figures, the search and the ladder, files as input, and bad input (exit 2, a clear message).

mod common;

use common::{isoflop, num};
use serde_json::Value;
use std::path::PathBuf;

/// `isoflop estimate <args> --json`, parsed; panics with stderr on failure.
fn estimate(args: &[&str]) -> Value {
    common::json(&[&["estimate"], args].concat())
}

/// `isoflop estimate <args>` must exit 2 with `want` on stderr and nothing on stdout.
fn refused(args: &[&str], want: &str) {
    common::refused(&[&["estimate"], args].concat(), want)
}

fn configs() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../configs")
}

#[test]
fn preset_parameter_counts_are_the_checkpoints() {
    // Hugging Face checkpoints' num_parameters() (GPT-2: Radford et al. 2019; Llama 2: Touvron
    // et al. 2023); the trainer's S and M from tools/torch_gpt_reference.py.
    for (model, total) in [
        ("gpt2", 124_439_808u64),
        ("gpt2-medium", 354_823_168),
        ("gpt2-large", 774_030_080),
        ("gpt2-xl", 1_557_611_200),
        ("llama2-7b", 6_738_415_616),
        ("llama2-13b", 13_015_864_320),
        ("llama2-70b", 68_976_648_192),
        ("train-s", 875_264),
        ("train-m", 4_902_912),
    ] {
        let v = estimate(&["--model", model, "--gpus", "8", "--tp", "1"]);
        assert_eq!(v.pointer("/params/total").and_then(Value::as_u64), Some(total), "{model}");
        let emb = v.pointer("/params/embedding").and_then(Value::as_u64).unwrap();
        let non = v.pointer("/params/non_embedding").and_then(Value::as_u64).unwrap();
        assert_eq!(emb + non, total, "{model}");
    }
}

#[test]
fn json_keys_and_values_for_llama2_7b_on_64_h100() {
    let v = estimate(&[
        "--model",
        "llama2-7b",
        "--gpu",
        "h100-sxm",
        "--gpus",
        "64",
        "--tokens",
        "2e12",
        "--kv-precision",
        "fp16",
    ]);
    // PaLM convention: N_ne = 6,607,343,616; 6·N_ne + 12·32·4096·4096 = 39,644,061,696 +
    // 6,442,450,944 = 46,086,512,640 FLOPs
    // per token; × 2e12 tokens.
    assert_eq!(num(&v, "/flops/per_token_train"), 46_086_512_640.0);
    assert_eq!(num(&v, "/flops/train_total"), 46_086_512_640.0 * 2e12);
    // Time = FLOPs / (64 · 989.4e12 · 0.4) (H100 SXM dense bf16, the preset's assumed MFU).
    let secs = 46_086_512_640.0 * 2e12 / (64.0 * 989.4e12 * 0.4);
    assert!((num(&v, "/time/train_seconds") / secs - 1.0).abs() < 1e-12);
    // Llama-2-7B fp16 KV cache: 2 · 32 · 32 · 128 · 2 = 524,288 bytes per token.
    assert_eq!(num(&v, "/inference/kv_cache_bytes_per_token"), 524_288.0);
    // bf16 weights: 2 bytes × 6,738,415,616.
    assert_eq!(num(&v, "/inference/weights_bytes"), 13_476_831_232.0);
    // The memory parts add up; dp 64 without ZeRO holds all 16 bytes/param on every GPU.
    let parts: f64 = ["weights", "gradients", "optimizer", "activations"]
        .iter()
        .map(|p| num(&v, &format!("/memory/parts/{p}")))
        .sum();
    assert!((num(&v, "/memory/per_gpu_bytes") - parts).abs() < 1.0);
    let states = num(&v, "/memory/parts/weights")
        + num(&v, "/memory/parts/gradients")
        + num(&v, "/memory/parts/optimizer");
    assert_eq!(states, 16.0 * 6_738_415_616.0);
    assert_eq!(v.pointer("/memory/fits"), Some(&Value::Bool(false)));
    assert_eq!(v.pointer("/layout/dp").and_then(Value::as_u64), Some(64));
}

#[test]
fn mfu_from_a_measured_throughput() {
    // The trainer's model S (5,743,104 FLOPs per token, PaLM convention) at 100,000 tokens/s on
    // one A100 (312 TFLOP/s bf16 dense): MFU = 1e5 · 5,743,104 / 312e12.
    let v = estimate(&[
        "--model",
        "train-s",
        "--gpu",
        "a100-80gb",
        "--gpus",
        "1",
        "--tokens",
        "1e9",
        "--tokens-per-second",
        "100000",
    ]);
    let mfu = 1e5 * 5_743_104.0 / 312e12;
    assert!((num(&v, "/time/mfu") / mfu - 1.0).abs() < 1e-12);
    // The time is then exactly tokens / throughput.
    assert!((num(&v, "/time/train_seconds") / 1e4 - 1.0).abs() < 1e-12);
    assert!(v.pointer("/time/mfu_source").and_then(Value::as_str).unwrap().starts_with("measured"));
}

#[test]
fn kv_cache_of_llama2_70b_is_grouped_query() {
    // 2 · 80 layers · 8 KV heads · 128 · 2 bytes = 327,680 bytes per token (fp16).
    let v = estimate(&["--model", "llama2-70b", "--kv-precision", "fp16"]);
    assert_eq!(num(&v, "/inference/kv_cache_bytes_per_token"), 327_680.0);
    // bf16 weights of 138 GB need two 80 GiB GPUs.
    assert_eq!(v.pointer("/inference/setup/gpus").and_then(Value::as_u64), Some(2));
}

#[test]
fn zero_and_recompute_change_memory_as_the_papers_say() {
    let base = ["--model", "llama2-7b", "--gpus", "64", "--global-batch", "64"];
    let mem = |extra: &[&str]| {
        let mut a = base.to_vec();
        a.extend_from_slice(extra);
        estimate(&a)
    };
    // ZeRO-3 over 64 ranks: every state part divided by 64 (Rajbhandari et al. 2020).
    let z0 = mem(&["--zero", "0"]);
    let z3 = mem(&["--zero", "3"]);
    for part in ["weights", "gradients", "optimizer"] {
        let (a, b) = (
            num(&z0, &format!("/memory/parts/{part}")),
            num(&z3, &format!("/memory/parts/{part}")),
        );
        assert!((a / b - 64.0).abs() < 1e-9, "{part}: {a} / {b}");
    }
    // Full recomputation keeps 2sbh per layer (Korthikanti et al. 2022 Table 2) and adds a
    // forward: 8N + 16·L·d·s per token.
    let full = mem(&["--recompute", "full", "--no-flash-attention"]);
    let none = mem(&["--no-flash-attention"]);
    assert!(
        num(&full, "/memory/parts/activations") < num(&none, "/memory/parts/activations") / 10.0
    );
    let n = 6_607_343_616.0;
    let attn = 32.0 * 4096.0 * 4096.0;
    let per_token = num(&full, "/flops/train_total_with_recompute") / num(&full, "/flops/tokens");
    assert!((per_token / (8.0 * n + 16.0 * attn) - 1.0).abs() < 1e-12);
}

#[test]
fn search_finds_ten_layouts_that_fit() {
    let v = estimate(&[
        "--model",
        "llama2-70b",
        "--gpu",
        "h100-sxm",
        "--gpus",
        "64",
        "--tokens",
        "2e12",
        "--global-batch",
        "512",
        "--search",
    ]);
    let best = v.pointer("/search/best").and_then(Value::as_array).unwrap();
    assert_eq!(best.len(), 10);
    assert!(num(&v, "/search/enumerated") > 1000.0);
    let usable = num(&v, "/memory/usable_bytes");
    let mut last = 0.0;
    for c in best {
        let l = &c["layout"];
        let gpus =
            l["tp"].as_u64().unwrap() * l["pp"].as_u64().unwrap() * l["dp"].as_u64().unwrap();
        assert_eq!(gpus, 64);
        let m = &c["memory"];
        let total: f64 = ["weights", "gradients", "optimizer", "activations"]
            .iter()
            .map(|p| m[p].as_f64().unwrap())
            .sum();
        assert!(total <= usable);
        let days = c["train_seconds"].as_f64().unwrap();
        assert!(days >= last, "sorted fastest first");
        last = days;
    }
    // The human table lists them too.
    let (code, stdout, _) = isoflop(&[
        "estimate",
        "--model",
        "llama2-70b",
        "--gpus",
        "64",
        "--global-batch",
        "512",
        "--search",
    ]);
    assert_eq!(code, 0);
    assert!(stdout.contains("layout search on 64 × h100-sxm") && stdout.contains("memory GiB"));
}

#[test]
fn ladder_default_and_from_a_fit() {
    let v = estimate(&["--ladder"]);
    let rows = v.pointer("/ladder/rows").and_then(Value::as_array).unwrap();
    assert_eq!(rows.len(), 7);
    // 20 tokens per parameter (Hoffmann et al. 2022) on the Llama-2-7B rung.
    assert_eq!(rows[4]["params"]["total"].as_u64(), Some(6_738_415_616));
    assert_eq!(rows[4]["tokens"].as_f64(), Some(20.0 * 6_738_415_616.0));
    // Storage is 2 bytes per parameter in bf16: S(n) = 2·n^1.
    assert!((num(&v, "/ladder/storage_law/q") - 1.0).abs() < 1e-9);
    assert!((num(&v, "/ladder/compute_law/p") - 2.0).abs() < 0.05);

    // A fit of Hoffmann et al. 2022's approach-3 law (E 1.69, A 406.4, B 410.7, α 0.34,
    // β 0.28) from exact observations; the ladder's tokens are then the D at which each N is
    // compute-optimal: C/6 = (N/G)^(1/a), D = (C/6)/N, G = (αA/(βB))^(1/(α+β)), a = β/(α+β).
    let dir = tempfile::tempdir().unwrap();
    let (e, a, b, alpha, beta) = (1.69, 406.4, 410.7, 0.34f64, 0.28f64);
    let mut csv = String::from("N,D,loss\n");
    for i in 0..5 {
        for j in 0..5 {
            let n = 1e7 * 4f64.powi(i);
            let d = 20.0 * n * 2f64.powi(j - 2);
            csv.push_str(&format!("{n},{d},{}\n", e + a / n.powf(alpha) + b / d.powf(beta)));
        }
    }
    let data = dir.path().join("obs.csv");
    std::fs::write(&data, csv).unwrap();
    let fit = dir.path().join("fit.json");
    let (code, _, stderr) = isoflop(&["fit", data.to_str().unwrap(), "-o", fit.to_str().unwrap()]);
    assert_eq!(code, 0, "isoflop fit: {stderr}");
    let v = estimate(&["--ladder", "--fit", fit.to_str().unwrap(), "--sizes", "1e9,7e9"]);
    let g = (alpha * a / (beta * b)).powf(1.0 / (alpha + beta));
    let ea = beta / (alpha + beta);
    for row in v.pointer("/ladder/rows").and_then(Value::as_array).unwrap() {
        let n = row["params"]["total"].as_f64().unwrap();
        let want = (n / g).powf(1.0 / ea) / n;
        let got = row["tokens"].as_f64().unwrap();
        assert!((got / want - 1.0).abs() < 0.01, "N {n:e}: {got:e} vs {want:e}");
    }
    refused(
        &["--ladder", "--fit", data.to_str().unwrap()],
        "is not a fit written by `isoflop fit -o`",
    );
}

#[test]
fn files_as_input() {
    let dir = tempfile::tempdir().unwrap();
    // A Hugging Face config.json (meta-llama/Llama-2-13b-hf's fields).
    let json = dir.path().join("config.json");
    std::fs::write(
        &json,
        r#"{"model_type": "llama", "num_hidden_layers": 40, "hidden_size": 5120,
            "num_attention_heads": 40, "num_key_value_heads": 40, "intermediate_size": 13824,
            "vocab_size": 32000, "max_position_embeddings": 4096}"#,
    )
    .unwrap();
    let v = estimate(&["--model", json.to_str().unwrap()]);
    assert_eq!(v.pointer("/params/total").and_then(Value::as_u64), Some(13_015_864_320));
    // The shipped TOML examples.
    let model = configs().join("models/llama2-7b.toml");
    let hw = configs().join("hardware/h100-sxm-example.toml");
    let v = estimate(&["--model", model.to_str().unwrap(), "--gpu", hw.to_str().unwrap()]);
    assert_eq!(v.pointer("/params/total").and_then(Value::as_u64), Some(6_738_415_616));
    assert_eq!(num(&v, "/time/peak_flops_per_gpu"), 989.4e12);
    // Flags override the file: two more layers of 202,383,360 parameters.
    let v = estimate(&["--model", model.to_str().unwrap(), "--n-layer", "34"]);
    assert_eq!(
        v.pointer("/params/total").and_then(Value::as_u64),
        Some(6_738_415_616 + 2 * 202_383_360)
    );
    // A broken TOML names the file and the line.
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "family = \"llama\"\nn_layer = 32\nd_model = \"wide\"\n").unwrap();
    refused(&["--model", bad.to_str().unwrap()], "line 3");
}

#[test]
fn cpu_is_measured() {
    let v = estimate(&["--model", "train-s", "--gpu", "cpu", "--tokens", "1e8"]);
    assert_eq!(v.pointer("/hardware/name").and_then(Value::as_str), Some("cpu"));
    let peak = num(&v, "/time/peak_flops_per_gpu");
    assert!(peak > 1e8 && peak < 1e14, "{peak}");
    assert!(v.pointer("/hardware/source").and_then(Value::as_str).unwrap().contains("GFLOP/s"));
}

#[test]
fn bad_input_exits_2_with_a_clear_message() {
    refused(&["--model", "gpt5"], "unknown model preset `gpt5`");
    refused(&["--model", "gpt2", "--gpu", "tpu-v9"], "unknown GPU preset `tpu-v9`");
    refused(&["--model", "gpt2", "--n-layer", "0"], "n_layer must be positive, got 0");
    refused(&["--model", "gpt2", "--vocab", "0"], "vocab must be positive, got 0");
    refused(&["--model", "gpt2", "--n-layer", "-3"], "unexpected argument '-3'");
    refused(&["--model", "gpt2", "--d-model", "100"], "n_head = 12 does not divide d_model = 100");
    refused(&["--model", "gpt2", "--gpus", "8", "--tp", "8"], "tp = 8 does not divide n_head = 12");
    refused(&["--model", "gpt2", "--gpus", "8", "--pp", "5"], "does not divide the 8 GPUs");
    refused(&["--model", "gpt2", "--gpus", "10", "--pp", "5"], "does not divide n_layer = 12");
    refused(&["--model", "gpt2", "--gpus", "0"], "--gpus must be positive, got 0");
    refused(&["--model", "gpt2", "--tokens=-1e9"], "--tokens must be a positive number");
    refused(&["--model", "gpt2", "--tokens", "-1e9"], "unexpected argument '-1'");
    refused(&["--model", "gpt2", "--mfu", "1.5"], "--mfu must be in (0, 1]");
    refused(&["--model", "gpt2", "--zero", "4"], "--zero must be 0, 1, 2 or 3");
    refused(&["--model", "gpt2", "--recompute", "some"], "unknown recomputation `some`");
    refused(&["--model", "a100-80gb"], "unknown model preset");
    refused(&["--model", "/nonexistent/m.toml"], "cannot read model file /nonexistent/m.toml");
    refused(
        &["--model", "gpt2", "--infer-precision", "fp8", "--gpu", "a100-80gb"],
        "a100-80gb has no fp8",
    );
    refused(&[], "--model is required");
    refused(&["--ladder", "--sizes", "1e9,1e20"], "every size must be in [1e7, 1e15], got 1e20");
    refused(
        &["--model", "gpt2", "--global-batch", "99999999999"],
        "--global-batch = 99999999999 is beyond",
    );
    refused(
        &["--model", "gpt2", "--d-model", "4294967296000", "--n-head", "1"],
        "sizes beyond 1e15 parameters",
    );
}

#[test]
fn human_report_gpt2_on_one_a100() {
    let (code, stdout, stderr) = isoflop(&[
        "estimate",
        "--model",
        "gpt2",
        "--gpu",
        "a100-80gb",
        "--gpus",
        "1",
        "--tokens",
        "1e10",
        "--global-batch",
        "512",
        "--micro-batch",
        "16",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let want = include_str!("estimate_gpt2_a100.txt");
    assert_eq!(stdout, want, "whole output differs; regenerate only after checking every figure");
}

#[test]
fn human_ladder_on_h100() {
    // Checked by hand on the 7B row: 20 · 6,738,415,616 tokens; 46,086,512,640 FLOPs per token
    // → 6.211e21 FLOPs; / (989.4e12 · 0.4) / 86,400 = 181.6 GPU-days; decode (13.48 GB of
    // weights + 3072 · 524,288 cache bytes) / 3.35 TB/s = 4.50 ms.
    let (code, stdout, stderr) = isoflop(&["estimate", "--ladder"]);
    assert_eq!(code, 0, "{stderr}");
    let want = include_str!("estimate_ladder_h100.txt");
    assert_eq!(stdout, want, "whole output differs; regenerate only after checking every figure");
}

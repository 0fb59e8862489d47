//! The kernel engine against the candle reference engine on the same weights and batches:
//! the loss to 1e-5 relative, every parameter's gradient to 1e-4 of its largest entry, and
//! 100 AdamW steps (with clipping and weight decay) whose losses agree to 1e-3 relative.
//! The shape is tiny (2 layers, d 16, 2 heads, context 24, batch 3) so CI stays fast.

use isoflop_train::{AdamW, CandleEngine, Device, Engine, GptConfig, KernelEngine, init_weights};

fn config() -> GptConfig {
    GptConfig::new(2, 16, 2, 32, 24).unwrap()
}

/// Batch `k` of 3 rows × 24 tokens, deterministic and varied.
fn batch(k: u32) -> (Vec<u32>, Vec<u32>) {
    let x = (0..72u32).map(|i| (i * 7 + k * 13 + i / 5) % 32).collect();
    let y = (0..72u32).map(|i| (i * 11 + k * 3 + 1) % 32).collect();
    (x, y)
}

fn engines() -> (KernelEngine, CandleEngine) {
    let cfg = config();
    let ws = init_weights(&cfg, 42);
    let mut k = KernelEngine::new(cfg, 0, 2).unwrap();
    let mut c = CandleEngine::new(cfg, 0, Device::Cpu).unwrap();
    k.set_weights(&ws).unwrap();
    c.set_weights(&ws).unwrap();
    (k, c)
}

#[test]
fn loss_and_gradients_match_candle() {
    let (mut k, mut c) = engines();
    let (x, y) = batch(0);
    let lk = k.forward_backward(&x, &y, 3, 24).unwrap();
    let lc = c.forward_backward(&x, &y, 3, 24).unwrap();
    assert!((lk - lc).abs() <= 1e-5 * lc, "loss: kernels {lk}, candle {lc}");
    let gc = c.gradients().unwrap();
    for gk in k.gradients().unwrap() {
        let gc = gc.iter().find(|t| t.name == gk.name).expect("same names");
        assert_eq!(gk.shape, gc.shape);
        let scale = gc.data.iter().fold(0.0f32, |m, &g| m.max(g.abs()));
        let worst = gk.data.iter().zip(&gc.data).fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
        assert!(
            worst <= 1e-4 * scale,
            "{}: off by {worst:.2e}, largest entry {scale:.2e}",
            gk.name
        );
    }
}

#[test]
fn hundred_steps_track_candle() {
    let (mut k, mut c) = engines();
    // A high learning rate with clipping active, so that the trajectories are sensitive to any
    // difference in the optimizer.
    let opt = AdamW { lr: 3e-3, clip: Some(0.5), ..AdamW::default() };
    let mut worst = 0.0f32;
    for step in 0..100 {
        let (x, y) = batch(step % 7);
        let lk = k.forward_backward(&x, &y, 3, 24).unwrap();
        let lc = c.forward_backward(&x, &y, 3, 24).unwrap();
        worst = worst.max((lk - lc).abs() / lc);
        let nk = k.step(&opt).unwrap();
        let nc = c.step(&opt).unwrap();
        assert!((nk - nc).abs() <= 1e-3 * nc, "step {step}: gradient norm {nk} vs {nc}");
    }
    assert!(worst <= 1e-3, "losses differ by {worst:.2e} relative");
    let (x, y) = batch(0);
    let (ek, ec) = (k.eval_loss(&x, &y, 3, 24).unwrap(), c.eval_loss(&x, &y, 3, 24).unwrap());
    assert!(ek < 3.0, "the model learned: eval loss {ek} (ln 32 = 3.47 at start)");
    assert!((ek - ec).abs() <= 1e-3 * ec, "eval {ek} vs {ec}");
    // The optimizer state is interchangeable.
    let (tk, mk) = k.optimizer_state().unwrap();
    let (tc, mc) = c.optimizer_state().unwrap();
    assert_eq!((tk, mk.len()), (tc, mc.len()));
}

//! The reference engine: the GPT model written with candle's autograd.
//!
//! Reads top down as nanoGPT's `model.py`: LayerNorm → attention → MLP → block → model →
//! loss, then AdamW. Every op is a composed candle op with a backward: candle's fused
//! `layer_norm`/`softmax_last_dim` are built without a backward and would silently leave every
//! upstream parameter without a gradient (docs/cpu-training.md, "Traps"); a
//! missing gradient here is an error, never a skipped update.
//!
//! Shapes: B = batch rows, T = sequence length, C = d_model, H = heads, D = C/H, V = vocab.
//! The model is the one of tools/torch_gpt_reference.py, parameter for parameter.
//!
//! This engine is the correctness reference (the fast CPU engine is tested against it) and the
//! GPU path (`Device::Cuda` with the `cuda` feature).

use crate::engine::{AdamW, Engine, NamedTensor};
use crate::{Device, Error, GptConfig, Result, init_weights};
use candle_core::{D, DType, Tensor, Var};

/// LayerNorm epsilon, PyTorch's `nn.LayerNorm` default.
const LN_EPS: f64 = 1e-5;
/// √(2/π), the tanh-GELU constant (Hendrycks & Gimpel 2016, eq. for the tanh approximation;
/// GPT-2's `gelu`, PyTorch `approximate="tanh"`).
const GELU_K: f64 = 0.797_884_560_802_865_4;
/// The cubic coefficient of the tanh-GELU approximation (same sources).
const GELU_C: f64 = 0.044_715;

fn ce(e: candle_core::Error) -> Error {
    Error::Engine { engine: "candle", message: e.to_string() }
}

/// `y = (x − mean) / √(var + ε) · w + b` over the last dim, biased variance as PyTorch.
fn layer_norm(x: &Tensor, w: &Tensor, b: &Tensor) -> candle_core::Result<Tensor> {
    let mean = x.mean_keepdim(D::Minus1)?; // (…, 1)
    let xc = x.broadcast_sub(&mean)?;
    let var = xc.sqr()?.mean_keepdim(D::Minus1)?;
    let xhat = xc.broadcast_div(&(var + LN_EPS)?.sqrt()?)?;
    xhat.broadcast_mul(w)?.broadcast_add(b)
}

/// `y = x Wᵀ + b` for x of shape (N, in) and W of shape (out, in), as `nn.Linear`.
fn linear(x: &Tensor, w: &Tensor, b: Option<&Tensor>) -> candle_core::Result<Tensor> {
    let y = x.matmul(&w.t()?)?; // (N, out)
    match b {
        Some(b) => y.broadcast_add(b),
        None => Ok(y),
    }
}

/// tanh-GELU, 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))); its backward is composed ops
/// (candle's own `gelu` backward is scalar `powf`/`tanh` and slow).
fn gelu(x: &Tensor) -> candle_core::Result<Tensor> {
    let inner = (x + (x.sqr()? * x)?.affine(GELU_C, 0.0)?)?.affine(GELU_K, 0.0)?;
    x * inner.tanh()?.affine(0.5, 0.5)?
}

/// Softmax over the last dim; the max is detached since subtracting a constant does not change
/// the result, so its (zero) gradient need not be traced.
fn softmax(x: &Tensor) -> candle_core::Result<Tensor> {
    let max = x.max_keepdim(D::Minus1)?.detach();
    let e = x.broadcast_sub(&max)?.exp()?;
    e.broadcast_div(&e.sum_keepdim(D::Minus1)?)
}

/// One block's parameters, in `param_shapes` order.
struct BlockParams<'a> {
    ln_1: (&'a Tensor, &'a Tensor),
    c_attn: (&'a Tensor, &'a Tensor),
    attn_proj: (&'a Tensor, &'a Tensor),
    ln_2: (&'a Tensor, &'a Tensor),
    c_fc: (&'a Tensor, &'a Tensor),
    mlp_proj: (&'a Tensor, &'a Tensor),
}

/// Causal multi-head self-attention on x: (B·T, C) → (B·T, C).
fn attention(
    x: &Tensor,
    p: &BlockParams,
    mask: &Tensor,
    cfg: &GptConfig,
    b: usize,
    t: usize,
) -> candle_core::Result<Tensor> {
    let (c, h, d) = (cfg.d_model, cfg.n_head, cfg.head_dim());
    let qkv = linear(x, p.c_attn.0, Some(p.c_attn.1))?.reshape((b, t, 3, h, d))?;
    let part = |i: usize| -> candle_core::Result<Tensor> {
        qkv.narrow(2, i, 1)?.squeeze(2)?.transpose(1, 2)?.contiguous() // (B, H, T, D)
    };
    let (q, k, v) = (part(0)?, part(1)?, part(2)?);
    let scale = 1.0 / (d as f64).sqrt();
    let att = (q.matmul(&k.t()?)? * scale)?.broadcast_add(mask)?; // (B, H, T, T)
    let att = softmax(&att)?;
    let y = att.matmul(&v)?; // (B, H, T, D)
    let y = y.transpose(1, 2)?.reshape((b * t, c))?; // (B·T, C)
    linear(&y, p.attn_proj.0, Some(p.attn_proj.1))
}

/// The MLP: (B·T, C) → (B·T, 4C) → GELU → (B·T, C).
fn mlp(x: &Tensor, p: &BlockParams) -> candle_core::Result<Tensor> {
    let hdn = gelu(&linear(x, p.c_fc.0, Some(p.c_fc.1))?)?;
    linear(&hdn, p.mlp_proj.0, Some(p.mlp_proj.1))
}

/// A pre-LayerNorm block: x + attn(ln_1(x)), then + mlp(ln_2(x)).
fn block(
    x: &Tensor,
    p: &BlockParams,
    mask: &Tensor,
    cfg: &GptConfig,
    b: usize,
    t: usize,
) -> candle_core::Result<Tensor> {
    let x = (x + attention(&layer_norm(x, p.ln_1.0, p.ln_1.1)?, p, mask, cfg, b, t)?)?;
    &x + mlp(&layer_norm(&x, p.ln_2.0, p.ln_2.1)?, p)?
}

/// The mean cross-entropy of the next-token predictions, in nats per token.
///
/// `params` are in [`GptConfig::param_shapes`] order; `idx` and `tgt` are (B·T,) u32.
fn gpt_loss(
    params: &[Tensor],
    cfg: &GptConfig,
    idx: &Tensor,
    tgt: &Tensor,
    b: usize,
    t: usize,
) -> candle_core::Result<Tensor> {
    let dev = idx.device();
    let (wte, wpe) = (&params[0], &params[1]);
    let pos = wpe.narrow(0, 0, t)?; // (T, C)
    let x = wte.index_select(idx, 0)?.reshape((b, t, cfg.d_model))?; // (B, T, C)
    let mut x = x.broadcast_add(&pos)?.reshape((b * t, cfg.d_model))?; // (B·T, C)
    // Causal mask: 0 on and below the diagonal, −∞ above (T, T).
    let mask: Vec<f32> = (0..t)
        .flat_map(|i| (0..t).map(move |j| if j > i { f32::NEG_INFINITY } else { 0.0 }))
        .collect();
    let mask = Tensor::from_vec(mask, (t, t), dev)?;
    for layer in 0..cfg.n_layer {
        let q = &params[2 + 12 * layer..2 + 12 * (layer + 1)];
        let p = BlockParams {
            ln_1: (&q[0], &q[1]),
            c_attn: (&q[2], &q[3]),
            attn_proj: (&q[4], &q[5]),
            ln_2: (&q[6], &q[7]),
            c_fc: (&q[8], &q[9]),
            mlp_proj: (&q[10], &q[11]),
        };
        x = block(&x, &p, &mask, cfg, b, t)?;
    }
    let tail = 2 + 12 * cfg.n_layer;
    let x = layer_norm(&x, &params[tail], &params[tail + 1])?;
    let logits = linear(&x, &params[tail + 2], None)?; // (B·T, V)
    // log-softmax, then pick the target's log-probability.
    let max = logits.max_keepdim(1)?.detach();
    let shifted = logits.broadcast_sub(&max)?;
    let lse = shifted.exp()?.sum_keepdim(1)?.log()?; // (B·T, 1)
    let logp = shifted.broadcast_sub(&lse)?;
    let picked = logp.gather(&tgt.unsqueeze(1)?, 1)?; // (B·T, 1)
    picked.mean_all()?.neg()
}

/// The candle engine: weights as candle `Var`s, gradients from autograd, AdamW in tensor ops.
pub struct CandleEngine {
    cfg: GptConfig,
    device: candle_core::Device,
    names: Vec<String>,
    shapes: Vec<Vec<usize>>,
    vars: Vec<Var>,
    /// Whether AdamW decays this parameter: the matrices (2-D tensors) only.
    decay: Vec<bool>,
    grads: Option<Vec<Tensor>>,
    adam_m: Vec<Tensor>,
    adam_v: Vec<Tensor>,
    adam_t: u64,
}

impl CandleEngine {
    /// A model of shape `cfg` with GPT-2 initial weights drawn from `seed`, on `device`.
    pub fn new(cfg: GptConfig, seed: u64, device: Device) -> Result<Self> {
        cfg.validate()?;
        let device = device.to_candle()?;
        let weights = init_weights(&cfg, seed);
        let mut vars = Vec::with_capacity(weights.len());
        let (mut adam_m, mut adam_v) = (Vec::new(), Vec::new());
        for w in &weights {
            let t = Tensor::from_slice(&w.data, w.shape.as_slice(), &device).map_err(ce)?;
            adam_m.push(t.zeros_like().map_err(ce)?);
            adam_v.push(t.zeros_like().map_err(ce)?);
            vars.push(Var::from_tensor(&t).map_err(ce)?);
        }
        Ok(Self {
            cfg,
            device,
            names: weights.iter().map(|w| w.name.clone()).collect(),
            shapes: weights.iter().map(|w| w.shape.clone()).collect(),
            decay: weights.iter().map(|w| w.shape.len() == 2).collect(),
            vars,
            grads: None,
            adam_m,
            adam_v,
            adam_t: 0,
        })
    }

    fn check_batch(&self, inputs: &[u32], targets: &[u32], batch: usize, seq: usize) -> Result<()> {
        crate::engine::check_batch("candle", &self.cfg, inputs, targets, batch, seq)
    }

    fn tokens(&self, x: &[u32]) -> Result<Tensor> {
        Tensor::from_slice(x, x.len(), &self.device).map_err(ce)
    }

    fn to_named(&self, prefix: &str, tensors: &[Tensor]) -> Result<Vec<NamedTensor>> {
        tensors
            .iter()
            .zip(&self.names)
            .zip(&self.shapes)
            .map(|((t, name), shape)| {
                Ok(NamedTensor {
                    name: format!("{prefix}{name}"),
                    shape: shape.clone(),
                    data: t.flatten_all().and_then(|t| t.to_vec1::<f32>()).map_err(ce)?,
                })
            })
            .collect()
    }

    /// Finds `prefix + name` for every parameter, checks its shape, and uploads it.
    fn upload_named(&self, prefix: &str, given: &[NamedTensor]) -> Result<Vec<Tensor>> {
        self.names
            .iter()
            .zip(&self.shapes)
            .map(|(name, shape)| {
                let full = format!("{prefix}{name}");
                let t = crate::engine::find_named("candle", given, &full, shape)?;
                Tensor::from_slice(&t.data, shape.as_slice(), &self.device).map_err(ce)
            })
            .collect()
    }
}

impl Engine for CandleEngine {
    fn name(&self) -> &'static str {
        "candle"
    }

    fn config(&self) -> &GptConfig {
        &self.cfg
    }

    fn forward_backward(
        &mut self,
        inputs: &[u32],
        targets: &[u32],
        batch: usize,
        seq: usize,
    ) -> Result<f32> {
        self.check_batch(inputs, targets, batch, seq)?;
        let (idx, tgt) = (self.tokens(inputs)?, self.tokens(targets)?);
        let params: Vec<Tensor> = self.vars.iter().map(|v| v.as_tensor().clone()).collect();
        let loss = gpt_loss(&params, &self.cfg, &idx, &tgt, batch, seq).map_err(ce)?;
        let mut store = loss.backward().map_err(ce)?;
        let grads = self
            .vars
            .iter()
            .zip(&self.names)
            .map(|(v, name)| {
                store.remove(v.as_tensor()).ok_or_else(|| Error::Engine {
                    engine: "candle",
                    message: format!("no gradient reached `{name}` (an op without backward?)"),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        self.grads = Some(grads);
        loss.to_scalar::<f32>().map_err(ce)
    }

    fn step(&mut self, opt: &AdamW) -> Result<f32> {
        let grads = self.grads.as_ref().ok_or_else(|| Error::Engine {
            engine: "candle",
            message: "step before forward_backward: there are no gradients".into(),
        })?;
        let mut run = || -> candle_core::Result<f32> {
            let mut sq = Tensor::zeros((), DType::F32, &self.device)?;
            for g in grads {
                sq = (sq + g.sqr()?.sum_all()?)?;
            }
            let norm = sq.to_scalar::<f32>()?.sqrt();
            // As torch.nn.utils.clip_grad_norm_: scale by max/(norm + 1e-6) when above max.
            let scale = match opt.clip {
                Some(max) if norm > max => f64::from(max) / (f64::from(norm) + 1e-6),
                _ => 1.0,
            };
            let t = self.adam_t + 1;
            let (b1, b2) = (f64::from(opt.beta1), f64::from(opt.beta2));
            let bc1 = 1.0 - b1.powi(t as i32);
            let bc2 = 1.0 - b2.powi(t as i32);
            let lr = f64::from(opt.lr);
            for (i, grad) in grads.iter().enumerate() {
                let g = grad.affine(scale, 0.0)?;
                let m = (self.adam_m[i].affine(b1, 0.0)? + g.affine(1.0 - b1, 0.0)?)?;
                let v = (self.adam_v[i].affine(b2, 0.0)? + g.sqr()?.affine(1.0 - b2, 0.0)?)?;
                // torch.optim.AdamW: p ← p·(1 − lr·wd); p ← p − lr/bc1 · m / (√v/√bc2 + ε).
                let p = self.vars[i].as_tensor();
                let p = if self.decay[i] {
                    p.affine(1.0 - lr * f64::from(opt.weight_decay), 0.0)?
                } else {
                    p.clone()
                };
                let denom = v.sqrt()?.affine(1.0 / bc2.sqrt(), f64::from(opt.eps))?;
                let p = (p - m.div(&denom)?.affine(lr / bc1, 0.0)?)?;
                self.vars[i].set(&p)?;
                self.adam_m[i] = m;
                self.adam_v[i] = v;
            }
            Ok(norm)
        };
        let norm = run().map_err(ce)?;
        self.adam_t += 1;
        Ok(norm)
    }

    fn eval_loss(
        &mut self,
        inputs: &[u32],
        targets: &[u32],
        batch: usize,
        seq: usize,
    ) -> Result<f32> {
        self.check_batch(inputs, targets, batch, seq)?;
        let (idx, tgt) = (self.tokens(inputs)?, self.tokens(targets)?);
        // Detached weights: no graph is recorded, so nothing is kept for a backward.
        let params: Vec<Tensor> = self.vars.iter().map(|v| v.as_detached_tensor()).collect();
        let loss = gpt_loss(&params, &self.cfg, &idx, &tgt, batch, seq).map_err(ce)?;
        loss.to_scalar::<f32>().map_err(ce)
    }

    fn weights(&self) -> Result<Vec<NamedTensor>> {
        let ts: Vec<Tensor> = self.vars.iter().map(|v| v.as_tensor().clone()).collect();
        self.to_named("", &ts)
    }

    fn gradients(&self) -> Result<Vec<NamedTensor>> {
        match &self.grads {
            Some(g) => self.to_named("", g),
            None => Err(Error::Engine {
                engine: "candle",
                message: "no gradients yet: call forward_backward first".into(),
            }),
        }
    }

    fn set_weights(&mut self, weights: &[NamedTensor]) -> Result<()> {
        let ts = self.upload_named("", weights)?;
        for (var, t) in self.vars.iter().zip(&ts) {
            var.set(t).map_err(ce)?;
        }
        Ok(())
    }

    fn optimizer_state(&self) -> Result<(u64, Vec<NamedTensor>)> {
        let mut out = self.to_named("adam_m.", &self.adam_m)?;
        out.extend(self.to_named("adam_v.", &self.adam_v)?);
        Ok((self.adam_t, out))
    }

    fn set_optimizer_state(&mut self, step: u64, moments: &[NamedTensor]) -> Result<()> {
        let m = self.upload_named("adam_m.", moments)?;
        let v = self.upload_named("adam_v.", moments)?;
        self.adam_m = m;
        self.adam_v = v;
        self.adam_t = step;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> GptConfig {
        GptConfig::new(2, 16, 2, 11, 8).unwrap()
    }

    fn batch(cfg: &GptConfig, b: usize, t: usize, salt: u32) -> (Vec<u32>, Vec<u32>) {
        let v = cfg.vocab as u32;
        let x: Vec<u32> = (0..b * t).map(|i| (i as u32 * 7 + salt) % v).collect();
        let y: Vec<u32> = (0..b * t).map(|i| (i as u32 * 5 + 3 + salt) % v).collect();
        (x, y)
    }

    #[test]
    fn initial_loss_is_near_uniform() {
        // Small weights give near-uniform predictions: loss ≈ ln V = ln 11 ≈ 2.398.
        let cfg = tiny();
        let mut e = CandleEngine::new(cfg, 0, Device::Cpu).unwrap();
        let (x, y) = batch(&cfg, 3, 8, 0);
        let loss = e.eval_loss(&x, &y, 3, 8).unwrap();
        assert!((loss - (11f32).ln()).abs() < 0.05, "{loss}");
    }

    /// Central finite differences on a few coordinates of every tensor agree with autograd.
    #[test]
    fn gradients_match_finite_differences() {
        let cfg = tiny();
        let mut e = CandleEngine::new(cfg, 1, Device::Cpu).unwrap();
        // Larger weights than the init so every path carries signal.
        let mut w = e.weights().unwrap();
        for (k, t) in w.iter_mut().enumerate() {
            for (i, x) in t.data.iter_mut().enumerate() {
                *x += 0.3 * (((i * 31 + k * 17) % 13) as f32 / 13.0 - 0.5);
            }
        }
        e.set_weights(&w).unwrap();
        let (x, y) = batch(&cfg, 2, 5, 1);
        e.forward_backward(&x, &y, 2, 5).unwrap();
        let grads = e.gradients().unwrap();
        let h = 1e-2f32;
        let mut worst = 0f32;
        for (k, g) in grads.iter().enumerate() {
            for i in [0, g.data.len() / 2, g.data.len() - 1] {
                let mut wp = w.clone();
                wp[k].data[i] += h;
                e.set_weights(&wp).unwrap();
                let lp = e.eval_loss(&x, &y, 2, 5).unwrap();
                wp[k].data[i] -= 2.0 * h;
                e.set_weights(&wp).unwrap();
                let lm = e.eval_loss(&x, &y, 2, 5).unwrap();
                let fd = (lp - lm) / (2.0 * h);
                let err = (fd - g.data[i]).abs() / (fd.abs() + g.data[i].abs()).max(1e-2);
                worst = worst.max(err);
                assert!(err < 0.05, "{} [{i}]: autograd {} vs fd {fd}", g.name, g.data[i]);
            }
        }
        assert!(worst < 0.05);
    }

    #[test]
    fn adamw_first_step_matches_closed_form() {
        // After one step from m = v = 0: m̂ = g, v̂ = g², so p ← p(1 − lr·wd) − lr·g/(|g| + ε):
        // every coordinate with a non-negligible gradient moves by lr (plus decay).
        let cfg = tiny();
        let mut e = CandleEngine::new(cfg, 2, Device::Cpu).unwrap();
        let w0 = e.weights().unwrap();
        let (x, y) = batch(&cfg, 2, 8, 2);
        e.forward_backward(&x, &y, 2, 8).unwrap();
        let g = e.gradients().unwrap();
        let opt = AdamW { lr: 1e-3, clip: None, ..AdamW::default() };
        e.step(&opt).unwrap();
        let w1 = e.weights().unwrap();
        for ((a, b), g) in w0.iter().zip(&w1).zip(&g) {
            let wd = if a.shape.len() == 2 { 0.1 } else { 0.0 };
            for i in 0..a.data.len() {
                let gi = g.data[i];
                let want = a.data[i] * (1.0 - 1e-3 * wd) - 1e-3 * gi / (gi.abs() + 1e-8);
                assert!((b.data[i] - want).abs() < 1e-6, "{} [{i}]", a.name);
            }
        }
        let (t, moments) = e.optimizer_state().unwrap();
        assert_eq!(t, 1);
        assert_eq!(moments.len(), 2 * w0.len());
    }

    #[test]
    fn overfits_one_batch() {
        let cfg = tiny();
        let mut e = CandleEngine::new(cfg, 3, Device::Cpu).unwrap();
        let (x, y) = batch(&cfg, 2, 8, 3);
        let opt = AdamW { lr: 1e-2, ..AdamW::default() };
        let first = e.forward_backward(&x, &y, 2, 8).unwrap();
        let mut last = first;
        for _ in 0..150 {
            e.step(&opt).unwrap();
            last = e.forward_backward(&x, &y, 2, 8).unwrap();
        }
        assert!(last < 0.1 * first, "loss {first} → {last}");
    }

    #[test]
    fn bad_batches_are_errors() {
        let cfg = tiny();
        let mut e = CandleEngine::new(cfg, 0, Device::Cpu).unwrap();
        assert!(e.eval_loss(&[0; 9], &[0; 9], 1, 9).is_err()); // seq > context
        assert!(e.eval_loss(&[0; 4], &[0; 3], 1, 4).is_err());
        assert!(e.eval_loss(&[11; 4], &[0; 4], 1, 4).is_err()); // token ≥ vocab
        assert!(e.step(&AdamW::default()).is_err()); // no gradients yet
    }
}

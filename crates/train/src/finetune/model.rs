//! [`FineTuneModel`]: the GPT body, the classification head and the method's extra weights,
//! forward and backward written out op by op on the pretraining kernels.
//!
//! Two flat buffers hold the parameters: `base` (the GPT, laid out as
//! [`crate::kernels::layout::Layout`]) and `extra` (the head, then per layer the LoRA factors or
//! adapters). Each has a gradient buffer; AdamW moments exist only for what trains. Per block:
//! `h = c_proj(attn(ln_1(x)))` (+ LoRA on `c_attn` and `c_proj`), `mid = x + h (+ adapter(h))`,
//! `h2 = mlp(ln_2(mid))` (+ LoRA on the MLP with `lora.mlp`), `out = mid + h2 (+ adapter(h2))`;
//! then the final LayerNorm, pooling and the head ([`super::head`]).

use super::adapter::{self, AdapterWeights};
use super::lora::{self, LoraShape};
use super::{FineTuneConfig, Method, head};
use crate::kernels::adamw::{self, Segment};
use crate::kernels::attention::{self, AttnShape};
use crate::kernels::layout::{Gpt, Layout};
use crate::kernels::matmul::Par;
use crate::kernels::{embedding, gelu, layernorm, linear};
use crate::{AdamW, Error, GptConfig, NamedTensor, Result, init_weights};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::ops::Range;

/// The four projections of a block LoRA can adapt: `c_attn`, `attn.c_proj`, `c_fc`,
/// `mlp.c_proj`.
const TARGETS: [&str; 4] = ["attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj"];

/// One named tensor of the extra buffer.
#[derive(Debug, Clone)]
struct ExtraEntry {
    name: String,
    shape: Vec<usize>,
    range: Range<usize>,
    decay: bool,
}

#[derive(Debug, Clone)]
struct LoraIdx {
    a: Range<usize>,
    b: Range<usize>,
    shape: LoraShape,
}

#[derive(Debug, Clone)]
struct AdapterIdx {
    down_w: Range<usize>,
    down_b: Range<usize>,
    up_w: Range<usize>,
    up_b: Range<usize>,
}

#[derive(Debug, Clone, Default)]
struct LayerExtra {
    lora: [Option<LoraIdx>; 4],
    adapters: Option<[AdapterIdx; 2]>,
}

/// Per-layer saved activations of the largest batch; a batch uses their prefixes.
#[derive(Debug, Default)]
struct LayerActs {
    ln1: Vec<f32>,
    ln1_mean: Vec<f32>,
    ln1_rstd: Vec<f32>,
    qkv: Vec<f32>,
    probs: Vec<f32>,
    att: Vec<f32>,
    h: Vec<f32>,
    ln2: Vec<f32>,
    ln2_mean: Vec<f32>,
    ln2_rstd: Vec<f32>,
    fc_pre: Vec<f32>,
    fc_act: Vec<f32>,
    h2: Vec<f32>,
    /// LoRA's `u = x·Aᵀ` per target.
    u: [Vec<f32>; 4],
    /// Adapters' `pre` and `z`, after attention and after the MLP.
    ad_pre: [Vec<f32>; 2],
    ad_z: [Vec<f32>; 2],
}

#[derive(Debug, Default)]
struct Acts {
    resid: Vec<Vec<f32>>,
    layers: Vec<LayerActs>,
    lnf: Vec<f32>,
    lnf_mean: Vec<f32>,
    lnf_rstd: Vec<f32>,
    pooled: Vec<f32>,
    logits: Vec<f32>,
    d_resid: Vec<f32>,
    d_tmp: Vec<f32>,
    d_branch: Vec<f32>,
    d_qkv: Vec<f32>,
    d_fc: Vec<f32>,
    d_small: Vec<f32>,
    d_pooled: Vec<f32>,
}

/// A GPT with a classification head and a method's extra weights.
pub struct FineTuneModel {
    cfg: GptConfig,
    ft: FineTuneConfig,
    classes: usize,
    layout: Layout,
    base: Vec<f32>,
    base_grad: Vec<f32>,
    base_m: Vec<f32>,
    base_v: Vec<f32>,
    extra_entries: Vec<ExtraEntry>,
    extra: Vec<f32>,
    extra_grad: Vec<f32>,
    extra_m: Vec<f32>,
    extra_v: Vec<f32>,
    head_w: Range<usize>,
    head_b: Range<usize>,
    layers: Vec<LayerExtra>,
    adam_t: u64,
    /// Shared so that a call can install work on it while borrowing the model mutably.
    pool: std::sync::Arc<crate::RunPool>,
    acts: Acts,
    /// (rows, seq) the activations are allocated for.
    capacity: (usize, usize),
}

impl std::fmt::Debug for FineTuneModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FineTuneModel")
            .field("cfg", &self.cfg)
            .field("method", &self.ft.method)
            .field("classes", &self.classes)
            .finish_non_exhaustive()
    }
}

fn err(message: impl Into<String>) -> Error {
    Error::Engine { engine: "finetune", message: message.into() }
}

fn normal(rng: &mut ChaCha8Rng, std: f32) -> f32 {
    let u1 = 1.0 - rng.r#gen::<f64>();
    let u2 = rng.r#gen::<f64>();
    ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32 * std
}

/// A mutable pair of disjoint ranges of one buffer.
fn two_mut(buf: &mut [f32], a: Range<usize>, b: Range<usize>) -> (&mut [f32], &mut [f32]) {
    if a.start < b.start {
        let (x, y) = buf.split_at_mut(b.start);
        (&mut x[a], &mut y[..b.len()])
    } else {
        let (x, y) = buf.split_at_mut(a.start);
        let bb = &mut x[b];
        (&mut y[..a.len()], bb)
    }
}

impl FineTuneModel {
    /// A model for `classes` classes on the pretrained `weights` (ignored by `scratch`, which
    /// draws them from `ft.seed`).
    pub fn new(
        cfg: GptConfig,
        weights: &[NamedTensor],
        classes: usize,
        ft: FineTuneConfig,
    ) -> Result<Self> {
        cfg.validate()?;
        ft.validate()?;
        if classes < 2 {
            return Err(err("a classifier needs at least 2 classes"));
        }
        let pool = std::sync::Arc::new(crate::RunPool::new("isoflop-finetune", ft.threads)?);
        let layout = Layout::new(&cfg);
        let mut base = vec![0.0; layout.len()];
        let given;
        let weights = if ft.method == Method::Scratch {
            given = init_weights(&cfg, ft.seed);
            &given[..]
        } else {
            weights
        };
        for e in layout.entries() {
            let t = crate::engine::find_named("finetune", weights, &e.name, &e.shape)?;
            base[e.range.clone()].copy_from_slice(&t.data);
        }
        // The extra buffer: head, then per layer LoRA factors or adapters.
        let (d, r, m) = (cfg.d_model, ft.lora.rank, ft.adapter_size);
        let mut entries: Vec<ExtraEntry> = Vec::new();
        let mut add = |name: String, shape: Vec<usize>, decay: bool| {
            let start = entries.last().map_or(0, |e| e.range.end);
            let len: usize = shape.iter().product();
            entries.push(ExtraEntry { name, shape, range: start..start + len, decay });
            start..start + len
        };
        let head_w = add("head.weight".into(), vec![classes, d], true);
        let head_b = add("head.bias".into(), vec![classes], false);
        let dims = [(d, 3 * d), (d, d), (d, 4 * d), (4 * d, d)];
        let mut layers = Vec::new();
        for l in 0..cfg.n_layer {
            let mut le = LayerExtra::default();
            if ft.method == Method::Lora {
                for (k, (target, &(d_in, d_out))) in TARGETS.iter().zip(&dims).enumerate() {
                    if k >= 2 && !ft.lora.mlp {
                        continue;
                    }
                    let a = add(format!("h.{l}.{target}.lora_A"), vec![r, d_in], true);
                    let b = add(format!("h.{l}.{target}.lora_B"), vec![d_out, r], true);
                    le.lora[k] = Some(LoraIdx { a, b, shape: LoraShape { d_in, d_out, rank: r } });
                }
            }
            if ft.method == Method::Adapter {
                le.adapters = Some(["attn", "mlp"].map(|at| AdapterIdx {
                    down_w: add(format!("h.{l}.adapter_{at}.down.weight"), vec![m, d], true),
                    down_b: add(format!("h.{l}.adapter_{at}.down.bias"), vec![m], false),
                    up_w: add(format!("h.{l}.adapter_{at}.up.weight"), vec![d, m], true),
                    up_b: add(format!("h.{l}.adapter_{at}.up.bias"), vec![d], false),
                }));
            }
            layers.push(le);
        }
        let n_extra = entries.last().map_or(0, |e| e.range.end);
        let mut extra = vec![0.0f32; n_extra];
        // Seeded init on its own stream, so the head is the same whatever the method.
        let mut rng = ChaCha8Rng::seed_from_u64(ft.seed);
        rng.set_stream(1);
        for v in &mut extra[head_w.clone()] {
            *v = normal(&mut rng, crate::INIT_STD);
        }
        for le in &layers {
            for idx in le.lora.iter().flatten() {
                let bound = 1.0 / (idx.shape.d_in as f32).sqrt();
                for v in &mut extra[idx.a.clone()] {
                    *v = rng.gen_range(-bound..bound);
                }
            }
            for ad in le.adapters.iter().flatten() {
                for v in &mut extra[ad.down_w.clone()] {
                    *v = normal(&mut rng, crate::INIT_STD);
                }
            }
        }
        let base_trains = ft.method.trains_matrices() || ft.method.trains_biases();
        let nb = if base_trains { base.len() } else { 0 };
        Ok(Self {
            cfg,
            classes,
            base_grad: vec![0.0; base.len()],
            base_m: vec![0.0; nb],
            base_v: vec![0.0; nb],
            base,
            layout,
            extra_grad: vec![0.0; n_extra],
            extra_m: vec![0.0; n_extra],
            extra_v: vec![0.0; n_extra],
            extra,
            extra_entries: entries,
            head_w,
            head_b,
            layers,
            adam_t: 0,
            pool,
            acts: Acts::default(),
            capacity: (0, 0),
            ft,
        })
    }

    /// The model's shape.
    pub fn config(&self) -> &GptConfig {
        &self.cfg
    }

    /// The fine-tuning settings.
    pub fn settings(&self) -> &FineTuneConfig {
        &self.ft
    }

    /// Parameters of the whole model: the GPT, the head and the method's extra weights.
    pub fn params(&self) -> u64 {
        (self.base.len() + self.extra.len()) as u64
    }

    /// Parameters the method trains.
    pub fn trainable_params(&self) -> u64 {
        self.trainable_base().iter().map(|(r, _)| r.len() as u64).sum::<u64>()
            + self.extra.len() as u64
    }

    /// The base model's trainable ranges and whether each decays.
    fn trainable_base(&self) -> Vec<(Range<usize>, bool)> {
        let m = self.ft.method;
        self.layout
            .entries()
            .iter()
            .filter(|e| {
                let bias = e.name.ends_with(".bias");
                if bias { m.trains_biases() } else { m.trains_matrices() }
            })
            .map(|e| (e.range.clone(), e.decay))
            .collect()
    }

    fn ensure_capacity(&mut self, rows: usize, seq: usize) {
        if self.capacity.0 >= rows && self.capacity.1 >= seq {
            return;
        }
        let (rows, seq) = (rows.max(self.capacity.0), seq.max(self.capacity.1));
        let cfg = self.cfg;
        let (d, n) = (cfg.d_model, rows * seq);
        let z = |len: usize| vec![0.0f32; len];
        let probs = AttnShape { batch: rows, seq, n_head: cfg.n_head, d }.probs_len();
        let (r, m) = (self.ft.lora.rank, self.ft.adapter_size);
        let lora = self.ft.method == Method::Lora;
        let ad = self.ft.method == Method::Adapter;
        let layers = (0..cfg.n_layer)
            .map(|_| LayerActs {
                ln1: z(n * d),
                ln1_mean: z(n),
                ln1_rstd: z(n),
                qkv: z(n * 3 * d),
                probs: z(probs),
                att: z(n * d),
                h: z(n * d),
                ln2: z(n * d),
                ln2_mean: z(n),
                ln2_rstd: z(n),
                fc_pre: z(n * 4 * d),
                fc_act: z(n * 4 * d),
                h2: z(n * d),
                u: std::array::from_fn(|_| z(if lora { n * r } else { 0 })),
                ad_pre: std::array::from_fn(|_| z(if ad { n * m } else { 0 })),
                ad_z: std::array::from_fn(|_| z(if ad { n * m } else { 0 })),
            })
            .collect();
        self.acts = Acts {
            resid: (0..2 * cfg.n_layer + 1).map(|_| z(n * d)).collect(),
            layers,
            lnf: z(n * d),
            lnf_mean: z(n),
            lnf_rstd: z(n),
            pooled: z(rows * d),
            logits: z(rows * self.classes),
            d_resid: z(n * d),
            d_tmp: z(n * d),
            d_branch: z(n * d),
            d_qkv: z(n * 3 * d),
            d_fc: z(n * 4 * d),
            d_small: z(n * r.max(m)),
            d_pooled: z(rows * d),
        };
        self.capacity = (rows, seq);
    }

    /// Checks a batch: `rows` texts of `lens` tokens, padded to `seq`.
    fn check(&self, tokens: &[u32], lens: &[usize], seq: usize) -> Result<()> {
        if lens.is_empty() || seq == 0 || seq > self.cfg.context {
            return Err(err(format!(
                "a batch needs at least one row and 1..={} tokens per row, got {} rows of {seq}",
                self.cfg.context,
                lens.len()
            )));
        }
        if tokens.len() != lens.len() * seq {
            return Err(err(format!("{} tokens for {} rows of {seq}", tokens.len(), lens.len())));
        }
        if let Some(&l) = lens.iter().find(|&&l| l == 0 || l > seq) {
            return Err(err(format!("a row of {l} real tokens in rows of {seq}")));
        }
        if let Some(&t) = tokens.iter().find(|&&t| t as usize >= self.cfg.vocab) {
            return Err(err(format!("token {t} is outside the vocabulary of {}", self.cfg.vocab)));
        }
        Ok(())
    }

    /// Class logits `[rows, C]` of a batch (no gradients).
    pub fn logits(&mut self, tokens: &[u32], lens: &[usize], seq: usize) -> Result<Vec<f32>> {
        self.check(tokens, lens, seq)?;
        self.ensure_capacity(lens.len(), seq);
        let c = self.classes;
        let pool = self.pool.clone();
        pool.install(|| self.forward(tokens, lens, seq));
        Ok(self.acts.logits[..lens.len() * c].to_vec())
    }

    /// Mean cross-entropy of a batch against `labels`, and with `train` the gradients of
    /// everything that trains (overwritten).
    pub fn loss(
        &mut self,
        tokens: &[u32],
        lens: &[usize],
        seq: usize,
        labels: &[usize],
        train: bool,
    ) -> Result<f32> {
        self.check(tokens, lens, seq)?;
        if labels.len() != lens.len() || labels.iter().any(|&y| y >= self.classes) {
            return Err(err("one label per row, each below the number of classes"));
        }
        self.ensure_capacity(lens.len(), seq);
        let rows = lens.len();
        let c = self.classes;
        let pool = self.pool.clone();
        let loss = pool.install(|| {
            self.forward(tokens, lens, seq);
            let logits = &mut self.acts.logits[..rows * c];
            let loss = head::cross_entropy(logits, labels, c, train);
            if train {
                self.backward(tokens, lens, seq);
            }
            loss
        });
        if !loss.is_finite() {
            return Err(err(format!("loss is {loss}: the fine-tune diverged")));
        }
        Ok(loss)
    }

    fn par(&self) -> Par {
        Par::Threads(self.ft.threads)
    }

    fn lora_scale(&self) -> f32 {
        self.ft.lora.alpha / self.ft.lora.rank as f32
    }

    fn forward(&mut self, tokens: &[u32], lens: &[usize], seq: usize) {
        let cfg = self.cfg;
        let (d, rows, par, s) = (cfg.d_model, lens.len(), self.par(), self.lora_scale());
        let n = rows * seq;
        let nd = n * d;
        let shape = AttnShape { batch: rows, seq, n_head: cfg.n_head, d };
        let p = Gpt::view(&self.base, &cfg);
        let ex = &self.extra;
        let a = &mut self.acts;
        embedding::forward(&mut a.resid[0][..nd], tokens, p.wte, p.wpe, seq, d);
        for (l, (w, la)) in p.blocks.iter().zip(a.layers.iter_mut()).enumerate() {
            let le = &self.layers[l];
            let (before, after) = a.resid.split_at_mut(2 * l + 1);
            let x = &before[2 * l][..nd];
            let (mid, rest) = after.split_first_mut().expect("2L + 1 residual buffers");
            let (mid, out) = (&mut mid[..nd], &mut rest[0][..nd]);
            let (ln1, qkv, att, h) =
                (&mut la.ln1[..nd], &mut la.qkv[..3 * nd], &mut la.att[..nd], &mut la.h[..nd]);
            layernorm::forward(
                ln1,
                &mut la.ln1_mean[..n],
                &mut la.ln1_rstd[..n],
                x,
                w.ln1_w,
                w.ln1_b,
                d,
            );
            linear::forward(qkv, ln1, w.qkv_w, Some(w.qkv_b), d, par);
            if let Some(i) = &le.lora[0] {
                lora::forward(
                    qkv,
                    &mut la.u[0][..n * i.shape.rank],
                    ln1,
                    &ex[i.a.clone()],
                    &ex[i.b.clone()],
                    s,
                    i.shape,
                    par,
                );
            }
            attention::forward(att, &mut la.probs[..shape.probs_len()], qkv, shape);
            linear::forward(h, att, w.attn_proj_w, Some(w.attn_proj_b), d, par);
            if let Some(i) = &le.lora[1] {
                lora::forward(
                    h,
                    &mut la.u[1][..n * i.shape.rank],
                    att,
                    &ex[i.a.clone()],
                    &ex[i.b.clone()],
                    s,
                    i.shape,
                    par,
                );
            }
            add(mid, x, h);
            if let Some(ad) = &le.adapters {
                let m = self.ft.adapter_size;
                let aw = adapter_weights(ex, &ad[0]);
                adapter::forward(
                    mid,
                    &mut la.ad_pre[0][..n * m],
                    &mut la.ad_z[0][..n * m],
                    h,
                    aw,
                    d,
                    par,
                );
            }
            let (ln2, fc_pre, fc_act, h2) = (
                &mut la.ln2[..nd],
                &mut la.fc_pre[..4 * nd],
                &mut la.fc_act[..4 * nd],
                &mut la.h2[..nd],
            );
            layernorm::forward(
                ln2,
                &mut la.ln2_mean[..n],
                &mut la.ln2_rstd[..n],
                mid,
                w.ln2_w,
                w.ln2_b,
                d,
            );
            linear::forward(fc_pre, ln2, w.fc_w, None, d, par);
            if let Some(i) = &le.lora[2] {
                lora::forward(
                    fc_pre,
                    &mut la.u[2][..n * i.shape.rank],
                    ln2,
                    &ex[i.a.clone()],
                    &ex[i.b.clone()],
                    s,
                    i.shape,
                    par,
                );
            }
            gelu::forward(fc_act, fc_pre, w.fc_b);
            linear::forward(h2, fc_act, w.mlp_proj_w, Some(w.mlp_proj_b), 4 * d, par);
            if let Some(i) = &le.lora[3] {
                lora::forward(
                    h2,
                    &mut la.u[3][..n * i.shape.rank],
                    fc_act,
                    &ex[i.a.clone()],
                    &ex[i.b.clone()],
                    s,
                    i.shape,
                    par,
                );
            }
            add(out, mid, h2);
            if let Some(ad) = &le.adapters {
                let m = self.ft.adapter_size;
                let aw = adapter_weights(ex, &ad[1]);
                adapter::forward(
                    out,
                    &mut la.ad_pre[1][..n * m],
                    &mut la.ad_z[1][..n * m],
                    h2,
                    aw,
                    d,
                    par,
                );
            }
        }
        let last = &a.resid[2 * cfg.n_layer][..nd];
        let lnf = &mut a.lnf[..nd];
        layernorm::forward(
            lnf,
            &mut a.lnf_mean[..n],
            &mut a.lnf_rstd[..n],
            last,
            p.lnf_w,
            p.lnf_b,
            d,
        );
        let pooled = &mut a.pooled[..rows * d];
        head::pool(pooled, lnf, lens, seq, d, self.ft.pooling);
        let c = self.classes;
        head::logits(
            &mut a.logits[..rows * c],
            pooled,
            &ex[self.head_w.clone()],
            &ex[self.head_b.clone()],
            d,
        );
    }

    /// Backward from the logits' gradient left in `acts.logits` by the cross-entropy.
    fn backward(&mut self, tokens: &[u32], lens: &[usize], seq: usize) {
        let cfg = self.cfg;
        let (d, rows, par, s) = (cfg.d_model, lens.len(), self.par(), self.lora_scale());
        let (n, c) = (rows * seq, self.classes);
        let nd = n * d;
        let shape = AttnShape { batch: rows, seq, n_head: cfg.n_head, d };
        let matrices = self.ft.method.trains_matrices();
        let biases = self.ft.method.trains_biases();
        let p = Gpt::view(&self.base, &cfg);
        let mut g = Gpt::view_mut(&mut self.base_grad, &cfg);
        let ex = &self.extra;
        let eg = &mut self.extra_grad;
        let a = &mut self.acts;
        // Head, pooling, final LayerNorm: d_resid = ∂loss/∂x_L.
        {
            let (gw, gb) = two_mut(eg, self.head_w.clone(), self.head_b.clone());
            let d_pooled = &mut a.d_pooled[..rows * d];
            head::backward(
                gw,
                gb,
                d_pooled,
                &a.logits[..rows * c],
                &a.pooled[..rows * d],
                &ex[self.head_w.clone()],
                d,
            );
            head::unpool(&mut a.d_tmp[..nd], d_pooled, lens, seq, d, self.ft.pooling);
        }
        let d_resid = &mut a.d_resid[..nd];
        d_resid.fill(0.0);
        let last = &a.resid[2 * cfg.n_layer][..nd];
        layernorm::backward(
            d_resid,
            g.lnf_w,
            g.lnf_b,
            &a.d_tmp[..nd],
            last,
            &a.lnf_mean[..n],
            &a.lnf_rstd[..n],
            p.lnf_w,
            d,
        );
        let (d_tmp, d_branch) = (&mut a.d_tmp[..nd], &mut a.d_branch[..nd]);
        let (d_qkv, d_fc) = (&mut a.d_qkv[..3 * nd], &mut a.d_fc[..4 * nd]);
        for l in (0..cfg.n_layer).rev() {
            let (w, gw, la, le) =
                (&p.blocks[l], &mut g.blocks[l], &mut a.layers[l], &self.layers[l]);
            let (x, mid) = (&a.resid[2 * l][..nd], &a.resid[2 * l + 1][..nd]);
            // MLP branch: out = mid + h2 (+ adapter(h2)); d_branch = ∂loss/∂h2.
            d_branch.copy_from_slice(d_resid);
            if let Some(ad) = &le.adapters {
                let m = self.ft.adapter_size;
                let grads = adapter_grads(eg, &ad[1]);
                let aw = adapter_weights(ex, &ad[1]);
                adapter::backward(
                    d_branch,
                    &mut a.d_small[..n * m],
                    grads,
                    &la.ad_pre[1][..n * m],
                    &la.ad_z[1][..n * m],
                    &la.h2[..nd],
                    aw,
                    d,
                    par,
                );
            }
            let fc_act = &la.fc_act[..4 * nd];
            project_backward(
                d_fc,
                gw.mlp_proj_w,
                Some(&mut gw.mlp_proj_b[..]),
                d_branch,
                fc_act,
                w.mlp_proj_w,
                4 * d,
                matrices,
                biases,
                par,
            );
            if let Some(i) = &le.lora[3] {
                lora_backward(
                    eg,
                    ex,
                    i,
                    d_fc,
                    &mut a.d_small,
                    d_branch,
                    fc_act,
                    &la.u[3],
                    s,
                    n,
                    par,
                );
            }
            gelu::backward(d_fc, gw.fc_b, &la.fc_pre[..4 * nd], w.fc_b);
            let ln2 = &la.ln2[..nd];
            project_backward(d_tmp, gw.fc_w, None, d_fc, ln2, w.fc_w, d, matrices, false, par);
            if let Some(i) = &le.lora[2] {
                lora_backward(eg, ex, i, d_tmp, &mut a.d_small, d_fc, ln2, &la.u[2], s, n, par);
            }
            layernorm::backward(
                d_resid,
                gw.ln2_w,
                gw.ln2_b,
                d_tmp,
                mid,
                &la.ln2_mean[..n],
                &la.ln2_rstd[..n],
                w.ln2_w,
                d,
            );
            // Attention branch: mid = x + h (+ adapter(h)).
            d_branch.copy_from_slice(d_resid);
            if let Some(ad) = &le.adapters {
                let m = self.ft.adapter_size;
                let grads = adapter_grads(eg, &ad[0]);
                let aw = adapter_weights(ex, &ad[0]);
                adapter::backward(
                    d_branch,
                    &mut a.d_small[..n * m],
                    grads,
                    &la.ad_pre[0][..n * m],
                    &la.ad_z[0][..n * m],
                    &la.h[..nd],
                    aw,
                    d,
                    par,
                );
            }
            let att = &la.att[..nd];
            project_backward(
                d_tmp,
                gw.attn_proj_w,
                Some(&mut gw.attn_proj_b[..]),
                d_branch,
                att,
                w.attn_proj_w,
                d,
                matrices,
                biases,
                par,
            );
            if let Some(i) = &le.lora[1] {
                lora_backward(eg, ex, i, d_tmp, &mut a.d_small, d_branch, att, &la.u[1], s, n, par);
            }
            attention::backward(
                d_qkv,
                &mut la.probs[..shape.probs_len()],
                d_tmp,
                &la.qkv[..3 * nd],
                shape,
            );
            let ln1 = &la.ln1[..nd];
            project_backward(
                d_tmp,
                gw.qkv_w,
                Some(&mut gw.qkv_b[..]),
                d_qkv,
                ln1,
                w.qkv_w,
                d,
                matrices,
                biases,
                par,
            );
            if let Some(i) = &le.lora[0] {
                lora_backward(eg, ex, i, d_tmp, &mut a.d_small, d_qkv, ln1, &la.u[0], s, n, par);
            }
            layernorm::backward(
                d_resid,
                gw.ln1_w,
                gw.ln1_b,
                d_tmp,
                x,
                &la.ln1_mean[..n],
                &la.ln1_rstd[..n],
                w.ln1_w,
                d,
            );
        }
        if matrices {
            embedding::backward(g.wte, g.wpe, d_resid, tokens, seq, d);
        }
    }

    /// One AdamW step on everything that trains, after clipping the global gradient norm of
    /// the trainable parameters; returns that norm.
    pub fn step(&mut self, opt: &AdamW) -> f32 {
        let base_ranges = self.trainable_base();
        let Self {
            pool, base, base_grad, base_m, base_v, extra, extra_grad, extra_m, extra_v, ..
        } = self;
        let t = self.adam_t + 1;
        let segments = extra_segments(&self.extra_entries);
        let norm = pool.install(|| {
            let mut sq: f64 = base_ranges
                .iter()
                .map(|(r, _)| (adamw::grad_norm(&base_grad[r.clone()]) as f64).powi(2))
                .sum();
            sq += (adamw::grad_norm(extra_grad) as f64).powi(2);
            let norm = sq.sqrt() as f32;
            let scale = adamw::clip_factor(norm, opt.clip);
            for (r, decay) in &base_ranges {
                let seg = [Segment { offset: 0, len: r.len(), decay: *decay }];
                adamw::step(
                    &mut base[r.clone()],
                    &base_grad[r.clone()],
                    &mut base_m[r.clone()],
                    &mut base_v[r.clone()],
                    &seg,
                    t,
                    opt,
                    scale,
                );
            }
            adamw::step(extra, extra_grad, extra_m, extra_v, &segments, t, opt, scale);
            norm
        });
        self.adam_t = t;
        norm
    }

    /// Every parameter, named: the GPT's (as a pretraining checkpoint's) then the extra
    /// weights (`head.*`, `h.{l}.….lora_A`, `h.{l}.adapter_*`).
    pub fn weights(&self) -> Vec<NamedTensor> {
        let mut out: Vec<NamedTensor> = self
            .layout
            .entries()
            .iter()
            .map(|e| NamedTensor {
                name: e.name.clone(),
                shape: e.shape.clone(),
                data: self.base[e.range.clone()].to_vec(),
            })
            .collect();
        out.extend(self.extra_entries.iter().map(|e| NamedTensor {
            name: e.name.clone(),
            shape: e.shape.clone(),
            data: self.extra[e.range.clone()].to_vec(),
        }));
        out
    }

    /// The gradients of the last [`FineTuneModel::loss`] with `train`, named as the weights.
    pub fn gradients(&self) -> Vec<NamedTensor> {
        let mut out: Vec<NamedTensor> = self
            .layout
            .entries()
            .iter()
            .map(|e| NamedTensor {
                name: e.name.clone(),
                shape: e.shape.clone(),
                data: self.base_grad[e.range.clone()].to_vec(),
            })
            .collect();
        out.extend(self.extra_entries.iter().map(|e| NamedTensor {
            name: e.name.clone(),
            shape: e.shape.clone(),
            data: self.extra_grad[e.range.clone()].to_vec(),
        }));
        out
    }

    /// Sets one parameter by name (tests and checkpoints).
    pub fn set_weight(&mut self, name: &str, data: &[f32]) -> Result<()> {
        let range = self
            .layout
            .get(name)
            .map(|e| (true, e.range.clone()))
            .or_else(|| {
                self.extra_entries.iter().find(|e| e.name == name).map(|e| (false, e.range.clone()))
            })
            .ok_or_else(|| err(format!("no parameter named {name}")))?;
        let buf = if range.0 { &mut self.base } else { &mut self.extra };
        if data.len() != range.1.len() {
            return Err(err(format!("{name} holds {} values, got {}", range.1.len(), data.len())));
        }
        buf[range.1].copy_from_slice(data);
        Ok(())
    }

    /// The trainable state (base and extra parameters) for restoring the best checkpoint.
    pub fn snapshot(&self) -> (Vec<f32>, Vec<f32>) {
        let base = if self.base_m.is_empty() { Vec::new() } else { self.base.clone() };
        (base, self.extra.clone())
    }

    /// Restores a [`FineTuneModel::snapshot`].
    pub fn restore(&mut self, snap: &(Vec<f32>, Vec<f32>)) {
        if !snap.0.is_empty() {
            self.base.copy_from_slice(&snap.0);
        }
        self.extra.copy_from_slice(&snap.1);
    }

    /// The GPT's weights with every LoRA update folded in (`W + (α/r)·B·A`), plus the head:
    /// a plain model that needs no LoRA code (`--merge`).
    pub fn merged_weights(&self) -> Vec<NamedTensor> {
        let mut base = self.base.clone();
        let s = self.lora_scale();
        for (l, le) in self.layers.iter().enumerate() {
            for (k, idx) in le.lora.iter().enumerate() {
                let Some(i) = idx else { continue };
                let name = format!("h.{l}.{}.weight", TARGETS[k]);
                let e = self.layout.get(&name).expect("every target is a layout entry");
                lora::merge(
                    &mut base[e.range.clone()],
                    &self.extra[i.a.clone()],
                    &self.extra[i.b.clone()],
                    s,
                    i.shape,
                );
            }
        }
        let mut out: Vec<NamedTensor> = self
            .layout
            .entries()
            .iter()
            .map(|e| NamedTensor {
                name: e.name.clone(),
                shape: e.shape.clone(),
                data: base[e.range.clone()].to_vec(),
            })
            .collect();
        out.extend(
            self.extra_entries
                .iter()
                .filter(|e| e.name.starts_with("head.") || !e.name.contains("lora_"))
                .map(|e| NamedTensor {
                    name: e.name.clone(),
                    shape: e.shape.clone(),
                    data: self.extra[e.range.clone()].to_vec(),
                }),
        );
        out
    }
}

/// `out = x + h`.
fn add(out: &mut [f32], x: &[f32], h: &[f32]) {
    for ((o, a), b) in out.iter_mut().zip(x).zip(h) {
        *o = a + b;
    }
}

fn adapter_weights<'a>(ex: &'a [f32], i: &AdapterIdx) -> AdapterWeights<'a> {
    AdapterWeights {
        down_w: &ex[i.down_w.clone()],
        down_b: &ex[i.down_b.clone()],
        up_w: &ex[i.up_w.clone()],
        up_b: &ex[i.up_b.clone()],
    }
}

/// The four gradient slices of an adapter (its tensors are laid out in this order).
fn adapter_grads<'a>(eg: &'a mut [f32], i: &AdapterIdx) -> [&'a mut [f32]; 4] {
    let (_, rest) = eg.split_at_mut(i.down_w.start);
    let (dw, rest) = rest.split_at_mut(i.down_w.len());
    let (db, rest) = rest.split_at_mut(i.down_b.len());
    let (uw, rest) = rest.split_at_mut(i.up_w.len());
    let ub = &mut rest[..i.up_b.len()];
    [dw, db, uw, ub]
}

/// Backward of a linear layer `y = x·Wᵀ + b`: `dx = dy·W` always (overwritten), `dW` and `db`
/// only when they train: a frozen weight skips its weight-gradient product.
#[allow(clippy::too_many_arguments)]
fn project_backward(
    dx: &mut [f32],
    dw: &mut [f32],
    db: Option<&mut [f32]>,
    dy: &[f32],
    x: &[f32],
    w: &[f32],
    d_in: usize,
    matrices: bool,
    biases: bool,
    par: Par,
) {
    use crate::kernels::matmul::{MatRef, matmul};
    let d_out = w.len() / d_in;
    let n = x.len() / d_in;
    let dy_m = MatRef::new(dy, n, d_out);
    matmul(dx, d_in, dy_m, MatRef::new(w, d_out, d_in), false, 1.0, par);
    if matrices {
        matmul(dw, d_in, dy_m.t(), MatRef::new(x, n, d_in), false, 1.0, par);
    }
    if let (Some(db), true) = (db, biases) {
        linear::column_sums(db, dy);
    }
}

#[allow(clippy::too_many_arguments)]
fn lora_backward(
    eg: &mut [f32],
    ex: &[f32],
    i: &LoraIdx,
    dx: &mut [f32],
    d_small: &mut [f32],
    dy: &[f32],
    x: &[f32],
    u: &[f32],
    s: f32,
    n: usize,
    par: Par,
) {
    let r = i.shape.rank;
    let (da, db) = two_mut(eg, i.a.clone(), i.b.clone());
    lora::backward(
        da,
        db,
        dx,
        &mut d_small[..n * r],
        dy,
        x,
        &u[..n * r],
        &ex[i.a.clone()],
        &ex[i.b.clone()],
        s,
        i.shape,
        par,
    );
}

/// The optimizer's segments over the extra buffer.
fn extra_segments(entries: &[ExtraEntry]) -> Vec<Segment> {
    let mut out: Vec<Segment> = Vec::new();
    for e in entries {
        match out.last_mut() {
            Some(s) if s.decay == e.decay => s.len += e.range.len(),
            _ => out.push(Segment { offset: e.range.start, len: e.range.len(), decay: e.decay }),
        }
    }
    out
}

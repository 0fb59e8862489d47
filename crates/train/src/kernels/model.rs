//! [`KernelEngine`]: the GPT model's forward and backward passes written out op by op.
//!
//! Reads top down like nanoGPT's `model.py`: embedding → blocks (LayerNorm → attention →
//! projection + residual → LayerNorm → MLP → projection + residual) → final LayerNorm → head
//! with cross-entropy; then the backward pass in the reverse order, then clipping and AdamW.
//! There is no autograd graph: each op saves what its backward needs in [`Activations`],
//! which are allocated once per batch shape and reused by every step.
//!
//! Shapes: B batch rows, T tokens per row, N = B·T, d = `d_model`, V = vocab.

use super::activations::Activations;
use super::adamw::{self, Segment};
use super::layout::{Gpt, Layout};
use super::matmul::{MatRef, Par, matmul};
use super::{attention, cross_entropy, embedding, gelu, layernorm, linear, residual};
use crate::engine::{AdamW, Engine, NamedTensor};
use crate::{Error, GptConfig, Result, init_weights};

/// Batch shapes whose activations are kept at once (training and evaluation).
const CACHED_SHAPES: usize = 2;

/// The fast CPU engine: fused forward/backward kernels over flat buffers.
pub struct KernelEngine {
    cfg: GptConfig,
    layout: Layout,
    segments: Vec<Segment>,
    threads: usize,
    pool: crate::RunPool,
    params: Vec<f32>,
    grads: Vec<f32>,
    adam_m: Vec<f32>,
    adam_v: Vec<f32>,
    adam_t: u64,
    /// Whether `grads` holds the gradients of a batch not yet stepped on.
    has_grads: bool,
    acts: Vec<Activations>,
}

impl std::fmt::Debug for KernelEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KernelEngine")
            .field("cfg", &self.cfg)
            .field("threads", &self.threads)
            .field("params", &self.params.len())
            .field("adam_t", &self.adam_t)
            .finish_non_exhaustive()
    }
}

/// The input of one linear layer of a block, as [`KernelEngine::linear_inputs`] reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinearSite {
    /// `attn.c_attn` (q, k, v), input `ln_1(x)` `[N, d]`.
    Qkv,
    /// `attn.c_proj`, input the attention output `[N, d]`.
    AttnProj,
    /// `mlp.c_fc`, input `ln_2(mid)` `[N, d]`.
    Fc,
    /// `mlp.c_proj`, input the GELU output `[N, 4d]`.
    MlpProj,
}

impl LinearSite {
    /// The four sites of a block, in forward order.
    pub const ALL: [LinearSite; 4] = [Self::Qkv, Self::AttnProj, Self::Fc, Self::MlpProj];

    /// The state-dict name of this site's weight in block `layer`.
    pub fn weight_name(self, layer: usize) -> String {
        let s = match self {
            Self::Qkv => "attn.c_attn",
            Self::AttnProj => "attn.c_proj",
            Self::Fc => "mlp.c_fc",
            Self::MlpProj => "mlp.c_proj",
        };
        format!("h.{layer}.{s}.weight")
    }
}

fn err(message: impl Into<String>) -> Error {
    Error::Engine { engine: "kernels", message: message.into() }
}

impl KernelEngine {
    /// A model of shape `cfg` initialised from `seed` (as every engine:
    /// [`crate::init_weights`]), computing on a pool of `threads` threads (at least 1).
    pub fn new(cfg: GptConfig, seed: u64, threads: usize) -> Result<Self> {
        cfg.validate()?;
        if threads == 0 {
            return Err(err("threads must be at least 1"));
        }
        let pool = crate::RunPool::new("isoflop-kernels", threads)?;
        let layout = Layout::new(&cfg);
        let n = layout.len();
        let mut engine = Self {
            cfg,
            segments: layout.segments(),
            layout,
            threads,
            pool,
            params: vec![0.0; n],
            grads: vec![0.0; n],
            adam_m: vec![0.0; n],
            adam_v: vec![0.0; n],
            adam_t: 0,
            has_grads: false,
            acts: Vec::new(),
        };
        engine.set_weights(&init_weights(&cfg, seed))?;
        Ok(engine)
    }

    /// Threads of the engine's pool.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Runs `f` on the engine's threads (work of the same run done outside the engine, such as
    /// compression's GPTQ, keeps to the run's threads).
    pub fn install<R: Send>(&self, f: impl FnOnce() -> R + Send) -> R {
        self.pool.install(f)
    }

    fn check_batch(&self, inputs: &[u32], targets: &[u32], batch: usize, seq: usize) -> Result<()> {
        crate::engine::check_batch("kernels", &self.cfg, inputs, targets, batch, seq)
    }

    /// Moves the activations of shape (batch, seq) to the back of the cache, allocating them
    /// the first time (and dropping the least recently used shape beyond [`CACHED_SHAPES`]).
    fn prepare(&mut self, batch: usize, seq: usize) {
        match self.acts.iter().position(|a| a.batch == batch && a.seq == seq) {
            Some(i) => {
                let a = self.acts.remove(i);
                self.acts.push(a);
            }
            None => {
                if self.acts.len() >= CACHED_SHAPES {
                    self.acts.remove(0);
                }
                self.acts.push(Activations::new(&self.cfg, batch, seq));
            }
        }
    }

    fn run(
        &mut self,
        inputs: &[u32],
        targets: &[u32],
        batch: usize,
        seq: usize,
        train: bool,
    ) -> Result<f32> {
        self.check_batch(inputs, targets, batch, seq)?;
        self.prepare(batch, seq);
        let cfg = self.cfg;
        let par = Par::Threads(self.threads);
        let acts = self.acts.last_mut().expect("prepared above");
        let (params, grads) = (&self.params, &mut self.grads);
        let loss = self.pool.install(|| {
            let p = Gpt::view(params, &cfg);
            let loss = forward(&cfg, &p, acts, inputs, targets, train, par);
            if train {
                backward(&cfg, &p, &mut Gpt::view_mut(grads, &cfg), acts, inputs, par);
            }
            loss
        });
        if train {
            self.has_grads = true;
        }
        // A non-finite loss is returned as it is: whether the run diverged is the trainer's
        // call (it records `diverged`, with a report), not an engine failure.
        Ok(loss)
    }

    /// Runs the model forward on one batch (no gradients) and shows `visit` the input of every
    /// linear layer of every block, `[batch·seq, d_in]` row-major: the calibration data of
    /// GPTQ and Wanda ([`crate::compress`]).
    pub fn linear_inputs(
        &mut self,
        inputs: &[u32],
        batch: usize,
        seq: usize,
        visit: &mut dyn FnMut(usize, LinearSite, &[f32]),
    ) -> Result<()> {
        self.check_batch(inputs, inputs, batch, seq)?;
        self.prepare(batch, seq);
        let cfg = self.cfg;
        let par = Par::Threads(self.threads);
        let acts = self.acts.last_mut().expect("prepared above");
        let params = &self.params;
        self.pool.install(|| forward_trunk(&cfg, &Gpt::view(params, &cfg), acts, inputs, par));
        for (l, la) in acts.layers.iter().enumerate() {
            visit(l, LinearSite::Qkv, &la.ln1);
            visit(l, LinearSite::AttnProj, &la.att);
            visit(l, LinearSite::Fc, &la.ln2);
            visit(l, LinearSite::MlpProj, &la.fc_act);
        }
        Ok(())
    }

    /// The logits `[batch·seq, vocab]` of one batch (a teacher's, for distillation).
    pub fn logits(&mut self, inputs: &[u32], batch: usize, seq: usize) -> Result<Vec<f32>> {
        self.check_batch(inputs, inputs, batch, seq)?;
        self.prepare(batch, seq);
        let cfg = self.cfg;
        let par = Par::Threads(self.threads);
        let acts = self.acts.last_mut().expect("prepared above");
        let params = &self.params;
        self.pool.install(|| {
            let p = Gpt::view(params, &cfg);
            forward_trunk(&cfg, &p, acts, inputs, par);
            linear::forward(&mut acts.logits, &acts.lnf, p.head, None, cfg.d_model, par);
        });
        Ok(acts.logits.clone())
    }

    /// Forward and backward with the distillation loss of [`crate::compress::distill::loss`]
    /// against `teacher` logits (`[batch·seq, vocab]`) at temperature `tau`, mixing `alpha` of
    /// the next-token loss; gradients are overwritten as by [`Engine::forward_backward`].
    #[allow(clippy::too_many_arguments)]
    pub fn distill_forward_backward(
        &mut self,
        inputs: &[u32],
        targets: &[u32],
        teacher: &[f32],
        batch: usize,
        seq: usize,
        tau: f32,
        alpha: f32,
    ) -> Result<f32> {
        self.check_batch(inputs, targets, batch, seq)?;
        if teacher.len() != batch * seq * self.cfg.vocab {
            return Err(err(format!(
                "{} teacher logits for {batch} × {seq} tokens of vocabulary {}",
                teacher.len(),
                self.cfg.vocab
            )));
        }
        crate::compress::distill::check(tau, alpha)?;
        self.prepare(batch, seq);
        let cfg = self.cfg;
        let par = Par::Threads(self.threads);
        let acts = self.acts.last_mut().expect("prepared above");
        let (params, grads) = (&self.params, &mut self.grads);
        let loss = self.pool.install(|| {
            let p = Gpt::view(params, &cfg);
            forward_trunk(&cfg, &p, acts, inputs, par);
            linear::forward(&mut acts.logits, &acts.lnf, p.head, None, cfg.d_model, par);
            let loss = crate::compress::distill::loss(
                &mut acts.logits,
                teacher,
                targets,
                cfg.vocab,
                tau,
                alpha,
                true,
            );
            backward(&cfg, &p, &mut Gpt::view_mut(grads, &cfg), acts, inputs, par);
            loss as f32
        });
        self.has_grads = true;
        if !loss.is_finite() {
            return Err(err(format!("loss is {loss}: the model diverged")));
        }
        Ok(loss)
    }

    fn named(&self, prefix: &str, buf: &[f32]) -> Vec<NamedTensor> {
        self.layout
            .entries()
            .iter()
            .map(|e| NamedTensor {
                name: format!("{prefix}{}", e.name),
                shape: e.shape.clone(),
                data: buf[e.range.clone()].to_vec(),
            })
            .collect()
    }

    /// Checks that `given` holds every tensor `prefix + name` with the right shape, then copies
    /// them into `buf`; nothing is written unless all are present.
    fn load(layout: &Layout, prefix: &str, given: &[NamedTensor], buf: &mut [f32]) -> Result<()> {
        let mut found = Vec::with_capacity(layout.entries().len());
        for e in layout.entries() {
            let full = format!("{prefix}{}", e.name);
            let t = crate::engine::find_named("kernels", given, &full, &e.shape)?;
            found.push((e.range.clone(), t));
        }
        for (range, t) in found {
            buf[range].copy_from_slice(&t.data);
        }
        Ok(())
    }
}

/// Runs the model forward on one batch and returns the mean loss; with `train`, leaves the
/// logits' gradient in `a.logits` for [`backward`].
fn forward(
    cfg: &GptConfig,
    p: &Gpt<&[f32]>,
    a: &mut Activations,
    inputs: &[u32],
    targets: &[u32],
    train: bool,
    par: Par,
) -> f32 {
    forward_trunk(cfg, p, a, inputs, par);
    cross_entropy::forward(&mut a.logits, &a.lnf, p.head, targets, train, par)
}

/// Runs the model forward up to the final LayerNorm (`a.lnf`), without the head.
fn forward_trunk(cfg: &GptConfig, p: &Gpt<&[f32]>, a: &mut Activations, inputs: &[u32], par: Par) {
    let d = cfg.d_model;
    let shape = a.attn_shape(cfg);
    embedding::forward(&mut a.resid[0], inputs, p.wte, p.wpe, a.seq, d); // x_0: [N, d]
    for (l, (w, la)) in p.blocks.iter().zip(a.layers.iter_mut()).enumerate() {
        let (before, after) = a.resid.split_at_mut(2 * l + 1);
        let x = &before[2 * l]; // [N, d]
        let (mid, rest) = after.split_first_mut().expect("2L + 1 residual buffers");
        let out = &mut rest[0];
        // Attention branch: mid = x + c_proj(attn(ln_1(x)))
        layernorm::forward(&mut la.ln1, &mut la.ln1_mean, &mut la.ln1_rstd, x, w.ln1_w, w.ln1_b, d);
        linear::forward(&mut la.qkv, &la.ln1, w.qkv_w, Some(w.qkv_b), d, par); // [N, 3d]
        attention::forward(&mut la.att, &mut la.probs, &la.qkv, shape); // [N, d]
        residual::forward(mid, x, w.attn_proj_b);
        project_into(mid, &la.att, w.attn_proj_w, d, par);
        // MLP branch: out = mid + c_proj(gelu(c_fc(ln_2(mid))))
        layernorm::forward(
            &mut la.ln2,
            &mut la.ln2_mean,
            &mut la.ln2_rstd,
            mid,
            w.ln2_w,
            w.ln2_b,
            d,
        );
        linear::forward(&mut la.fc_pre, &la.ln2, w.fc_w, None, d, par); // [N, 4d]
        gelu::forward(&mut la.fc_act, &la.fc_pre, w.fc_b);
        residual::forward(out, mid, w.mlp_proj_b);
        project_into(out, &la.fc_act, w.mlp_proj_w, 4 * d, par);
    }
    let last = &a.resid[2 * cfg.n_layer];
    layernorm::forward(&mut a.lnf, &mut a.lnf_mean, &mut a.lnf_rstd, last, p.lnf_w, p.lnf_b, d);
}

/// `out += h·Wᵀ`: a projection added into the residual stream.
fn project_into(out: &mut [f32], h: &[f32], w: &[f32], d_in: usize, par: Par) {
    let d_out = w.len() / d_in;
    let n = h.len() / d_in;
    matmul(out, d_out, MatRef::new(h, n, d_in), MatRef::new(w, d_out, d_in).t(), true, 1.0, par);
}

/// Overwrites every gradient in `g` from the activations of the last [`forward`] with `train`.
fn backward(
    cfg: &GptConfig,
    p: &Gpt<&[f32]>,
    g: &mut Gpt<&mut [f32]>,
    a: &mut Activations,
    inputs: &[u32],
    par: Par,
) {
    let d = cfg.d_model;
    let shape = a.attn_shape(cfg);
    let last = &a.resid[2 * cfg.n_layer];
    // Head and final LayerNorm; d_resid then holds ∂loss/∂x_L.
    cross_entropy::backward(&mut a.d_tmp, g.head, &a.logits, &a.lnf, p.head, d, par);
    a.d_resid.fill(0.0);
    layernorm::backward(
        &mut a.d_resid,
        g.lnf_w,
        g.lnf_b,
        &a.d_tmp,
        last,
        &a.lnf_mean,
        &a.lnf_rstd,
        p.lnf_w,
        d,
    );
    for l in (0..cfg.n_layer).rev() {
        let (w, gw, la) = (&p.blocks[l], &mut g.blocks[l], &mut a.layers[l]);
        let (x, mid) = (&a.resid[2 * l], &a.resid[2 * l + 1]);
        // MLP branch, out = mid + fc_act·W_projᵀ + b_proj.
        residual::backward(gw.mlp_proj_b, &a.d_resid);
        linear::backward(
            Some(&mut a.d_fc),
            false,
            gw.mlp_proj_w,
            None,
            &a.d_resid,
            &la.fc_act,
            w.mlp_proj_w,
            4 * d,
            par,
        );
        gelu::backward(&mut a.d_fc, gw.fc_b, &la.fc_pre, w.fc_b); // [N, 4d]
        linear::backward(
            Some(&mut a.d_tmp),
            false,
            gw.fc_w,
            None,
            &a.d_fc,
            &la.ln2,
            w.fc_w,
            d,
            par,
        );
        layernorm::backward(
            &mut a.d_resid,
            gw.ln2_w,
            gw.ln2_b,
            &a.d_tmp,
            mid,
            &la.ln2_mean,
            &la.ln2_rstd,
            w.ln2_w,
            d,
        ); // d_resid: ∂loss/∂mid
        // Attention branch, mid = x + att·W_projᵀ + b_proj.
        residual::backward(gw.attn_proj_b, &a.d_resid);
        linear::backward(
            Some(&mut a.d_tmp),
            false,
            gw.attn_proj_w,
            None,
            &a.d_resid,
            &la.att,
            w.attn_proj_w,
            d,
            par,
        );
        attention::backward(&mut a.d_qkv, &mut la.probs, &a.d_tmp, &la.qkv, shape); // [N, 3d]
        linear::backward(
            Some(&mut a.d_tmp),
            false,
            gw.qkv_w,
            Some(gw.qkv_b),
            &a.d_qkv,
            &la.ln1,
            w.qkv_w,
            d,
            par,
        );
        layernorm::backward(
            &mut a.d_resid,
            gw.ln1_w,
            gw.ln1_b,
            &a.d_tmp,
            x,
            &la.ln1_mean,
            &la.ln1_rstd,
            w.ln1_w,
            d,
        ); // d_resid: ∂loss/∂x_l
    }
    embedding::backward(g.wte, g.wpe, &a.d_resid, inputs, a.seq, d);
}

impl Engine for KernelEngine {
    fn name(&self) -> &'static str {
        "kernels"
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
        self.run(inputs, targets, batch, seq, true)
    }

    fn step(&mut self, opt: &AdamW) -> Result<f32> {
        if !self.has_grads {
            return Err(err("step before forward_backward: there are no gradients"));
        }
        let Self { pool, params, grads, adam_m, adam_v, segments, .. } = self;
        let t = self.adam_t + 1;
        let norm = pool.install(|| {
            let norm = adamw::grad_norm(grads);
            let scale = adamw::clip_factor(norm, opt.clip);
            adamw::step(params, grads, adam_m, adam_v, segments, t, opt, scale);
            norm
        });
        self.adam_t = t;
        self.has_grads = false;
        Ok(norm)
    }

    fn eval_loss(
        &mut self,
        inputs: &[u32],
        targets: &[u32],
        batch: usize,
        seq: usize,
    ) -> Result<f32> {
        self.run(inputs, targets, batch, seq, false)
    }

    fn weights(&self) -> Result<Vec<NamedTensor>> {
        Ok(self.named("", &self.params))
    }

    fn gradients(&self) -> Result<Vec<NamedTensor>> {
        Ok(self.named("", &self.grads))
    }

    fn set_weights(&mut self, weights: &[NamedTensor]) -> Result<()> {
        Self::load(&self.layout, "", weights, &mut self.params)
    }

    fn optimizer_state(&self) -> Result<(u64, Vec<NamedTensor>)> {
        let mut out = self.named("adam_m.", &self.adam_m);
        out.extend(self.named("adam_v.", &self.adam_v));
        Ok((self.adam_t, out))
    }

    fn set_optimizer_state(&mut self, step: u64, moments: &[NamedTensor]) -> Result<()> {
        let mut m = vec![0.0; self.layout.len()];
        let mut v = vec![0.0; self.layout.len()];
        Self::load(&self.layout, "adam_m.", moments, &mut m)?;
        Self::load(&self.layout, "adam_v.", moments, &mut v)?;
        (self.adam_m, self.adam_v, self.adam_t) = (m, v, step);
        Ok(())
    }
}

//! Where each parameter tensor lives in the engine's flat buffers.
//!
//! Parameters, gradients and the two AdamW moments are four `Vec<f32>` of the same length,
//! each holding every tensor of [`GptConfig::param_shapes`] back to back in that order
//! (PyTorch `state_dict` names, Linear weights `[out, in]`). One flat buffer makes the
//! optimizer a single pass and the gradient norm a single reduction; [`Gpt`] views cut it back
//! into named tensors without copying.

use super::adamw::Segment;
use crate::GptConfig;
use std::ops::Range;

/// One tensor's place in the flat buffers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// State-dict name, e.g. `h.0.attn.c_attn.weight`.
    pub name: String,
    /// Dimensions.
    pub shape: Vec<usize>,
    /// Index range in the flat buffers.
    pub range: Range<usize>,
    /// Whether AdamW's weight decay applies: matrices (embeddings, linear weights), as nanoGPT;
    /// never biases or LayerNorm parameters.
    pub decay: bool,
}

/// The layout of all parameters of one config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    entries: Vec<Entry>,
    len: usize,
}

impl Layout {
    /// The layout of `cfg`'s parameters.
    pub fn new(cfg: &GptConfig) -> Self {
        let mut offset = 0;
        let entries = cfg
            .param_shapes()
            .into_iter()
            .map(|(name, shape)| {
                let len: usize = shape.iter().product();
                let decay = shape.len() >= 2;
                let e = Entry { name, shape, range: offset..offset + len, decay };
                offset += len;
                e
            })
            .collect();
        Self { entries, len: offset }
    }

    /// Every tensor, in state-dict order.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// Total number of parameters.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are no parameters (never, for a valid config).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The optimizer's segments: runs of tensors with the same weight-decay setting.
    pub fn segments(&self) -> Vec<Segment> {
        let mut out: Vec<Segment> = Vec::new();
        for e in &self.entries {
            match out.last_mut() {
                Some(s) if s.decay == e.decay => s.len += e.range.len(),
                _ => {
                    out.push(Segment { offset: e.range.start, len: e.range.len(), decay: e.decay })
                }
            }
        }
        out
    }

    /// The entry named `name`.
    pub fn get(&self, name: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.name == name)
    }
}

/// One transformer block's tensors (`h.{i}.*`), each a slice of a flat buffer.
#[derive(Debug)]
pub struct Block<S> {
    /// `ln_1.weight`, `[d]`.
    pub ln1_w: S,
    /// `ln_1.bias`, `[d]`.
    pub ln1_b: S,
    /// `attn.c_attn.weight`, `[3d, d]`.
    pub qkv_w: S,
    /// `attn.c_attn.bias`, `[3d]`.
    pub qkv_b: S,
    /// `attn.c_proj.weight`, `[d, d]`.
    pub attn_proj_w: S,
    /// `attn.c_proj.bias`, `[d]`.
    pub attn_proj_b: S,
    /// `ln_2.weight`, `[d]`.
    pub ln2_w: S,
    /// `ln_2.bias`, `[d]`.
    pub ln2_b: S,
    /// `mlp.c_fc.weight`, `[4d, d]`.
    pub fc_w: S,
    /// `mlp.c_fc.bias`, `[4d]`.
    pub fc_b: S,
    /// `mlp.c_proj.weight`, `[d, 4d]`.
    pub mlp_proj_w: S,
    /// `mlp.c_proj.bias`, `[d]`.
    pub mlp_proj_b: S,
}

/// The whole model's tensors, each a slice of a flat buffer.
#[derive(Debug)]
pub struct Gpt<S> {
    /// `wte.weight`, `[vocab, d]`.
    pub wte: S,
    /// `wpe.weight`, `[context, d]`.
    pub wpe: S,
    /// The blocks `h.0 ..`.
    pub blocks: Vec<Block<S>>,
    /// `ln_f.weight`, `[d]`.
    pub lnf_w: S,
    /// `ln_f.bias`, `[d]`.
    pub lnf_b: S,
    /// `lm_head.weight`, `[vocab, d]`.
    pub head: S,
}

/// Splits off the next `n` values of a buffer.
trait Take: Sized {
    fn take(&mut self, n: usize) -> Self;
}

impl Take for &[f32] {
    fn take(&mut self, n: usize) -> Self {
        let (a, b) = self.split_at(n);
        *self = b;
        a
    }
}

impl Take for &mut [f32] {
    fn take(&mut self, n: usize) -> Self {
        let (a, b) = std::mem::take(self).split_at_mut(n);
        *self = b;
        a
    }
}

fn cut<S: Take>(mut buf: S, cfg: &GptConfig) -> Gpt<S> {
    let (d, v, t) = (cfg.d_model, cfg.vocab, cfg.context);
    let wte = buf.take(v * d);
    let wpe = buf.take(t * d);
    let blocks = (0..cfg.n_layer)
        .map(|_| Block {
            ln1_w: buf.take(d),
            ln1_b: buf.take(d),
            qkv_w: buf.take(3 * d * d),
            qkv_b: buf.take(3 * d),
            attn_proj_w: buf.take(d * d),
            attn_proj_b: buf.take(d),
            ln2_w: buf.take(d),
            ln2_b: buf.take(d),
            fc_w: buf.take(4 * d * d),
            fc_b: buf.take(4 * d),
            mlp_proj_w: buf.take(4 * d * d),
            mlp_proj_b: buf.take(d),
        })
        .collect();
    Gpt { wte, wpe, blocks, lnf_w: buf.take(d), lnf_b: buf.take(d), head: buf.take(v * d) }
}

impl<'a> Gpt<&'a [f32]> {
    /// Named views of a flat buffer laid out as [`Layout::new`]`(cfg)`.
    ///
    /// # Panics
    /// If the buffer is shorter than the layout.
    pub fn view(buf: &'a [f32], cfg: &GptConfig) -> Self {
        cut(buf, cfg)
    }
}

impl<'a> Gpt<&'a mut [f32]> {
    /// Named mutable views of a flat buffer laid out as [`Layout::new`]`(cfg)`.
    ///
    /// # Panics
    /// If the buffer is shorter than the layout.
    pub fn view_mut(buf: &'a mut [f32], cfg: &GptConfig) -> Self {
        cut(buf, cfg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn views_follow_param_shapes() {
        let cfg = GptConfig::new(2, 8, 2, 11, 5).unwrap();
        let layout = Layout::new(&cfg);
        let buf: Vec<f32> = (0..layout.len()).map(|i| i as f32).collect();
        let g = Gpt::view(&buf, &cfg);
        let e = layout.get("h.1.mlp.c_fc.bias").unwrap();
        assert_eq!(g.blocks[1].fc_b[0], e.range.start as f32);
        assert_eq!(g.head.len(), 11 * 8);
        assert_eq!(*g.head.last().unwrap(), (layout.len() - 1) as f32);
        assert!(layout.get("wpe.weight").unwrap().decay);
        assert!(!layout.get("h.0.ln_1.weight").unwrap().decay);
        let total: usize = layout.segments().iter().map(|s| s.len).sum();
        assert_eq!(total, layout.len());
    }
}

//! The flags of `isoflop estimate`, and the [`EstimateSpec`] they stand for. Defaults and
//! bounds live in the spec (isoflop-cost), so that the CLI and the library agree.

use isoflop_cost::{
    self as cost, EstimateSpec, FlopConvention, ModelSource, Precision, Recompute, ShapeSpec,
    TrainRecipe,
};
use std::path::PathBuf;

/// Arguments of `isoflop estimate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Model: a preset (gpt2, gpt2-medium, gpt2-large, gpt2-xl, gpt3-175b, llama2-7b,
    /// llama2-13b, llama2-70b, chinchilla-70b, train-s, train-m, train-rung-<k>), a shape
    /// .toml, or a Hugging Face config.json. Not needed with --ladder.
    #[arg(long, short = 'm')]
    pub model: Option<String>,
    /// Architecture family, overriding the model's: gpt2 or llama.
    #[arg(long, value_parser = parse_family)]
    pub family: Option<cost::Family>,
    /// Transformer blocks, overriding the model's.
    #[arg(long)]
    pub n_layer: Option<u64>,
    /// Residual width, overriding the model's.
    #[arg(long)]
    pub d_model: Option<u64>,
    /// Query heads, overriding the model's.
    #[arg(long)]
    pub n_head: Option<u64>,
    /// Key/value heads (grouped-query attention), overriding the model's.
    #[arg(long)]
    pub n_kv_heads: Option<u64>,
    /// Width of one head (default d_model / n_head, which must then divide).
    #[arg(long)]
    pub head_dim: Option<u64>,
    /// MLP hidden width (default 4·d for gpt2, Llama's rounded 8d/3 for llama).
    #[arg(long)]
    pub d_ff: Option<u64>,
    /// Vocabulary size, overriding the model's.
    #[arg(long)]
    pub vocab: Option<u64>,
    /// Context length, overriding the model's.
    #[arg(long)]
    pub context: Option<u64>,
    /// Whether the output head shares the token embedding (true/false).
    #[arg(long)]
    pub tied_embeddings: Option<bool>,

    /// GPU: a100-40gb, a100-80gb, h100-sxm, h100-pcie, h200, l4, rtx4090, mi300x, `cpu`
    /// (measured here by a short matmul probe), or a hardware .toml.
    #[arg(long, visible_alias = "hardware", default_value = "h100-sxm")]
    pub gpu: String,
    /// GPUs in all (default: --nodes × GPUs per node, else tp · pp · dp when --dp is given,
    /// else one node).
    #[arg(long, conflicts_with = "nodes")]
    pub gpus: Option<u64>,
    /// Nodes; GPUs = nodes × --gpus-per-node.
    #[arg(long)]
    pub nodes: Option<u64>,
    /// GPUs per node (default: the hardware's, 8 for the datacenter presets).
    #[arg(long)]
    pub gpus_per_node: Option<u64>,
    /// Model-FLOPs utilisation for the time estimate (default: the hardware preset's assumption).
    #[arg(long)]
    pub mfu: Option<f64>,
    /// A measured training throughput, tokens/s over all GPUs: reports its MFU and times with it.
    #[arg(long)]
    pub tokens_per_second: Option<f64>,

    /// Training tokens, e.g. 2e12 (default: 20 per parameter, Hoffmann et al. 2022).
    #[arg(long)]
    pub tokens: Option<f64>,
    /// FLOP convention: palm (6N + 12·L·H·Q·s), chinchilla (Hoffmann et al. appendix F), six-n.
    #[arg(long, default_value = "palm")]
    pub convention: FlopConvention,
    /// Training precision recipe: fp32, bf16-adam (mixed, fp32 master, 16 B/param), adam8bit.
    #[arg(long, default_value = "bf16-adam")]
    pub recipe: TrainRecipe,

    /// Tensor-parallel size (within a node; must divide the heads).
    #[arg(long, default_value_t = 1)]
    pub tp: u64,
    /// Pipeline-parallel size (must divide n_layer).
    #[arg(long, default_value_t = 1)]
    pub pp: u64,
    /// Data-parallel size (default: GPUs / (tp · pp)).
    #[arg(long)]
    pub dp: Option<u64>,
    /// ZeRO stage over the data-parallel group: 0, 1 (optimizer), 2 (+ gradients), 3 (+ weights).
    #[arg(long, default_value_t = 0)]
    pub zero: u8,
    /// Activation recomputation: none, selective (attention scores), full.
    #[arg(long, default_value = "none")]
    pub recompute: Recompute,
    /// Sequences per micro-batch.
    #[arg(long, default_value_t = 1)]
    pub micro_batch: u64,
    /// Sequence length in training (default: the model's context).
    #[arg(long)]
    pub seq: Option<u64>,
    /// Sequences per optimizer step (default: about 4M tokens, Llama 2's batch, rounded to a
    /// multiple of dp · micro-batch).
    #[arg(long)]
    pub global_batch: Option<u64>,
    /// Model chunks per pipeline stage (interleaved 1F1B schedule).
    #[arg(long, default_value_t = 1)]
    pub interleave: u64,
    /// Turn off sequence parallelism (on by default when tp > 1).
    #[arg(long)]
    pub no_sequence_parallel: bool,
    /// Count the attention scores' activations (no flash attention).
    #[arg(long)]
    pub no_flash_attention: bool,

    /// Search every tensor/pipeline/data-parallel, ZeRO, recomputation and micro-batch layout
    /// of the cluster; print the fastest that fit.
    #[arg(long)]
    pub search: bool,
    /// Layouts to print with --search.
    #[arg(long, default_value_t = 10)]
    pub top: usize,

    /// Print the size ladder (training and serving cost by model size) instead.
    #[arg(long)]
    pub ladder: bool,
    /// Ladder sizes in parameters, comma-separated (default 1e8,3e8,1e9,3e9,7e9,13e9,70e9).
    #[arg(long, value_delimiter = ',')]
    pub sizes: Vec<f64>,
    /// A fit from `isoflop fit -o fit.json`: ladder tokens are the compute-optimal D for each N.
    #[arg(long)]
    pub fit: Option<PathBuf>,

    /// Inference weight format: fp32, bf16, fp16, fp8, int8, int4.
    #[arg(long, default_value = "bf16")]
    pub infer_precision: Precision,
    /// KV cache format.
    #[arg(long, default_value = "bf16")]
    pub kv_precision: Precision,
    /// Weights per quantization scale for int8/int4.
    #[arg(long, default_value_t = cost::DEFAULT_GROUP_SIZE)]
    pub group_size: u64,
    /// Concurrent sequences when serving.
    #[arg(long, default_value_t = 1)]
    pub batch: u64,
    /// Prompt tokens per sequence (default: half the context).
    #[arg(long)]
    pub prompt: Option<u64>,
    /// Generated tokens per sequence (default: half the context).
    #[arg(long)]
    pub generate: Option<u64>,
    /// GPUs to serve on (default: the fewest, a power of two, that hold weights and cache).
    #[arg(long)]
    pub infer_gpus: Option<u64>,
}

fn parse_family(s: &str) -> std::result::Result<cost::Family, String> {
    match s.to_ascii_lowercase().as_str() {
        "gpt2" => Ok(cost::Family::Gpt2),
        "llama" => Ok(cost::Family::Llama),
        _ => Err(format!("unknown family `{s}`; expected gpt2 or llama")),
    }
}

impl Args {
    /// The spec these flags describe (`--fit` is not part of it: see `ladder::FitTokens`).
    pub fn spec(&self) -> EstimateSpec {
        EstimateSpec {
            model: self.model.clone().map(ModelSource::Name),
            shape: ShapeSpec {
                family: self.family,
                n_layer: self.n_layer,
                d_model: self.d_model,
                n_head: self.n_head,
                n_kv_heads: self.n_kv_heads,
                head_dim: self.head_dim,
                d_ff: self.d_ff,
                vocab: self.vocab,
                context: self.context,
                tied_embeddings: self.tied_embeddings,
            },
            gpu: self.gpu.clone(),
            gpus: self.gpus,
            nodes: self.nodes,
            gpus_per_node: self.gpus_per_node,
            mfu: self.mfu,
            tokens_per_second: self.tokens_per_second,
            tokens: self.tokens,
            convention: self.convention,
            recipe: self.recipe,
            tp: self.tp,
            pp: self.pp,
            dp: self.dp,
            zero: self.zero,
            recompute: self.recompute,
            micro_batch: self.micro_batch,
            seq: self.seq,
            global_batch: self.global_batch,
            interleave: self.interleave,
            sequence_parallel: !self.no_sequence_parallel,
            flash_attention: !self.no_flash_attention,
            search: self.search,
            top: self.top,
            ladder: self.ladder,
            sizes: self.sizes.clone(),
            infer_precision: self.infer_precision,
            kv_precision: self.kv_precision,
            group_size: self.group_size,
            batch: self.batch,
            prompt: self.prompt,
            generate: self.generate,
            infer_gpus: self.infer_gpus,
        }
    }
}

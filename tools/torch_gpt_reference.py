#!/usr/bin/env python3
"""isoflop's GPT written in PyTorch: the reference for the trainer's speed and its gradients.

The model is the one `isoflop train` trains (crates/train/src/config.rs, kernels/model.rs):
GPT-2 style (Radford et al. 2019), pre-LayerNorm blocks (eps 1e-5), learned position
embeddings, causal multi-head attention, an MLP of width 4·d with tanh-GELU, biases on every
linear layer and LayerNorm, a final LayerNorm and an untied output head without bias. The
parameter names are the ones `GptConfig::param_shapes` uses, so a state_dict loads straight
into the Rust engines.

Two commands:

  bench   time training steps of shape S or M on random bytes, as `isoflop bench train` does
          (batch 32 x 128 tokens, AdamW, median of the timed steps), and print tokens/s:
            python tools/torch_gpt_reference.py bench --shape S --threads 2
            isoflop bench train --shape S --threads 2
          Compare the two as a ratio taken in the same minutes; a shared machine drifts.
  export  write a gradient fixture: initial weights, one batch, PyTorch's loss, every
          gradient, and the weights after one AdamW step (lr 3e-4, betas (0.9, 0.999),
          weight decay 0.1, no clipping):
            python tools/torch_gpt_reference.py export /tmp/fx
            ISOFLOP_TORCH_FIXTURE=/tmp/fx cargo test -p isoflop-train --test kernels_torch -- --ignored

Needs `pip install torch safetensors` (a large download; keep the environment outside the
repository or in an ignored directory). See docs/cpu-training.md for what was measured with it.
"""

import argparse
import json
import math
import statistics
import sys
import time
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

VOCAB = 256  # the byte-level tokenizer
CONTEXT = 128


@dataclass(frozen=True)
class Shape:
    n_layer: int
    d_model: int
    n_head: int


# The trainer's reference shapes (crates/cli/src/cmd/bench.rs `reference_shape`; isoflop-cost
# presets `train-s` and `train-m`): 875,264 and 4,902,912 parameters.
SHAPES = {"S": Shape(4, 128, 4), "M": Shape(6, 256, 8)}


class CausalSelfAttention(nn.Module):
    """Multi-head attention over earlier positions; `sdpa` picks PyTorch's fused kernel."""

    def __init__(self, d_model, n_head, sdpa):
        super().__init__()
        self.n_head = n_head
        self.sdpa = sdpa
        self.c_attn = nn.Linear(d_model, 3 * d_model)
        self.c_proj = nn.Linear(d_model, d_model)

    def forward(self, x):
        batch, t, d = x.shape
        heads = self.c_attn(x).view(batch, t, 3, self.n_head, d // self.n_head)
        q, k, v = (heads[:, :, i].transpose(1, 2) for i in range(3))
        if self.sdpa:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            # Written out, as the Rust engines compute it: scores, causal mask, softmax, P·V.
            scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
            future = torch.ones(t, t, dtype=torch.bool, device=x.device).triu(1)
            y = scores.masked_fill(future, float("-inf")).softmax(dim=-1) @ v
        return self.c_proj(y.transpose(1, 2).reshape(batch, t, d))


class Mlp(nn.Module):
    def __init__(self, d_model):
        super().__init__()
        self.c_fc = nn.Linear(d_model, 4 * d_model)
        self.c_proj = nn.Linear(4 * d_model, d_model)

    def forward(self, x):
        return self.c_proj(F.gelu(self.c_fc(x), approximate="tanh"))


class Block(nn.Module):
    def __init__(self, d_model, n_head, sdpa):
        super().__init__()
        self.ln_1 = nn.LayerNorm(d_model, eps=1e-5)
        self.attn = CausalSelfAttention(d_model, n_head, sdpa)
        self.ln_2 = nn.LayerNorm(d_model, eps=1e-5)
        self.mlp = Mlp(d_model)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class Gpt(nn.Module):
    def __init__(self, shape, sdpa=False):
        super().__init__()
        d = shape.d_model
        self.wte = nn.Embedding(VOCAB, d)
        self.wpe = nn.Embedding(CONTEXT, d)
        self.h = nn.ModuleList(Block(d, shape.n_head, sdpa) for _ in range(shape.n_layer))
        self.ln_f = nn.LayerNorm(d, eps=1e-5)
        self.lm_head = nn.Linear(d, VOCAB, bias=False)

    def loss(self, inputs, targets):
        """Mean next-token cross-entropy over the batch."""
        positions = torch.arange(inputs.shape[1], device=inputs.device)
        x = self.wte(inputs) + self.wpe(positions)
        for block in self.h:
            x = block(x)
        logits = self.lm_head(self.ln_f(x))
        return F.cross_entropy(logits.flatten(0, 1), targets.flatten())


def flops_per_token(shape, seq):
    """PaLM's count (Chowdhery et al. 2022, appendix B), as isoflop-cost's `palm` convention:
    6·N + 12·L·T·d, N the parameters outside the token and position tables."""
    d, layers = shape.d_model, shape.n_layer
    per_layer = 12 * d * d + 13 * d  # attention and MLP weights and biases, two LayerNorms
    n = layers * per_layer + 2 * d + VOCAB * d  # final LayerNorm and the untied head
    return 6 * n + 12 * layers * seq * d


def random_batch(batch, seq, generator=None):
    """Inputs and next-byte targets from one random row of seq + 1 bytes per sequence."""
    rows = torch.randint(0, VOCAB, (batch, seq + 1), generator=generator)
    return rows[:, :-1].contiguous(), rows[:, 1:].contiguous()


def adamw(model, beta2):
    # lr 3e-4, eps 1e-8, weight decay 0.1 as isoflop's AdamW (crates/train/src/engine.rs).
    # PyTorch decays every tensor, isoflop only the matrices.
    return torch.optim.AdamW(model.parameters(), lr=3e-4, betas=(0.9, beta2), eps=1e-8, weight_decay=0.1)


def bench(args):
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    shape = SHAPES[args.shape]
    seq = args.seq or CONTEXT
    model = Gpt(shape, sdpa=args.attention == "sdpa")
    loss_fn = torch.compile(model.loss) if args.compile else model.loss
    # isoflop's beta2 (0.95). isoflop also clips the gradient norm at 1.0, one more pass over
    # the gradients: `--clip 1.0` does the same; the figures in docs/engine.md were taken
    # without it.
    opt = adamw(model, beta2=0.95)
    times, losses = [], []
    for step in range(args.warmup + args.steps):
        inputs, targets = random_batch(args.batch, seq)
        start = time.perf_counter()
        loss = loss_fn(inputs, targets)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if args.clip is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip)
        opt.step()
        losses.append(loss.item())  # waits for the step, so the time is the step's
        if step >= args.warmup:
            times.append(time.perf_counter() - start)
    median = statistics.median(times)
    tokens_per_s = args.batch * seq / median
    report = {
        "engine": "torch" + ("+compile" if args.compile else ""),
        "attention": args.attention,
        "torch": torch.__version__,
        "shape": args.shape,
        "params": sum(p.numel() for p in model.parameters()),
        "batch": args.batch,
        "seq": seq,
        "threads": torch.get_num_threads(),
        "steps": args.steps,
        "warmup": args.warmup,
        "clip": args.clip,
        "median_step_s": median,
        "tokens_per_s": tokens_per_s,
        "flops_per_token": flops_per_token(shape, seq),
        "gflops_per_s": tokens_per_s * flops_per_token(shape, seq) / 1e9,
        "loss_first": losses[0],
        "loss_last": losses[-1],
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(
            f"{report['engine']} {torch.__version__}, shape {args.shape} ({report['params']:,} parameters), "
            f"batch {args.batch} x {seq}, {report['threads']} threads, {args.attention} attention: "
            f"{tokens_per_s:,.0f} tokens/s ({report['gflops_per_s']:.1f} GFLOP/s), median step "
            f"{median * 1e3:.1f} ms over {args.steps}; loss {losses[0]:.4f} -> {losses[-1]:.4f}"
        )


def export(args):
    from safetensors.torch import save_file

    torch.manual_seed(args.seed)
    shape = SHAPES[args.shape]
    model = Gpt(shape)
    weights = {name: t.detach().contiguous() for name, t in model.state_dict().items()}
    save_file(weights, f"{args.dir}/init.safetensors")
    inputs, targets = random_batch(args.batch, CONTEXT, torch.Generator().manual_seed(args.seed + 1))
    save_file({"idx": inputs, "tgt": targets}, f"{args.dir}/batch.safetensors")
    # The Rust test reads the batch as little-endian int64 [2, batch, context]: inputs, targets.
    torch.stack([inputs, targets]).numpy().astype("<i8").tofile(f"{args.dir}/batch.bin")
    # PyTorch's default beta2 (0.999) and no clipping: what crates/train/tests/kernels_torch.rs
    # sets its own optimizer to.
    opt = adamw(model, beta2=0.999)
    loss = model.loss(inputs, targets)
    loss.backward()
    reference = {"loss": loss.detach().reshape(())}
    reference.update({f"grad.{n}": p.grad.detach().clone() for n, p in model.named_parameters()})
    opt.step()
    reference.update({f"step1.{n}": p.detach().clone() for n, p in model.named_parameters()})
    save_file(reference, f"{args.dir}/ref.safetensors")
    params = sum(p.numel() for p in model.parameters())
    print(f"wrote {args.dir}: shape {args.shape}, {params:,} parameters, loss {loss.item():.6f}, torch {torch.__version__}")


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("bench", help="time training steps (tokens/s)")
    b.add_argument("--shape", choices=sorted(SHAPES), default="S")
    b.add_argument("--threads", type=int, default=2)
    b.add_argument("--steps", type=int, default=20, help="timed steps; the median is reported")
    b.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    b.add_argument("--batch", type=int, default=32)
    b.add_argument("--seq", type=int, default=None, help=f"tokens per sequence (default {CONTEXT})")
    b.add_argument("--attention", choices=["math", "sdpa"], default="math",
                   help="math: scores, mask and softmax written out (the figures in docs/); sdpa: PyTorch's fused kernel")
    b.add_argument("--compile", action="store_true", help="torch.compile the loss")
    b.add_argument("--clip", type=float, default=None, help="clip the gradient norm (isoflop clips at 1.0)")
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--json", action="store_true")
    e = sub.add_parser("export", help="write a gradient fixture for the Rust tests")
    e.add_argument("dir")
    e.add_argument("--shape", choices=sorted(SHAPES), default="S")
    e.add_argument("--batch", type=int, default=32)
    e.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.command == "bench":
        if min(args.threads, args.steps, args.batch) < 1 or args.warmup < 0:
            parser.error("--threads, --steps and --batch must be at least 1, --warmup at least 0")
        if args.seq is not None and not 1 <= args.seq <= CONTEXT:
            parser.error(f"--seq must be between 1 and {CONTEXT}")
        bench(args)
    else:
        export(args)


if __name__ == "__main__":
    main(sys.argv[1:])

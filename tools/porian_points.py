#!/usr/bin/env python3
"""Porian et al. 2024's IsoFLOP points as isoflop input CSVs, one file per sweep.

What: reads one of the analysis pickles of Porian, Wortsman, Jitsev, Schmidt and Carmon,
"Resolving Discrepancies in Compute-Optimal Scaling of Language Models" (arXiv:2406.19146),
`data/summary_df*.pickle.xz` of https://github.com/formll/resolving-scaling-law-discrepancies,
and writes, for every sweep in it,
`OUT/porian.<dataset>.<hparams>.<warmup>.<decay>.<count>.<loss>.csv` with the header
`N,D,loss,C,run`. Why: their sweeps (RefinedWeb and OpenWebText2, 5M to 900M
parameters, 1.25e16 to 2.56e19 FLOPs) change one training choice at a time, so they show how
form selection and prediction intervals behave on the same models trained well and badly
(docs/fitting.md, "Form selection"). Their repository's LICENSE is MIT text naming another
project's authors, so the data's licence is unclear: isoflop ships this converter, not the data.

Usage (pandas; checked with pandas 3.1.1, which reads their pickles):
    git clone https://github.com/formll/resolving-scaling-law-discrepancies porian-repo
    python3 tools/porian_points.py porian-repo/data/summary_df.pickle.xz --out DIR

Which loss each (N, D) gets, checked against their commit
0dc60d91b8a525858a3067fc9e4a46ff5374cc6f: the raw runs (their `experiment_results.pickle.xz`)
are not in these pickles; each of a pickle's rows is one sweep (the six fields `dataset`, `hparams`,
`warmup`, `decay`, `param_count`, `val`) and its `data` frame holds, per FLOP budget
(`flops`), the points their IsoFLOP analysis fitted: `orig_n`, `orig_t` (tokens) and
`orig_loss`. Their analysis read each run's loss curve at the budget (validation loss where
`val` is `val`, the smoothed training loss where it is `train`) and kept, per model size, the
lowest loss of the runs that reached the budget. That is their final loss, and what this
script writes, unchanged:

- `decay = chinchilla` ("cosine decay") with `val = val` (`summary_df.pickle.xz`,
  `summary_df_owt2.pickle.xz`): every model is trained once per budget with a cosine schedule
  that ends there; a longer run passes the budget mid-schedule, at a higher loss, so the lowest
  is the run whose schedule ends at D. Each budget holds a window of 5 to 8 sizes, the
  designed grid: final losses of fully trained runs. (The raw runs are not in the summary
  pickles, so this is not checked run by run.)
- `decay = chinchilla` with `val = train` (`summary_df_att.pickle.xz`): the training loss is
  logged often enough that longer runs of larger models pass each budget too, and where no run
  of a size ends at the budget its mid-schedule loss is the one kept (at 2e17 FLOPs: 12 sizes
  up to 9.9e8 effective parameters, against 8 up to 2.2e8 in the validation-loss sweep).
  Treat that file as checkpoints.
- `decay = kaplan` (a cosine cycle set far beyond the budget) and `decay = const` (constant
  learning rate): one run per model size, read at every budget it passes. These are
  intermediate checkpoints of a longer run, as in the paper; only they exist for these sweeps.

N is their parameter count for the sweep (`param_count`: `standard` counts the embedding and
last layer, `kaplan` leaves out the embeddings, `attention` adds the attention FLOPs as
effective parameters) and D = budget / (6 N), so C = 6·N·D is the budget (written as `C`). The
`run` label is unique per point (budget and N): read off one long run or not, every point
stands alone for isoflop's approach 2. Points their analysis kept are all kept, including runs
still in warmup at small budgets (losses up to 10 nats on the `long` warmup sweeps).

A pickle runs code when it is loaded: give this script their files only.
"""

import argparse
import math
import pathlib
import sys

import pandas as pd

# The fields that name a sweep, in the order of their configs (configs.py's CONFIG_DICT_LABEL).
SWEEP_FIELDS = ["dataset", "hparams", "warmup", "decay", "param_count", "val"]


def sweep_points(data: pd.DataFrame) -> list[dict]:
    """The (N, D, loss, C) points of one sweep's `data` frame, sorted by budget then N."""
    points = []
    for _, budget in data.iterrows():
        ns, ts, losses = budget["orig_n"], budget["orig_t"], budget["orig_loss"]
        # A budget with too few runs is a missing value (None or NaN) instead of a Series.
        if ns is None or isinstance(ns, float):
            continue
        c = float(budget["flops"])
        for n, t, loss in zip(list(ns), list(ts), list(losses)):
            n, t, loss = float(n), float(t), float(loss)
            if not all(math.isfinite(v) and v > 0 for v in (n, t, loss)):
                continue
            points.append({"N": n, "D": t, "loss": loss, "C": c, "run": f"C{c:.3g}-N{n:.4g}"})
    points.sort(key=lambda p: (p["C"], p["N"]))
    return points


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("pickle", type=pathlib.Path, help="a data/summary_df*.pickle.xz of theirs")
    parser.add_argument("--out", type=pathlib.Path, default=pathlib.Path("."), help="folder")
    args = parser.parse_args()

    try:
        summary = pd.read_pickle(args.pickle)
    except Exception as e:  # a wrong file fails in pickle, lzma or pandas, each its own way
        print(f"{args.pickle}: cannot read it as a pandas pickle: {e}", file=sys.stderr)
        return 2
    columns = getattr(summary, "columns", [])
    missing = [f for f in SWEEP_FIELDS + ["data"] if f not in columns]
    if missing:
        what = ", ".join(missing)
        print(f"{args.pickle}: not a summary pickle (no column {what})", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    for _, sweep in summary.iterrows():
        name = ".".join(str(sweep[f]) for f in SWEEP_FIELDS)
        points = sweep_points(sweep["data"])
        keys = {(p["N"], p["D"]) for p in points}
        if len(keys) != len(points):
            print(f"{name}: {len(points) - len(keys)} repeated (N, D) points", file=sys.stderr)
            return 2
        path = args.out / f"porian.{name}.csv"
        frame = pd.DataFrame(points, columns=["N", "D", "loss", "C", "run"])
        frame.to_csv(path, index=False, float_format="%.10g")
        final = sweep["decay"] == "chinchilla" and sweep["val"] == "val"
        kind = "final (schedule ends at D)" if final else "checkpoints"
        sizes = frame["N"].nunique()
        budgets = frame["C"].nunique()
        print(f"{path}: {len(frame)} points, {sizes} sizes, {budgets} budgets, {kind}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The same Chinchilla fit timed three ways: isoflop from Python, the `isoflop` CLI (whole
process), and scipy's L-BFGS-B, the peers' tool (Besiroglu et al. 2024's replication code
minimises the same objective with it).

The fit: Chinchilla's L(N, D) = E + A/N^α + B/D^β (Hoffmann et al. 2022, eq. 2) by the
summed Huber loss (δ = 1e-3) of r = LSE(e, a − α ln N, b − β ln D) − ln L, from each of the
4,500 starts of Hoffmann's grid that isoflop uses (e ∈ {−1, −0.5, 0, 0.5, 1}, a, b ∈ {0, 5,
…, 25}, α, β ∈ {0, 0.5, …, 2}), keeping the best. scipy gets the analytic gradient (its
fastest fair setting; without it each start costs six objective calls per step) and its
default tolerances.

    python python/bench/fit_timing.py DATA.csv [--n N] [--d D] [--c C] [--loss loss]
        [--isoflop-bin target/release/isoflop] [--no-scipy] [--repeat 3]

Needs numpy and pandas; scipy for the scipy row (not a dependency of the package). Prints
each method's best-of-`repeat` wall time, the objective it reached and its parameters.
"""

import argparse
import itertools
import subprocess
import tempfile
import time

import numpy as np
import pandas as pd

import isoflop

DELTA = 1e-3


def load(args):
    df = pd.read_csv(args.data)
    n = df[args.n].to_numpy(float)
    d = df[args.d].to_numpy(float) if args.d in df else df[args.c].to_numpy(float) / (6 * n)
    return df, np.log(n), np.log(d), np.log(df[args.loss].to_numpy(float))


def scipy_fit(ln_n, ln_d, ln_l):
    from scipy.optimize import minimize
    from scipy.special import huber, logsumexp

    def value_grad(x):
        e, a, b, al, be = x
        t = np.stack([np.full_like(ln_n, e), a - al * ln_n, b - be * ln_d])
        lse = logsumexp(t, axis=0)
        r = lse - ln_l
        w = np.exp(t - lse)  # softmax weights: ∂LSE/∂t_k
        h = np.clip(r, -DELTA, DELTA)  # Huber'(r)
        g = np.array([h @ w[0], h @ w[1], h @ w[2], -(h * w[1]) @ ln_n, -(h * w[2]) @ ln_d])
        return huber(DELTA, r).sum(), g

    grid = itertools.product([-1, -0.5, 0, 0.5, 1], range(0, 30, 5), range(0, 30, 5),
                             [0, 0.5, 1, 1.5, 2], [0, 0.5, 1, 1.5, 2])
    best = None
    for x0 in grid:
        r = minimize(value_grad, np.array(x0, float), jac=True, method="L-BFGS-B")
        if np.isfinite(r.fun) and (best is None or r.fun < best.fun):
            best = r
    e, a, b, al, be = best.x
    return best.fun, {"E": np.exp(e), "A": np.exp(a), "B": np.exp(b), "alpha": al, "beta": be}


def timed(f, repeat):
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = f()
        times.append(time.perf_counter() - t)
    return min(times), out


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("data")
    p.add_argument("--n", default="N")
    p.add_argument("--d", default="D")
    p.add_argument("--c", default="C")
    p.add_argument("--loss", default="loss")
    p.add_argument("--isoflop-bin", default="target/release/isoflop")
    p.add_argument("--no-scipy", action="store_true")
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args()
    df, ln_n, ln_d, ln_l = load(args)
    rows = []

    secs, f = timed(lambda: isoflop.fit(df, n=args.n, d=args.d, c=args.c, loss=args.loss), args.repeat)
    rows.append(("isoflop.fit (Python, DataFrame)", secs, f.objective, f.params))

    with tempfile.TemporaryDirectory() as tmp:
        csv = f"{tmp}/data.csv"
        df.to_csv(csv, index=False)
        cmd = [args.isoflop_bin, "fit", csv, "--n-col", args.n, "--d-col", args.d, "--c-col", args.c,
               "--loss-col", args.loss, "-o", f"{tmp}/fit.json"]
        secs, _ = timed(lambda: subprocess.run(cmd, check=True, capture_output=True), args.repeat)
        g = isoflop.load(f"{tmp}/fit.json")
        rows.append(("isoflop fit (CLI, whole process)", secs, g.objective, g.params))

    if not args.no_scipy:
        secs, (obj, params) = timed(lambda: scipy_fit(ln_n, ln_d, ln_l), 1)
        rows.append(("scipy L-BFGS-B, analytic gradient", secs, obj, params))

    print(f"{len(df)} rows, 4,500 starts, best of {args.repeat} (scipy: one run)")
    for name, secs, obj, prm in rows:
        ps = ", ".join(f"{k}={prm[k]:.5g}" for k in ("E", "A", "B", "alpha", "beta"))
        print(f"{name:36s} {secs:8.3f} s   objective {obj:.7e}   {ps}")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Compares sweep designs at equal training compute: which gives the tightest law and the best
extrapolation per FLOP (issue 14).

Each design in configs/designs/ measures (N, D, loss) points on the demo's corpus and trainer:
`isoflop.toml` (the demo's IsoFLOP sweep, one cosine run per point) and `wsd.toml` (IsoFLOP
points measured with warm-up-stable-decay trunks and cooldown branches, Hägele et al. 2024, at
about the same training compute). `test.toml` trains the runs every design's law must predict:
five sizes at a budget 3.3 times the designs' largest.

For each design it fits Chinchilla's law on the design's points alone (`isoflop fit
--holdout-above-compute`, the test runs held out) and reports what it cost (training FLOPs,
counting a WSD branch's cooldown only, and run time) and what it gives: the 95% bootstrap
intervals of alpha, beta and E, and the mean and worst error on the test runs, with how many
fall inside the law's 95% prediction interval (calibrated with --calibrate-intervals). The
whole-curve law (Tissue et al. 2024) is checked on the WSD design's curves with `isoflop sweep
curve-law`, which predicts each size's longest point from its shorter ones.

    cargo build --release
    python3 tools/compare_designs.py --isoflop target/release/isoflop --db designs.db

Rerunning resumes: finished runs are kept in the store. Standard library only.
"""

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
DESIGNS = os.path.join(HERE, "..", "configs", "designs")


def run(cmd, **kw):
    """Runs an isoflop command with --json and returns its parsed output."""
    out = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if out.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({out.returncode}):\n{out.stderr}")
    return json.loads(out.stdout)


def trained_flops(bin_, spec):
    """Training FLOPs (6·N·tokens) of what the machine trains for a spec: for a WSD design its
    trunks and each branch's cooldown, as `sweep plan` lists them."""
    plan = run([bin_, "--json", "sweep", "plan", spec, "--no-calibrate"])
    return sum(6.0 * r["params"] * r["tokens"] for r in plan["runs"]), len(plan["runs"])


def sweep_seconds(bin_, db, sweep):
    """The sum of the sweep's runs' wall seconds, as the store recorded them."""
    runs = run([bin_, "--json", "runs", "--db", db, "--sweep", sweep])["runs"]
    return sum((r.get("metrics") or {}).get("wall_seconds") or 0.0 for r in runs)


def export(bin_, db, sweep, path):
    subprocess.run([bin_, "export", "--db", db, "--sweep", sweep, "-o", path], check=True,
                   capture_output=True)
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--isoflop", default="isoflop", help="the isoflop binary")
    ap.add_argument("--db", default="designs.db", help="the run store (SQLite file)")
    ap.add_argument("--bootstrap", type=int, default=200)
    ap.add_argument("--designs", nargs="*", default=["isoflop", "wsd"],
                    help="configs/designs/<name>.toml to compare")
    ap.add_argument("--fit-args", default="", help="more arguments for isoflop fit, e.g. "
                    "'--tie-exponents'")
    a = ap.parse_args()
    bin_, db = a.isoflop, a.db
    specs = {d: os.path.join(DESIGNS, f"{d}.toml") for d in a.designs + ["test"]}
    for d, spec in specs.items():
        print(f"training {d} ({spec})…", file=sys.stderr)
        run([bin_, "--json", "sweep", "run", spec, "--db", db, "-q"])
    tmp = tempfile.mkdtemp(prefix="designs-")
    test = export(bin_, db, "design-test", os.path.join(tmp, "test.csv"))
    c_test = min(float(r["C"]) for r in test)
    rows = []
    for d in a.designs:
        name = f"design-{d}"
        points = export(bin_, db, name, os.path.join(tmp, f"{d}.csv"))
        c_max = max(float(r["C"]) for r in points)
        assert c_max < c_test, "the test runs must lie above every design's budget"
        both = os.path.join(tmp, f"{d}+test.csv")
        cols = ["N", "D", "loss", "C", "run"]
        with open(both, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=cols, extrasaction="ignore")
            w.writeheader()
            w.writerows(points + test)
        fit = run([bin_, "--json", "fit", both, "--holdout-above-compute", repr(c_max * 1.5),
                   "--bootstrap", str(a.bootstrap), "--calibrate-intervals"]
                  + a.fit_args.split())
        flops, trained = trained_flops(bin_, specs[d])
        held = fit["holdout"]
        errs = [abs(h["rel_err"]) for h in held]
        inside = sum(1 for h in held if h["interval"][0] <= h["actual"] <= h["interval"][1])
        iv = fit.get("intervals", {})
        half = lambda k: (iv[k][1] - iv[k][0]) / 2 if k in iv else float("nan")
        rows.append({
            "design": d,
            "points": len(points),
            "trained_runs": trained,
            "train_flops": flops,
            "train_seconds": sweep_seconds(bin_, db, name),
            "alpha": fit["params"]["alpha"], "alpha_half_width": half("alpha"),
            "beta": fit["params"]["beta"], "beta_half_width": half("beta"),
            "E": fit["params"]["E"], "E_interval": iv.get("E"),
            "test_mean_err": sum(errs) / len(errs), "test_worst_err": max(errs),
            "test_inside_95": f"{inside}/{len(held)}",
        })
    curve = None
    if "wsd" in a.designs:
        curve = run([bin_, "--json", "sweep", "curve-law", "design-wsd", "--db", db])
    print(json.dumps({"designs": rows, "curve_law": curve}, indent=1))
    print("\n| design | points | trained FLOPs | run time | α (± half 95%) | β (± half 95%) | "
          "E, 95% | test mean / worst error | test inside 95% PI |", file=sys.stderr)
    print("|---|---|---|---|---|---|---|---|---|", file=sys.stderr)
    for r in rows:
        e = r["E_interval"]
        e = f"{r['E']:.3f} [{e[0]:.3f}, {e[1]:.3f}]" if e else f"{r['E']:.3f}"
        print(f"| {r['design']} | {r['points']} ({r['trained_runs']} trained) | "
              f"{r['train_flops']:.3g} | {r['train_seconds']:.0f} s | "
              f"{r['alpha']:.3f} ± {r['alpha_half_width']:.3f} | "
              f"{r['beta']:.3f} ± {r['beta_half_width']:.3f} | {e} | "
              f"{100 * r['test_mean_err']:.2f}% / {100 * r['test_worst_err']:.2f}% | "
              f"{r['test_inside_95']} |", file=sys.stderr)


if __name__ == "__main__":
    main()

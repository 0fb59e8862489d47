#!/usr/bin/env python3
"""Compares two runs of `isoflop demo --json` for behaviour: same losses, fits and report numbers.

Each argument is a directory holding the demo's `--json` output as `demo.json` and its run
store (`*.db`), made with the same spec and seed, for example by two builds of isoflop:

    mkdir before after
    (cd before && isoflop-old demo --quick --json -q --db q.db -o rep/report.html > demo.json)
    (cd after  && isoflop     demo --quick --json -q --db q.db -o rep/report.html > demo.json)
    python3 tools/compare_demo.py before after

What is compared, exactly (bit for bit, as the JSON and SQLite hold them):
- demo.json, less what a clock or the scheduler decides: `wall_seconds`, `train_seconds`, and
  the order in which runs finished (`outcome.threads` is compared as a set). A key only one
  side has is listed as added or removed, not as a difference (a new field is not a change of
  behaviour).
- every run of the store: status, final losses (validation, train, OOD, bits per byte) and
  every point of its loss curve. Speeds and times are left out.

Exit status 0 when nothing differs, 1 otherwise. Standard library only.
"""

import glob
import json
import sqlite3
import sys

TIMING_KEYS = {"wall_seconds", "train_seconds"}


def strip(value, path=""):
    """The demo's JSON less its timings; run completion order made a set."""
    if isinstance(value, dict):
        return {k: strip(v, f"{path}.{k}") for k, v in value.items() if k not in TIMING_KEYS}
    if isinstance(value, list):
        items = [strip(v, f"{path}[]") for v in value]
        if path == ".outcome.threads":
            return sorted(items, key=json.dumps)
        return items
    return value


def diff(a, b, path, out):
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if k not in b:
                out["removed"].append(f"{path}.{k}")
            elif k not in a:
                out["added"].append(f"{path}.{k}")
            else:
                diff(a[k], b[k], f"{path}.{k}", out)
    elif isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            out["differ"].append(f"{path}: {len(a)} items vs {len(b)}")
        for i, (x, y) in enumerate(zip(a, b)):
            diff(x, y, f"{path}[{i}]", out)
    elif a != b:
        out["differ"].append(f"{path}: {a!r} vs {b!r}")


def runs(directory):
    dbs = sorted(glob.glob(f"{directory}/*.db"))
    if len(dbs) != 1:
        sys.exit(f"{directory}: expected one run store (*.db), found {len(dbs)}")
    con = sqlite3.connect(f"file:{dbs[0]}?mode=ro", uri=True)
    rows = {}
    for key, status, loss, train, ood, bpb, rid in con.execute(
        "SELECT key, status, loss, train_loss, ood_loss, bits_per_byte, id FROM runs"
    ):
        curve = con.execute(
            "SELECT tokens, step, train_loss, val_loss FROM curve_points WHERE run_id = ?1 "
            "ORDER BY tokens",
            (rid,),
        ).fetchall()
        rows[key] = {"status": status, "loss": loss, "train_loss": train, "ood_loss": ood,
                     "bits_per_byte": bpb, "curve": [list(p) for p in curve]}
    return rows


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    a_dir, b_dir = sys.argv[1:]
    out = {"differ": [], "added": [], "removed": []}
    demo = [strip(json.load(open(f"{d}/demo.json"))) for d in (a_dir, b_dir)]
    diff(demo[0], demo[1], "demo.json", out)
    ra, rb = runs(a_dir), runs(b_dir)
    diff(ra, rb, "runs", out)
    points = sum(len(r["curve"]) for r in ra.values())
    print(f"{len(ra)} runs and {points} curve points compared; demo.json compared less timings")
    for k in ("added", "removed"):
        for p in out[k]:
            print(f"{k}: {p}")
    for p in out["differ"]:
        print(f"DIFFERS: {p}")
    print("same" if not out["differ"] else f"{len(out['differ'])} difference(s)")
    return 1 if out["differ"] else 0


if __name__ == "__main__":
    sys.exit(main())

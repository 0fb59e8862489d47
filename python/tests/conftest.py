"""Shared fixtures: the repository's example data and the built `isoflop` binary.

The tests compare the package with the CLI, so they need the binary: `tools/test.sh` builds
it and sets ISOFLOP_BIN; without it, `target/debug/isoflop` under the repository is used.
"""

import json
import os
import pathlib
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "chinchilla_synthetic.csv"


def _binary() -> pathlib.Path:
    env = os.environ.get("ISOFLOP_BIN")
    if env:
        return pathlib.Path(env)
    target = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    return target / "debug" / "isoflop"


@pytest.fixture(scope="session")
def cli():
    """Runs the isoflop binary; returns its parsed --json output (or the process with raw=True)."""
    exe = _binary()
    if not exe.exists():
        raise RuntimeError(f"isoflop binary not found at {exe}: build it (cargo build -p isoflop) or set ISOFLOP_BIN")

    def run(*args, raw=False, check=True):
        p = subprocess.run([str(exe), *map(str, args)], capture_output=True, text=True)
        if raw:
            return p
        if check and p.returncode != 0:
            raise AssertionError(f"isoflop {' '.join(map(str, args))} failed:\n{p.stderr}")
        return json.loads(p.stdout)

    return run


@pytest.fixture(scope="session")
def example():
    return EXAMPLE


@pytest.fixture(scope="session")
def example_columns():
    """The example as a dict of lists (no pandas needed)."""
    import csv

    with open(EXAMPLE) as f:
        rows = list(csv.DictReader(f))
    out = {k: [r[k] for r in rows] for k in rows[0]}
    for k in ("N", "D", "C", "loss"):
        out[k] = [float(v) for v in out[k]]
    return out


@pytest.fixture(scope="session")
def cli_fit(cli, example, tmp_path_factory):
    """The CLI's fit of the example: (fit.json path, its parsed content)."""
    path = tmp_path_factory.mktemp("cli") / "fit.json"
    cli("fit", example, "-o", path, "--json")
    return path, json.loads(path.read_text())


@pytest.fixture(scope="session")
def py_fit(example):
    import isoflop

    return isoflop.fit(example)


def close(a, b, rel=1e-9):
    """Equal to `rel` relative (absolute near zero), recursively through dicts and lists."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), (a, b)
        for k in a:
            close(a[k], b[k], rel)
    elif isinstance(a, (list, tuple)):
        assert isinstance(b, (list, tuple)) and len(a) == len(b), (a, b)
        for x, y in zip(a, b):
            close(x, y, rel)
    elif isinstance(a, float) or isinstance(b, float):
        assert abs(a - b) <= rel * max(abs(a), abs(b), 1e-300) or a == b, (a, b)
    else:
        assert a == b, (a, b)

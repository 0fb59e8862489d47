"""isoflop.fit against `isoflop fit`: the same optimum from a path, a DataFrame and a dict;
fit.json moves both ways; approaches 1–3; options reach the library."""

import json
import threading

import pytest

import isoflop
from conftest import close

# fit.json keys that describe where a fit came from rather than the fit itself.
PROVENANCE = {"input", "input_sha256"}


def test_example_fit_equals_the_cli(cli_fit, py_fit, example):
    _, cli_doc = cli_fit
    close(py_fit.params, cli_doc["params"], rel=1e-9)
    close(py_fit.derived, cli_doc["derived"], rel=1e-9)
    doc = py_fit.to_dict()
    # From a path the whole fit.json is the CLI's, provenance included.
    assert doc["input"] == str(example) and doc["input_sha256"] == cli_doc["input_sha256"]
    close({k: v for k, v in doc.items() if k != "input"}, {k: v for k, v in cli_doc.items() if k != "input"})


def test_dataframe_and_dict_give_the_cli_fit(cli_fit, example, example_columns):
    pd = pytest.importorskip("pandas")
    _, cli_doc = cli_fit
    for data in (pd.read_csv(example), example_columns):
        f = isoflop.fit(data)
        doc = f.to_dict()
        assert doc["input"] is None and doc["input_sha256"] is None
        close({k: v for k, v in doc.items() if k not in PROVENANCE},
              {k: v for k, v in cli_doc.items() if k not in PROVENANCE})


def test_renamed_columns_and_c_without_d(example_columns, py_fit):
    cols = {"params": example_columns["N"], "flops": example_columns["C"], "val": example_columns["loss"]}
    f = isoflop.fit(cols, n="params", c="flops", loss="val", d="absent")
    # D = C / 6N reproduces the example's D to rounding, so the optimum barely moves.
    close(f.params, py_fit.params, rel=1e-5)


def test_options_reach_the_fit(example):
    f = isoflop.fit(example, tie_exponents=True, fix={"E": 1.7}, bounds={"alpha": (0.2, 0.5)}, grid_stride=9)
    assert f.params["alpha"] == f.params["beta"]
    assert f.params["E"] == 1.7 and "E" in f.fixed
    assert f.options["tie_exponents"] and f.options["grid_stride"] == 9
    assert f.options["bounds"] == {"alpha": [0.2, 0.5]}


def test_bootstrap_intervals_match_the_cli(cli, example, tmp_path):
    path = tmp_path / "boot.json"
    cli("fit", example, "--bootstrap", 40, "--seed", 3, "--grid-stride", 9, "-o", path, "--json")
    f = isoflop.fit(example, bootstrap=40, seed=3, grid_stride=9)
    cli_doc = json.loads(path.read_text())
    close(f.intervals, {k: tuple(v) for k, v in cli_doc["intervals"].items()})
    assert f.bootstrap_samples.shape == (len(cli_doc["bootstrap"]["samples"]), 5)
    lo, hi = f.intervals["alpha"]
    assert lo < f.params["alpha"] < hi


def test_select_and_holdout_match_the_cli(cli, example):
    cli_sel = cli("fit", example, "--select", "--grid-stride", 9, "--json")
    f = isoflop.fit(example, select=True, grid_stride=9)
    assert f.selection.chosen == cli_sel["selection"]["chosen"]
    close(f.params, cli_sel["params"])
    cli_hold = cli("fit", example, "--holdout-top", 10, "--grid-stride", 9, "--json")
    f = isoflop.fit(example, holdout_top=10, grid_stride=9)
    close(f.holdout, cli_hold["holdout"])


def test_approach_2_matches_the_cli(cli, example):
    cli_doc = cli("fit", example, "--approach", "isoflop", "--json")
    r = isoflop.fit(example, approach=2)
    assert isinstance(r, isoflop.ApproachFit)
    close(r.to_dict(), cli_doc)
    n, d = r.optimal(1e21)
    close(float(n), cli_doc["n_opt"]["coefficient"] * 1e21 ** cli_doc["n_opt"]["exponent"])


def test_saved_in_python_loads_in_the_cli_and_back(cli, cli_fit, py_fit, tmp_path):
    path = tmp_path / "py_fit.json"
    py_fit.save(path)
    # The CLI reads it...
    p = cli("predict", "--fit", path, "--params", "7e9", "--tokens", "1.4e12", "--json")
    close(p["loss"], py_fit.predict(7e9, 1.4e12), rel=1e-12)
    # ...and Python reads it back, and the CLI's own fit.json, unchanged.
    assert isoflop.load(path) == py_fit
    cli_path, cli_doc = cli_fit
    loaded = isoflop.load(cli_path)
    assert loaded.to_dict() == cli_doc
    assert json.loads(loaded.to_json()) == cli_doc


def test_pickle_and_reprs(py_fit):
    import pickle

    assert pickle.loads(pickle.dumps(py_fit)) == py_fit
    assert "chinchilla" in repr(py_fit) and "alpha" in repr(py_fit)
    page = py_fit._repr_html_()
    assert "<table>" in page and "alpha" in page and "E + A / N^α + B / D^β" in page


def test_fit_releases_the_gil(example):
    """While a fit runs on another Python thread, this one keeps running Python code."""
    done = threading.Event()
    t = threading.Thread(target=lambda: (isoflop.fit(example), done.set()))
    spins = 0
    t.start()
    while not done.is_set():
        spins += 1
    t.join()
    # Holding the GIL for the whole fit would allow a handful of spins (before the thread
    # entered Rust); released, the loop runs freely for the fit's duration (millions).
    assert spins > 10_000, spins


def test_calibrated_intervals_match_the_cli_and_widen_far_out(cli, example, tmp_path):
    path = tmp_path / "cal.json"
    cli("fit", example, "--calibrate-intervals", "--bootstrap", 30, "--seed", 1, "--grid-stride", 9,
        "-o", path, "--json")
    cli_doc = json.loads(path.read_text())
    cal = isoflop.fit(example, calibrate_intervals=True, bootstrap=30, seed=1, grid_stride=9)
    plain = isoflop.fit(example, bootstrap=30, seed=1, grid_stride=9)
    assert cal.options["calibrate_intervals"] and cli_doc["options"]["calibrate_intervals"]
    close(cal.to_dict()["calibration"], cli_doc["calibration"])
    # Far beyond the fitted range the calibrated prediction interval is wider.
    _, lo_c, hi_c = cal.predict(7e10, 1.4e12, interval="prediction")
    _, lo_p, hi_p = plain.predict(7e10, 1.4e12, interval="prediction")
    assert hi_c - lo_c > hi_p - lo_p

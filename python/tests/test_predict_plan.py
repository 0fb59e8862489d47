"""Fit.predict is vectorised and equals scalar calls and `isoflop predict`; Fit.plan equals
`isoflop plan --json` for every kind of plan."""

import numpy as np
import pytest

import isoflop
from conftest import close


@pytest.fixture(scope="module")
def boot_fit(example):
    return isoflop.fit(example, bootstrap=30, seed=1, grid_stride=9)


def test_vectorised_predictions_equal_scalar_ones(py_fit):
    N = np.geomspace(1e8, 1e11, 6)[:, None]
    D = np.geomspace(1e9, 1e13, 5)[None, :]
    grid = py_fit.predict(N, D)
    assert grid.shape == (6, 5)
    for i in range(6):
        for j in range(5):
            s = py_fit.predict(float(N[i, 0]), float(D[0, j]))
            assert isinstance(s, float) and s == grid[i, j]
    # Lists and a big flat array (the parallel path) agree with the same scalars.
    assert py_fit.predict([1e9, 2e9], 2e10).tolist() == [py_fit.predict(1e9, 2e10), py_fit.predict(2e9, 2e10)]
    big_n = np.geomspace(1e7, 1e12, 20_000)
    big = py_fit.predict(big_n, 20 * big_n)
    assert big[123] == py_fit.predict(big_n[123], 20 * big_n[123])


def test_vectorised_intervals_equal_scalar_ones(boot_fit):
    N = np.array([1e9, 7e9, 7e10])
    loss, lo, hi = boot_fit.predict(N, 20 * N, interval=True)
    for i, n in enumerate(N):
        s, slo, shi = boot_fit.predict(n, 20 * n, interval=True)
        assert (s, slo, shi) == (loss[i], lo[i], hi[i])
        assert slo <= s <= shi
    _, plo, phi = boot_fit.predict(N, 20 * N, interval="prediction")
    assert np.all(plo <= lo) and np.all(phi >= hi)


def test_predictions_equal_the_cli(cli, boot_fit, tmp_path):
    path = tmp_path / "fit.json"
    boot_fit.save(path)
    for n, d in [(7e9, 1.4e12), (7e10, 1.4e12), (1e8, 3e9)]:
        p = cli("predict", "--fit", path, "--params", n, "--tokens", d, "--json")
        loss, lo, hi = boot_fit.predict(n, d, interval=True)
        close([loss, lo, hi], [p["loss"], *p["interval"]], rel=1e-12)
        _, plo, phi = boot_fit.predict(n, d, interval="prediction")
        close([plo, phi], p["prediction_interval"], rel=1e-12)


def test_interval_without_bootstrap_says_how_to_get_one(py_fit):
    with pytest.raises(ValueError, match="bootstrap"):
        py_fit.predict(1e9, 2e10, interval=True)


@pytest.mark.parametrize(
    "py_kwargs, cli_args",
    [
        ({"compute": 5.76e23}, ["--compute", "5.76e23"]),
        ({"target_loss": 2.1}, ["--target-loss", "2.1"]),
        ({"params": 7e10}, ["--params", "7e10"]),
        ({"compute": 5.76e23, "inference_tokens": 2e13}, ["--compute", "5.76e23", "--inference-tokens", "2e13"]),
        ({"target_loss": 2.1, "inference_tokens": 2e13}, ["--target-loss", "2.1", "--inference-tokens", "2e13"]),
    ],
)
def test_plan_equals_the_cli(cli, boot_fit, tmp_path, py_kwargs, cli_args):
    path = tmp_path / "fit.json"
    boot_fit.save(path)
    plan = boot_fit.plan(**py_kwargs)
    close(plan.to_dict(), cli("plan", "--fit", path, *cli_args, "--json"), rel=1e-12)


def test_plan_errors_name_the_problem(py_fit):
    with pytest.raises(ValueError, match="exactly one of compute, target_loss and params"):
        py_fit.plan()
    with pytest.raises(ValueError, match="out of reach"):
        py_fit.plan(target_loss=0.5)


@pytest.fixture(scope="module")
def averaged_fit(tmp_path_factory, example):
    """A fit.json holding a model average (`isoflop fit --select --select-average`)."""
    import subprocess

    from conftest import _binary

    path = tmp_path_factory.mktemp("avg") / "fit.json"
    args = ["fit", example, "--select", "--select-average", "--e-prior", "1.6:1.8"]
    args += ["--grid-stride", "9", "--bootstrap", "20", "-o", path]
    subprocess.run([str(_binary()), *map(str, args)], check=True, capture_output=True)
    return path


def test_an_averaged_fit_predicts_and_plans_as_the_cli(cli, averaged_fit):
    f = isoflop.load(averaged_fit)
    assert f.to_dict()["selection"]["average"]["members"]
    for n, d in [(7e9, 1.4e12), (7e10, 1.4e12)]:
        p = cli("predict", "--fit", averaged_fit, "--params", n, "--tokens", d, "--json")
        loss, lo, hi = f.predict(n, d, interval=True)
        close([loss, lo, hi], [p["loss"], *p["interval"]], rel=1e-12)
        _, plo, phi = f.predict(n, d, interval="prediction")
        close([plo, phi], p["prediction_interval"], rel=1e-12)
    for kwargs, args in [
        ({"compute": 5.76e23}, ["--compute", "5.76e23"]),
        ({"target_loss": 2.1}, ["--target-loss", "2.1"]),
        ({"params": 7e10}, ["--params", "7e10"]),
    ]:
        plan = f.plan(**kwargs).to_dict()
        assert plan["method"] == "average" and len(plan["average"]) >= 1
        close(plan, cli("plan", "--fit", averaged_fit, *args, "--json"), rel=1e-12)

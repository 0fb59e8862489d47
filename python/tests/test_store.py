"""isoflop.runs and isoflop.curves read the run store as `isoflop runs` and
`isoflop export --curves` do; tables are DataFrames with pandas and dicts of lists without."""

import json

import pytest

import isoflop
from isoflop import _store
from conftest import close


def law(n, d):
    return 1.7 + 400.0 / n**0.34 + 410.0 / d**0.28


@pytest.fixture(scope="module")
def db(cli, tmp_path_factory):
    """A store holding one imported sweep: 8 runs, each with a 4-point loss curve."""
    tmp = tmp_path_factory.mktemp("store")
    lines = ["run,N,D,loss,tokens"]
    for i in range(8):
        n = 1e7 * 2 ** (i / 2)
        final = 20 * n * 2 ** ((i % 3) - 1)
        for k in range(4):
            d = final / 2 ** (3 - k)
            lines.append(f"r{i},{n},{d},{law(n, d) * (1 + 0.003 * ((i + k) % 3 - 1))},{d}")
    path = tmp / "demo.csv"
    path.write_text("\n".join(lines) + "\n")
    db = tmp / "isoflop.db"
    cli("import", path, "--db", db, "--sweep", "demo", raw=True, check=True)
    return db


def test_runs_equal_the_cli(cli, db):
    cli_runs = cli("runs", "--db", db, "--json")["runs"]
    t = isoflop.runs(db)
    assert list(t["run"]) == [r["key"] for r in cli_runs]
    assert list(t["id"]) == [r["id"] for r in cli_runs]
    close(list(t["N"]), [r["params"] for r in cli_runs])
    close(list(t["D"]), [r["tokens"] for r in cli_runs])
    close(list(t["loss"]), [r["metrics"]["loss"] for r in cli_runs])
    assert set(t["status"]) == {"done"}
    assert len(isoflop.runs(db, "demo", status="failed")) == 0


def test_curves_equal_the_export(cli, db):
    p = cli("export", "--db", db, "--curves", "--format", "jsonl", raw=True)
    rows = [json.loads(line) for line in p.stdout.splitlines() if line.strip()]
    t = isoflop.curves(db, "demo")
    assert len(t) == len(rows) == 32
    assert list(t["run"]) == [r["run"] for r in rows]
    close(list(t["D"]), [r["D"] for r in rows])
    close(list(t["loss"]), [r["loss"] for r in rows])
    one = isoflop.curves(db, run="r3")
    assert set(one["run"]) == {"demo/r3"} and len(one) == 4


def test_a_sweep_fits_as_the_cli_fits_it(cli, db):
    cli_doc = cli("fit", "--sweep", "demo", "--db", db, "--grid-stride", 9, "--json")
    f = isoflop.fit(isoflop.runs(db, "demo"), grid_stride=9)
    close(f.params, cli_doc["params"])
    env = cli("fit", "--sweep", "demo", "--db", db, "--approach", "envelope", "--json")
    close(isoflop.fit(isoflop.curves(db, "demo"), approach=1).to_dict(), env)


def test_without_pandas_tables_are_dicts_of_lists(db, monkeypatch):
    monkeypatch.setattr(_store, "_pandas", lambda: None)
    t = isoflop.runs(db)
    assert isinstance(t, dict) and t["run"][:2] == ["r0", "r1"] and len(t["N"]) == 8
    c = isoflop.curves(db)
    assert isinstance(c, dict) and len(c["loss"]) == 32
    # ...and a dict of lists fits like a DataFrame.
    monkeypatch.undo()
    assert isoflop.fit(t, grid_stride=9).params == isoflop.fit(isoflop.runs(db), grid_stride=9).params


def test_store_errors(db, tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        isoflop.runs(tmp_path / "none.db")
    with pytest.raises(ValueError, match=r'no sweep named "other" .*known: demo'):
        isoflop.runs(db, "other")
    with pytest.raises(ValueError, match="unknown run status"):
        isoflop.runs(db, status="finished")
    with pytest.raises(ValueError, match='no finished run named "r99"'):
        isoflop.curves(db, run="r99")

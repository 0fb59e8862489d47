"""Bad input raises the exception a Python user expects, with the CLI's message: the file,
row and column at fault."""

import math

import pytest

import isoflop


def frame(pd, **overrides):
    cols = {"N": [1e8, 2e8, 4e8, 8e8, 1.6e9, 3.2e9], "D": [2e9, 4e9, 8e9, 1.6e10, 3.2e10, 6.4e10],
            "loss": [3.4, 3.1, 2.9, 2.7, 2.55, 2.45]}
    cols.update(overrides)
    return pd.DataFrame(cols)


def test_dataframe_nan_negative_and_missing_column(tmp_path):
    pd = pytest.importorskip("pandas")
    with pytest.raises(ValueError, match=r"DataFrame row 3: column `loss`: value is missing \(NaN\)"):
        isoflop.fit(frame(pd, loss=[3.4, 3.1, 2.9, math.nan, 2.55, 2.45]))
    with pytest.raises(ValueError, match=r"DataFrame row 2: column `D`: D \(tokens\) must be > 0, got -8000000000"):
        isoflop.fit(frame(pd, D=[2e9, 4e9, -8e9, 1.6e10, 3.2e10, 6.4e10]))
    with pytest.raises(ValueError, match=r"DataFrame: missing column `D` \(found: N, tokens, loss\)"):
        isoflop.fit(frame(pd).rename(columns={"D": "tokens"}))
    with pytest.raises(ValueError, match=r"row 1 \(index b\): column `N`: N \(parameters\) must be finite, got inf"):
        isoflop.fit(frame(pd, N=[1e8, math.inf, 4e8, 8e8, 1.6e9, 3.2e9]).set_axis(list("abcdef")))
    with pytest.raises(ValueError, match=r"DataFrame row 4: column `N`: `big` is not a number"):
        isoflop.fit(frame(pd, N=[1e8, 2e8, 4e8, 8e8, "big", 3.2e9]))


def test_dict_errors_name_the_row_and_column():
    good = {"N": [1e8, 2e8, 4e8], "D": [2e9, 4e9, 8e9], "loss": [3.4, 3.1, 0.0]}
    with pytest.raises(ValueError, match=r"dict row 2: column `loss`: loss must be > 0, got 0"):
        isoflop.fit(good)
    with pytest.raises(ValueError, match=r"dict: column `D` has 2 values but `N` has 3"):
        isoflop.fit({**good, "D": [1.0, 2.0]})
    with pytest.raises(TypeError, match="DataFrame, a dict of arrays, or a path"):
        isoflop.fit(42)


def test_file_errors_are_the_clis(cli, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("N,D,loss\n1e8,2e9,3.4\n1e8,abc,3.1\n")
    cli_err = cli("fit", bad, raw=True)
    assert cli_err.returncode == 2
    with pytest.raises(ValueError) as e:
        isoflop.fit(bad)
    assert f"{bad}:3: column `D`: `abc` is not a number" in str(e.value)
    assert str(e.value) in cli_err.stderr
    missing = tmp_path / "nothing.csv"
    with pytest.raises(FileNotFoundError, match="nothing.csv"):
        isoflop.fit(missing)
    with pytest.raises(FileNotFoundError, match="cannot read fit .*nothing.json"):
        isoflop.load(tmp_path / "nothing.json")
    junk = tmp_path / "junk.json"
    junk.write_text("{}")
    with pytest.raises(ValueError, match="junk.json is not a fit saved by `isoflop fit -o`"):
        isoflop.load(junk)


def test_option_errors_name_the_option(example):
    with pytest.raises(ValueError, match="unknown form `chinchila`"):
        isoflop.fit(example, "chinchila")
    with pytest.raises(ValueError, match="gamma"):
        isoflop.fit(example, fix={"gamma": 1.0})
    with pytest.raises(ValueError, match="bounds\\['alpha'\\]"):
        isoflop.fit(example, bounds={"alpha": 0.5})
    with pytest.raises(ValueError, match="approach 4"):
        isoflop.fit(example, approach=4)
    with pytest.raises(ValueError, match="irreducible applies to kaplan"):
        isoflop.fit(example, irreducible=True)
    with pytest.raises(ValueError, match="bootstrap must be a whole number"):
        isoflop.fit(example, bootstrap=-1)

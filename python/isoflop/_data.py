"""Observations from what a notebook holds: a pandas DataFrame, a dict of arrays, or a path.

A path is read exactly as ``isoflop fit DATA`` reads it (.csv with a header row, or .jsonl),
so errors name the file, the line and the column, and the fit records the file's sha256.
Columns are validated with the same rules: N, D and loss present, finite and > 0 (D may be
left out when C is given: D = C / 6N); C and U, when given, finite and > 0. In a DataFrame,
NaN is pandas' missing value: an error in N, D or loss, "not given" in C, U or metric.
Errors name the row (its 0-based position, and its index label when the frame has one) and
the column.
"""

from __future__ import annotations

import math
import os
from typing import Any, Dict, List, Mapping, Optional

from . import _isoflop

_NUMERIC = ("n", "d", "loss", "c", "u", "step", "tokens", "metric")


def _is_dataframe(data: Any) -> bool:
    return type(data).__module__.split(".")[0] == "pandas" and hasattr(data, "columns")


def observations(data: Any, names: Dict[str, str]) -> "_isoflop.Observations":
    """Validated observations from a DataFrame, a mapping of columns, or a path."""
    if isinstance(data, (str, os.PathLike)):
        return _isoflop.read_file(os.fspath(data), names)
    if _is_dataframe(data):
        found = [str(c) for c in data.columns]
        labels = _labels(data)
        get = lambda col: data[col]  # noqa: E731
        source = "DataFrame"
    elif isinstance(data, Mapping):
        found = [str(c) for c in data.keys()]
        labels = None
        get = lambda col: data[col]  # noqa: E731
        source = "dict"
    else:
        raise TypeError(
            "data must be a pandas DataFrame, a dict of arrays, or a path to a .csv or "
            f".jsonl file, not {type(data).__name__}"
        )
    columns: Dict[str, Any] = {}
    for role in _NUMERIC:
        col = names[role]
        if col in found:
            columns[col] = _floats(get(col), source, col, labels)
    if names["run"] in found:
        columns[names["run"]] = _strings(get(names["run"]))
    return _isoflop.from_columns(source, found, names, columns, labels)


def _labels(frame: Any) -> Optional[List[str]]:
    """The index labels, unless the index is the default 0, 1, 2, …"""
    index = frame.index
    if type(index).__name__ == "RangeIndex" and index.start == 0 and index.step == 1:
        return None
    return [str(x) for x in index]


def _floats(values: Any, source: str, col: str, labels: Optional[List[str]]) -> Any:
    """A 1-D contiguous float64 array; the first value that is not a number is named."""
    import numpy as np

    if hasattr(values, "to_numpy"):  # a pandas Series (nullable dtypes: NA becomes NaN)
        try:
            return np.ascontiguousarray(values.to_numpy(dtype="float64", na_value=np.nan))
        except (TypeError, ValueError):
            values = values.tolist()
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        arr = None
    if arr is None or arr.ndim != 1:
        if arr is not None:
            raise ValueError(f"{source}: column `{col}` must be one-dimensional, got shape {arr.shape}")
        for i, v in enumerate(list(values)):
            try:
                float(v)
            except (TypeError, ValueError):
                at = f"{source} row {i}" + (f" (index {labels[i]})" if labels else "")
                raise ValueError(f"{at}: column `{col}`: `{v}` is not a number") from None
        raise ValueError(f"{source}: column `{col}`: not numbers")
    return np.ascontiguousarray(arr)


def _strings(values: Any) -> List[Optional[str]]:
    out: List[Optional[str]] = []
    for v in list(values.tolist() if hasattr(values, "tolist") else values):
        if v is None or (isinstance(v, float) and math.isnan(v)):
            out.append(None)
        else:
            out.append(str(v))
    return out

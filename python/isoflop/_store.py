"""The run store (``isoflop.db``): runs and loss curves as tables.

Tables are pandas DataFrames when pandas is installed and dicts of lists (column → values)
otherwise. Columns follow ``isoflop export``, so a table goes straight into
:func:`isoflop.fit`: ``N`` parameters, ``D`` tokens, ``C`` FLOPs, ``loss`` the validation
loss in nats per token.
"""

from __future__ import annotations

import json
import os
from typing import Any, Dict, List, Optional, Sequence, Union

from . import _isoflop

PathLike = Union[str, "os.PathLike[str]"]

RUN_COLUMNS = [
    "id", "sweep", "run", "status", "N", "D", "C", "loss", "budget", "seed", "train_loss",
    "ood_loss", "bits_per_byte", "tokens_per_second", "mfu", "wall_seconds", "reason",
    "engine", "host", "version", "source", "attempts", "started_at", "finished_at",
    "checkpoint", "config",
]
CURVE_COLUMNS = ["run", "sweep", "N", "D", "C", "loss", "train_loss", "tokens", "step"]


def runs(
    db: PathLike = "isoflop.db",
    sweep: Optional[str] = None,
    *,
    status: Optional[Union[str, Sequence[str]]] = None,
) -> Any:
    """The runs in the store, by sweep then id, as ``isoflop runs`` lists them.

    ``sweep``: only that sweep's runs. ``status``: only runs with these statuses (pending,
    running, done, failed, diverged). One row per run: id, sweep, run (its key), status, N,
    D, C, loss, the other metrics, why it failed, where and when it ran, and its resolved
    training config (a dict). Raises ``FileNotFoundError`` if ``db`` does not exist and
    ``ValueError`` naming the sweeps there are if ``sweep`` is not one of them.
    """
    if isinstance(status, str):
        status = [status]
    text = _isoflop.runs(os.fspath(db), sweep, None if status is None else list(status))
    return _table(json.loads(text), RUN_COLUMNS)


def curves(
    db: PathLike = "isoflop.db",
    sweep: Optional[str] = None,
    *,
    run: Optional[str] = None,
) -> Any:
    """Every evaluation along the finished runs: the loss curves.

    One row per evaluation: run (``sweep/key``), sweep, N, D (tokens so far), C = 6·N·D,
    loss (validation), train_loss, tokens, step. ``run`` picks one run by key or
    ``sweep/key``. Approach 1 reads these: ``isoflop.fit(isoflop.curves(db), approach=1)``.
    """
    text = _isoflop.curves(os.fspath(db), sweep, run)
    return _table(json.loads(text), CURVE_COLUMNS)


def _pandas() -> Any:
    try:
        import pandas
    except ImportError:
        return None
    return pandas


def _table(rows: List[Dict[str, Any]], columns: List[str]) -> Any:
    pd = _pandas()
    if pd is not None:
        return pd.DataFrame.from_records(rows, columns=columns)
    return {c: [r.get(c) for r in rows] for c in columns}

"""Scaling-law fits: :func:`fit`, :class:`Fit`, :func:`load`.

Approach 3 of Hoffmann et al. 2022 ("Training Compute-Optimal Large Language Models",
section 3.3), done as Besiroglu et al. 2024 ("Chinchilla Scaling: A replication attempt")
showed it must be: the summed (not averaged) Huber loss, δ = 1e-3, of log-loss residuals,

    min over E, A, B, α, β of  Σ_i Huber_δ( LSE(e, a − α ln N_i, b − β ln D_i) − ln L_i ),
    L(N, D) = E + A / N^α + B / D^β,   E = exp e, A = exp a, B = exp b,

minimised by L-BFGS from every start of Hoffmann et al.'s grid, in parallel, keeping the
best. Other forms: Kaplan et al. 2020's single-variable laws L(X) = (X_c / X)^α_X (± E) and
joint law L(N, D) = [(N_c / N)^(α_N/α_D) + D_c / D]^α_D; Muennighoff et al. 2023's
data-constrained law in effective parameters and tokens N′, D′; a sigmoid of ln C or of loss
for downstream metrics (Gadre et al. 2024). Approaches 1 (envelope of training curves) and 2
(IsoFLOP parabolas) are there too (``approach=1`` or ``2``).

The work is isoflop-law's, in Rust, on its own threads with the GIL released: a 240-point,
4,500-start fit takes a fraction of a second. A :class:`Fit` is exactly the CLI's fit.json,
so fits move freely between Python and ``isoflop predict/plan --fit fit.json``.
"""

from __future__ import annotations

import html
import json
import os
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple, Union

from . import _isoflop
from ._data import observations
from ._record import Record

PathLike = Union[str, "os.PathLike[str]"]

_APPROACHES = {
    3: "parametric", "3": "parametric", "parametric": "parametric",
    1: "envelope", "1": "envelope", "envelope": "envelope",
    2: "isoflop", "2": "isoflop", "isoflop": "isoflop",
}

# The formula of each form, for reprs and docs (each form's source file in crates/law cites it).
FORMULAS = {
    "chinchilla": "L(N, D) = E + A / N^α + B / D^β  (Hoffmann et al. 2022, eq. 2)",
    "kaplan-n": "L(N) = (N_c / N)^α_N  (Kaplan et al. 2020, eq. 1.1)",
    "kaplan-d": "L(D) = (D_c / D)^α_D  (Kaplan et al. 2020, eq. 1.2)",
    "kaplan-c": "L(C) = (C_c / C)^α_C  (Kaplan et al. 2020, eq. 1.3)",
    "kaplan-n+E": "L(N) = E + (N_c / N)^α_N  (Kaplan et al. 2020, with an irreducible loss)",
    "kaplan-d+E": "L(D) = E + (D_c / D)^α_D  (Kaplan et al. 2020, with an irreducible loss)",
    "kaplan-c+E": "L(C) = E + (C_c / C)^α_C  (Kaplan et al. 2020, with an irreducible loss)",
    "kaplan-nd": "L(N, D) = [(N_c / N)^(α_N/α_D) + D_c / D]^α_D  (Kaplan et al. 2020, eq. 1.5)",
    "data-constrained": "L = E + A / N′^α + B / D′^β  (Muennighoff et al. 2023, eqs. 5–7)",
    "sigmoid": "metric = floor + (ceiling − floor) · σ(k (ln C − x0))  (Gadre et al. 2024)",
    "sigmoid-loss": "metric = floor + (ceiling − floor) · σ(k (loss − x0))  (Gadre et al. 2024)",
}


class Fit:
    """A fitted scaling law: the CLI's fit.json as a Python object.

    Made by :func:`fit` or :func:`load`. ``params`` are in reported units (E, A, B in
    nats per token; α, β dimensionless; N_c in parameters, D_c in tokens, C_c in FLOPs);
    ``intervals`` are percentile 95% bootstrap intervals (with ``bootstrap=`` > 0), and for
    Chinchilla-like forms ``derived`` holds a = β/(α+β), b = α/(α+β) (N_opt ∝ C^a,
    D_opt ∝ C^b) and G = (αA/(βB))^(1/(α+β)) (Hoffmann et al. 2022, eq. 4).
    """

    __slots__ = ("_native", "_doc")

    def __init__(self, native: "_isoflop.Fit") -> None:
        self._native = native
        self._doc: Dict[str, Any] = json.loads(native.to_json(False))

    # -- what fit.json holds -------------------------------------------------------------
    @property
    def form(self) -> str:
        """The law form (``chinchilla``, ``kaplan-nd``, ``data-constrained``, …)."""
        return self._doc["form"]

    @property
    def formula(self) -> str:
        """The form's formula and the paper it comes from."""
        return FORMULAS.get(self.form, self.form)

    @property
    def params(self) -> Dict[str, float]:
        """Parameters by name, in reported units (a copy)."""
        return dict(self._doc["params"])

    @property
    def intervals(self) -> Dict[str, Tuple[float, float]]:
        """Percentile 95% bootstrap intervals of parameters and derived quantities (empty
        without a bootstrap)."""
        return {k: (v[0], v[1]) for k, v in self._doc["intervals"].items()}

    @property
    def derived(self) -> Dict[str, float]:
        """a = β/(α+β), b = α/(α+β) and G (Chinchilla-like forms; Hoffmann et al. 2022, eq. 4)."""
        return dict(self._doc["derived"])

    @property
    def fixed(self) -> list:
        """Parameters held fixed (not fitted)."""
        return list(self._doc["fixed"])

    @property
    def objective(self) -> float:
        """The minimised summed Huber loss."""
        return self._doc["objective"]

    @property
    def rmse_log(self) -> float:
        """Root mean square of the log-loss residuals."""
        return self._doc["rmse_log"]

    @property
    def r2(self) -> float:
        """Coefficient of determination on log-loss."""
        return self._doc["r2"]

    @property
    def n_rows(self) -> int:
        """Rows fitted."""
        return self._doc["n_rows"]

    @property
    def residuals(self) -> Any:
        """Residual per row (target − prediction in log-loss), in input order, as a numpy array."""
        import numpy as np

        return np.asarray(self._doc["residuals"], dtype=np.float64)

    @property
    def bootstrap_samples(self) -> Any:
        """Bootstrap refits, one row per resample in ``param_order`` (numpy, or None)."""
        import numpy as np

        b = self._doc.get("bootstrap")
        if b is None:
            return None
        return np.asarray(b["samples"], dtype=np.float64).reshape(-1, len(self._doc["param_order"]))

    @property
    def options(self) -> Dict[str, Any]:
        """The options that made the fit (fit.json's ``options``)."""
        return json.loads(json.dumps(self._doc["options"]))

    @property
    def selection(self) -> Optional[Record]:
        """The form selection that chose this fit's form (``select=True``), else None."""
        s = self._doc.get("selection")
        return Record(s) if s is not None else None

    @property
    def holdout(self) -> Optional[list]:
        """Predictions for the held-out rows (``holdout_top=`` / ``holdout_above_compute=``)."""
        h = self._doc.get("holdout")
        return [dict(r) for r in h] if h is not None else None

    @property
    def input(self) -> Optional[str]:
        """The data file, when the fit came from one."""
        return self._doc.get("input")

    @property
    def version(self) -> str:
        """The isoflop version that made the fit."""
        return self._doc["version"]

    def to_dict(self) -> Dict[str, Any]:
        """fit.json as a dict."""
        return json.loads(json.dumps(self._doc))

    def to_json(self) -> str:
        """fit.json's text, exactly as ``isoflop fit -o fit.json`` writes it."""
        return self._native.to_json(True)

    # -- using the law -------------------------------------------------------------------
    def predict(
        self,
        N: Any,
        D: Any,
        interval: Union[bool, str] = False,
        *,
        U: Any = None,
    ) -> Any:
        """Predicted loss L(N, D) for N parameters trained on D tokens (C = 6ND).

        N, D (and U, the unique tokens, for the data-constrained form) broadcast like numpy
        arrays; the result has their broadcast shape (a float for scalars). With
        ``interval=True`` (or ``"law"``) returns ``(loss, lower, upper)``: the percentile 95%
        interval of the law over the bootstrap refits (fit with ``bootstrap=``).
        ``interval="prediction"`` widens it to where a new *run* lands: each bootstrap
        prediction combined with every residual, inflated by √(n/(n − p)).

        A fit made with ``isoflop fit --select --select-average`` (``selection.average``)
        predicts the averaged law, as ``isoflop predict`` does: the weighted mean of its
        candidates' losses, with intervals from the weighted mixture of their draws.
        """
        import numpy as np

        arrays = [np.asarray(N, dtype=np.float64), np.asarray(D, dtype=np.float64)]
        if U is not None:
            arrays.append(np.asarray(U, dtype=np.float64))
        shaped = np.broadcast_arrays(*arrays)
        shape = shaped[0].shape
        flat = [np.ascontiguousarray(a.reshape(-1)) for a in shaped]
        u = flat[2] if U is not None else None

        def out(a: Any) -> Any:
            a = a.reshape(shape)
            return float(a) if a.ndim == 0 else a

        loss = self._native.predict(flat[0], flat[1], u)
        if interval is False or interval is None:
            return out(loss)
        kind = "law" if interval is True else str(interval)
        lo, hi = self._native.interval(flat[0], flat[1], u, kind)
        return out(loss), out(lo), out(hi)

    def plan(
        self,
        compute: Optional[float] = None,
        *,
        target_loss: Optional[float] = None,
        params: Optional[float] = None,
        inference_tokens: Optional[float] = None,
    ) -> Record:
        """A training plan, exactly as ``isoflop plan --json`` gives it.

        - ``compute=C``: the compute-optimal N and D for C FLOPs. For Chinchilla's law in
          closed form (Hoffmann et al. 2022, eq. 4): N_opt = G (C/6)^a, D_opt = G⁻¹ (C/6)^b,
          cross-checked by a numeric search (``numeric_check``); other forms numerically.
        - ``target_loss=L``: the least compute whose optimal loss is L, and its N, D.
        - ``params=N``: the budget at which N parameters is compute-optimal, and its D.
        - ``compute=C, inference_tokens=T``: the N, D minimising training plus inference
          FLOPs 6ND + 2NT at the compute-optimal plan's loss (Sardana et al. 2023, "Beyond
          Chinchilla-Optimal", section 2).
        - ``target_loss=L, inference_tokens=T``: the same, at loss L.

        With bootstrap samples, the plan carries 95% intervals of N_opt, D_opt and the loss.

        A fit holding a model average (``selection.average``) plans ``compute``,
        ``target_loss`` and ``params`` with the weighted-mean loss Σ w_i L_i(N, D), as
        ``isoflop plan`` does (``method`` is ``"average"``, ``average`` lists each member's
        weight, own N_opt and loss at the plan); the inference-aware plans use the chosen form.
        """
        text = self._native.plan(compute, target_loss, params, inference_tokens)
        return Record._from_json(text)

    def save(self, path: PathLike) -> None:
        """Writes fit.json (atomically); ``isoflop predict --fit`` and :func:`load` read it."""
        self._native.save(os.fspath(path))

    # -- Python protocol -----------------------------------------------------------------
    def __eq__(self, other: object) -> bool:
        return isinstance(other, Fit) and self._doc == other._doc

    __hash__ = None  # type: ignore[assignment]

    def __reduce__(self) -> Any:
        return (_from_json, (self.to_json(),))

    def __repr__(self) -> str:
        p = ", ".join(f"{k}={v:.4g}" for k, v in self._doc["params"].items())
        return f"Fit({self.form}: {p}; {self.n_rows} rows, rmse_log={self.rmse_log:.4g})"

    def _repr_html_(self) -> str:
        d = self._doc
        ivs = d["intervals"]
        rows = []
        for name in list(d["param_order"]) + list(d["derived"]):
            v = d["params"].get(name, d["derived"].get(name))
            if name in ivs:
                iv = f"[{ivs[name][0]:.4g}, {ivs[name][1]:.4g}]"
            else:
                iv = "fixed" if name in d["fixed"] else ""
            rows.append(
                f"<tr><td style='text-align:left'>{html.escape(name)}</td>"
                f"<td>{v:.6g}</td><td>{iv}</td></tr>"
            )
        boot = d.get("bootstrap")
        note = f", {boot['resamples']} bootstrap resamples" if boot else ""
        return (
            f"<div><b>isoflop fit</b>: {html.escape(self.form)} on {d['n_rows']} rows"
            f"{html.escape(note)}<br><code>{html.escape(self.formula)}</code>"
            "<table><thead><tr><th>parameter</th><th>value</th><th>95% interval</th></tr>"
            f"</thead><tbody>{''.join(rows)}</tbody></table>"
            f"rmse (log-loss) {d['rmse_log']:.4g}, R² {d['r2']:.4f}, "
            f"{d['starts_at_best']} of {d['starts']} starts reached the best objective</div>"
        )


class ApproachFit(Record):
    """Chinchilla's approach 1 (envelope) or 2 (IsoFLOP profiles), as
    ``isoflop fit --approach envelope|isoflop --json`` prints it: ``n_opt`` and ``d_opt``
    are power laws y = coefficient · C^exponent (Hoffmann et al. 2022, sections 3.1–3.2)."""

    __slots__ = ()

    def optimal(self, compute: Any) -> Tuple[Any, Any]:
        """(N_opt, D_opt) at ``compute`` FLOPs from the fitted power laws (broadcasts)."""
        import numpy as np

        c = np.asarray(compute, dtype=np.float64)
        n, d = self._data["n_opt"], self._data["d_opt"]
        return n["coefficient"] * c ** n["exponent"], d["coefficient"] * c ** d["exponent"]

    def save(self, path: PathLike) -> None:
        """Writes the result as JSON, as ``isoflop fit --approach … -o`` does."""
        path = os.fspath(path)
        tmp = os.path.join(os.path.dirname(path) or ".", f".{os.path.basename(path)}.tmp{os.getpid()}")
        with open(tmp, "w") as f:
            f.write(json.dumps(self._data, indent=2))
        os.replace(tmp, path)


def fit(
    data: Any,
    form: str = "chinchilla",
    *,
    n: str = "N",
    d: str = "D",
    loss: str = "loss",
    c: str = "C",
    u: str = "U",
    metric: str = "metric",
    run: str = "run",
    bootstrap: int = 0,
    seed: int = 0,
    tie_exponents: bool = False,
    fix: Optional[Mapping[str, float]] = None,
    bounds: Optional[Mapping[str, Tuple[Optional[float], Optional[float]]]] = None,
    select: bool = False,
    approach: Union[int, str] = 3,
    irreducible: bool = False,
    huber_delta: float = 1e-3,
    grid_stride: int = 1,
    fit_repetition: bool = False,
    candidates: Sequence[str] = ("chinchilla", "chinchilla-tied", "kaplan-nd"),
    select_quantile: float = 0.8,
    rolling: bool = False,
    select_by: str = "sizes",
    holdout_top: Optional[int] = None,
    holdout_above_compute: Optional[float] = None,
    budget_tolerance: float = 0.1,
    envelope_points: int = 250,
    calibrate_intervals: bool = False,
) -> Any:
    """Fits a scaling law to (N, D, loss) observations; the Python face of ``isoflop fit``.

    ``data``: a pandas DataFrame, a dict of arrays, or a path to a .csv/.jsonl file, with
    columns named by ``n``, ``d``, ``loss`` (and optionally ``c`` FLOPs, ``u`` unique tokens,
    ``metric``, ``run``). Approach 3 (the default) minimises the summed Huber loss
    (δ = ``huber_delta``, Hoffmann et al.'s 1e-3) of log-loss residuals of ``form`` with
    L-BFGS from every start of the form's grid (every ``grid_stride``-th), e.g. for
    Chinchilla's L(N, D) = E + A/N^α + B/D^β (Hoffmann et al. 2022; Besiroglu et al. 2024).

    - ``bootstrap=k``, ``seed``: k resampled refits give percentile 95% intervals.
    - ``tie_exponents``: α = β. ``fix={"E": 1.69}``: hold parameters. ``bounds={"alpha":
      (0, 1)}``: bound them (either side None). ``irreducible``: add E to a kaplan-n/d/c form.
    - ``select=True``: choose among ``candidates`` (a form name, ``-tied`` for α = β) by the
      error on held-out runs: ``select_by="sizes"`` (every run of the largest model, then of
      the two largest), ``"compute"`` (above the ``select_quantile`` of compute) or
      ``"rolling"`` (each compute decade predicts the next; ``rolling=True`` says the same).
      The simplest candidate within one standard error of the best mean error wins
      (``Fit.selection["decision"]`` says why); it is refitted on all rows.
    - ``holdout_top=k`` / ``holdout_above_compute=C``: fit without the largest runs and
      record how well it predicts them (``Fit.holdout``).
    - ``calibrate_intervals=True``: widen the prediction interval with the distance beyond the
      fitted range (in log N and log D), calibrated on leave-largest-out refits, as ``isoflop
      fit --calibrate-intervals`` does (``Fit.predict(..., kind="run")`` then covers larger
      runs about as often as it says; docs/fitting.md has the coverage).
    - ``approach=1`` (envelope of training curves, needs ``run``) or ``2`` (IsoFLOP
      parabolas per budget, ±``budget_tolerance``) returns an :class:`ApproachFit`.

    Returns a :class:`Fit` (approach 3). Raises ``FileNotFoundError`` for a missing file,
    ``ValueError`` naming the row and column of a bad value, a missing column or a bad
    option, ``RuntimeError`` if no start reaches a finite optimum. The GIL is released
    while fitting.
    """
    kind = _APPROACHES.get(approach)
    if kind is None:
        raise ValueError(f"approach {approach!r}: expected 1 (envelope), 2 (isoflop) or 3 (parametric)")
    names = {"n": n, "d": d, "loss": loss, "c": c, "u": u, "metric": metric, "run": run,
             "step": "step", "tokens": "tokens"}
    obs = observations(data, names)
    if kind != "parametric":
        text = _isoflop.fit_approach(
            obs, kind, bootstrap=_count("bootstrap", bootstrap), seed=_count("seed", seed),
            budget_tolerance=float(budget_tolerance), envelope_points=_count("envelope_points", envelope_points),
        )
        return ApproachFit._from_json(text)
    native = _isoflop.fit(
        obs,
        form,
        irreducible=bool(irreducible),
        huber_delta=float(huber_delta),
        bootstrap=_count("bootstrap", bootstrap),
        seed=_count("seed", seed),
        grid_stride=_count("grid_stride", grid_stride),
        fix={str(k): float(v) for k, v in (fix or {}).items()},
        tie_exponents=bool(tie_exponents),
        bounds=_bounds(bounds),
        fit_repetition=bool(fit_repetition),
        select_form=bool(select),
        candidates=[str(x) for x in candidates],
        select_quantile=float(select_quantile),
        rolling=bool(rolling),
        select_by=str(select_by),
        holdout_above_compute=None if holdout_above_compute is None else float(holdout_above_compute),
        holdout_top=None if holdout_top is None else _count("holdout_top", holdout_top),
        calibrate_intervals=bool(calibrate_intervals),
    )
    return Fit(native)


def load(path: PathLike) -> Fit:
    """Reads a fit.json written by ``isoflop fit -o`` or :meth:`Fit.save`."""
    return Fit(_isoflop.load(os.fspath(path)))


def _from_json(text: str) -> Fit:
    return Fit(_isoflop.from_json(text))


def _count(name: str, v: Any) -> int:
    if isinstance(v, bool) or int(v) != v or v < 0:
        raise ValueError(f"{name} must be a whole number >= 0, got {v!r}")
    return int(v)


def _bounds(bounds: Optional[Mapping[str, Any]]) -> Dict[str, Tuple[Optional[float], Optional[float]]]:
    out: Dict[str, Tuple[Optional[float], Optional[float]]] = {}
    for k, v in (bounds or {}).items():
        try:
            lo, hi = v
        except (TypeError, ValueError):
            raise ValueError(f"bounds[{k!r}]: expected (lower, upper) with None for an open side, got {v!r}") from None
        out[str(k)] = (None if lo is None else float(lo), None if hi is None else float(hi))
    return out

"""Type stubs of the native module `isoflop._isoflop` (private: use the `isoflop` package)."""

from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import numpy.typing as npt

VERSION: str

class Observations:
    """Validated (N, D, loss, ...) rows and where they came from."""

    def __len__(self) -> int: ...

def read_file(path: str, names: Mapping[str, str]) -> Observations: ...
def from_columns(
    source: str,
    found: Sequence[str],
    names: Mapping[str, str],
    columns: Mapping[str, object],
    labels: Optional[Sequence[str]] = None,
) -> Observations: ...

class Fit:
    """A fitted law: isoflop-law's Fit, exactly what fit.json holds."""

    @property
    def form(self) -> str: ...
    def to_json(self, pretty: bool = True) -> str: ...
    def save(self, path: str) -> None: ...
    def predict(
        self,
        n: npt.NDArray[np.float64],
        d: npt.NDArray[np.float64],
        u: Optional[npt.NDArray[np.float64]] = None,
    ) -> npt.NDArray[np.float64]: ...
    def interval(
        self,
        n: npt.NDArray[np.float64],
        d: npt.NDArray[np.float64],
        u: Optional[npt.NDArray[np.float64]] = None,
        kind: str = "law",
    ) -> Tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]: ...
    def plan(
        self,
        compute: Optional[float] = None,
        target_loss: Optional[float] = None,
        params: Optional[float] = None,
        inference_tokens: Optional[float] = None,
    ) -> str: ...

def fit(
    obs: Observations,
    form: str,
    *,
    irreducible: bool,
    huber_delta: float,
    bootstrap: int,
    seed: int,
    grid_stride: int,
    fix: Dict[str, float],
    tie_exponents: bool,
    bounds: Dict[str, Tuple[Optional[float], Optional[float]]],
    fit_repetition: bool,
    select_form: bool,
    candidates: List[str],
    select_quantile: float,
    rolling: bool,
    select_by: str,
    holdout_above_compute: Optional[float],
    holdout_top: Optional[int],
) -> Fit: ...
def fit_approach(
    obs: Observations,
    approach: str,
    *,
    bootstrap: int,
    seed: int,
    budget_tolerance: float,
    envelope_points: int,
) -> str: ...
def load(path: str) -> Fit: ...
def from_json(text: str, what: str = "fit.json text") -> Fit: ...
def runs(db: str, sweep: Optional[str] = None, status: Optional[List[str]] = None) -> str: ...
def curves(db: str, sweep: Optional[str] = None, run: Optional[str] = None) -> str: ...
def estimate(spec: str) -> str: ...
def presets() -> Tuple[List[str], List[str]]: ...

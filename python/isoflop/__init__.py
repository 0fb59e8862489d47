"""isoflop: scaling laws for language models, from Python.

Fit Chinchilla- and Kaplan-style laws to (N, D, loss) runs, plan compute-optimal models,
estimate what a model costs to train and serve, and read the runs of an isoflop sweep, all
backed by the isoflop Rust crates (the same code as the ``isoflop`` command line, whose
fit.json, ``--json`` outputs and error messages these functions share).

>>> import isoflop
>>> f = isoflop.fit("examples/chinchilla_synthetic.csv")          # doctest: +SKIP
>>> f.params["alpha"], f.predict(7e9, 1.4e12)                      # doctest: +SKIP
>>> f.plan(compute=5.76e23).n_opt                                  # doctest: +SKIP

- :func:`fit` → :class:`Fit` (``.params``, ``.intervals``, ``.predict``, ``.plan``,
  ``.save``), :func:`load`;
- :func:`estimate` → :class:`Estimate`, :func:`presets`;
- :func:`runs`, :func:`curves`: the run store as DataFrames.
"""

from ._isoflop import VERSION as __version__
from ._record import Record
from ._estimate import Estimate, estimate, presets
from ._fit import ApproachFit, Fit, fit, load
from ._store import curves, runs

__all__ = [
    "__version__",
    "ApproachFit",
    "Estimate",
    "Fit",
    "Record",
    "curves",
    "estimate",
    "fit",
    "load",
    "presets",
    "runs",
]

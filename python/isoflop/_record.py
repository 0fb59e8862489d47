"""Structured results: a plan, an estimate, an approach 1 or 2 fit.

A :class:`Record` is the JSON object the CLI prints with ``--json``, readable as attributes
(``plan.n_opt``) or as a mapping (``plan["n_opt"]``); :meth:`Record.to_dict` gives the
plain dict back.
"""

from __future__ import annotations

import copy
import html
import json
from typing import Any, Dict, Iterator, Mapping


class Record(Mapping[str, Any]):
    """A read-only JSON object with attribute access; nested objects are Records too."""

    __slots__ = ("_data",)

    def __init__(self, data: Mapping[str, Any]) -> None:
        object.__setattr__(self, "_data", dict(data))

    @classmethod
    def _from_json(cls, text: str) -> "Record":
        return cls(json.loads(text))

    def __getattr__(self, name: str) -> Any:
        try:
            return _wrap(self._data[name])
        except KeyError:
            raise AttributeError(
                f"{type(self).__name__} has no field {name!r} (fields: {', '.join(self._data)})"
            ) from None

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is read-only")

    def __getitem__(self, key: str) -> Any:
        return _wrap(self._data[key])

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __dir__(self) -> list:
        return sorted(set(super().__dir__()) | set(self._data))

    def to_dict(self) -> Dict[str, Any]:
        """The plain dict, exactly the JSON the CLI prints with ``--json`` (a deep copy)."""
        return copy.deepcopy(self._data)

    def to_json(self, indent: int | None = 2) -> str:
        """The JSON text."""
        return json.dumps(self._data, indent=indent)

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={_short(v)}" for k, v in self._data.items())
        return f"{type(self).__name__}({fields})"

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><th style='text-align:left'>{html.escape(k)}</th>"
            f"<td style='text-align:left'>{html.escape(_short(v, 120))}</td></tr>"
            for k, v in self._data.items()
        )
        return f"<table><caption>{type(self).__name__}</caption>{rows}</table>"


def _wrap(v: Any) -> Any:
    if isinstance(v, dict):
        return Record(v)
    return v


def _short(v: Any, width: int = 40) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    text = json.dumps(v) if isinstance(v, (dict, list)) else repr(v)
    return text if len(text) <= width else text[: width - 1] + "…"

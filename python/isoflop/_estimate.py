"""What a model costs to train, store and serve: :func:`estimate`, :func:`presets`.

The Python face of ``isoflop estimate``: the same resolution (defaults → preset or file →
arguments) and the same arithmetic (isoflop-cost), and a result whose :meth:`Estimate.to_dict`
is exactly what ``isoflop estimate --json`` prints. Parameters are counted exactly (to the
checkpoints); training FLOPs by PaLM's 6N + 12·L·H·Q·s per token by default (Chowdhery et
al. 2022, appendix B); memory per GPU under tensor, pipeline and data parallelism with ZeRO
(Rajbhandari et al. 2020) and Korthikanti et al. 2022's activation counts; time at the
hardware's peak times an MFU; serving memory and latency from the KV cache and the weights'
bytes; bytes as GB (1e9) and GiB (2^30), each labelled.
"""

from __future__ import annotations

import json
import os
from typing import Any, Dict, List, Mapping, Optional, Union

from . import _isoflop
from ._record import Record


class Estimate(Record):
    """One model's estimate (or, with ``ladder=True``, the size ladder): ``model``,
    ``flops``, ``layout``, ``memory``, ``time``, ``serving``, ``storage``, … as
    ``isoflop estimate --json`` prints them; ``to_dict()`` gives that JSON as a dict."""

    __slots__ = ()


def estimate(
    model: Union[str, "os.PathLike[str]", Mapping[str, Any], None] = None,
    *,
    gpu: Optional[str] = None,
    gpus: Optional[int] = None,
    tokens: Optional[float] = None,
    tp: Optional[int] = None,
    pp: Optional[int] = None,
    zero: Optional[int] = None,
    **options: Any,
) -> Estimate:
    """Estimates training and serving cost, as ``isoflop estimate --json`` does.

    ``model``: a preset (see :func:`presets`), a path to a shape .toml or a Hugging Face
    ``config.json``, or a dict of shape fields (``family``, ``n_layer``, ``d_model``,
    ``n_head``, ``n_kv_heads``, ``d_ff``, ``vocab``, ``context``, ``tied_embeddings``).
    ``gpu``: a hardware preset (default ``h100-sxm``) or a hardware .toml; ``gpus``: how
    many; ``tokens``: training tokens (default 20 per parameter, Hoffmann et al. 2022);
    ``tp``, ``pp``, ``zero``: tensor- and pipeline-parallel sizes and the ZeRO stage.

    Every other ``isoflop estimate`` flag is a keyword of the same name with ``_`` for
    ``-``: ``nodes``, ``gpus_per_node``, ``mfu``, ``tokens_per_second``, ``convention``
    (``palm``, ``chinchilla``, ``six-n``), ``recipe`` (``fp32``, ``bf16-adam``,
    ``adam8bit``), ``dp``, ``recompute``, ``micro_batch``, ``seq``, ``global_batch``,
    ``interleave``, ``sequence_parallel``, ``flash_attention``, ``search``, ``top``,
    ``ladder``, ``sizes``, ``infer_precision``, ``kv_precision``, ``group_size``,
    ``batch``, ``prompt``, ``generate``, ``infer_gpus``, and ``shape`` (a dict of shape
    fields overriding the model's). Arguments left at None take the CLI's defaults.

    Raises ``ValueError`` naming the argument (as its CLI flag) for a bad value, an
    unknown preset or an impossible layout, and ``FileNotFoundError`` for a missing file.
    """
    spec: Dict[str, Any] = {}
    if model is not None:
        spec["model"] = dict(model) if isinstance(model, Mapping) else os.fspath(model)
    given = {"gpu": gpu, "gpus": gpus, "tokens": tokens, "tp": tp, "pp": pp, "zero": zero}
    given.update(options)
    for k, v in given.items():
        if v is not None:
            spec[k] = _plain(v)
    return Estimate._from_json(_isoflop.estimate(json.dumps(spec)))


def presets() -> Dict[str, List[str]]:
    """The named models and GPUs :func:`estimate` knows: ``{"models": […], "gpus": […]}``.
    ``train-rung-<k>`` stands for the trainer's size ladder (``train-rung-0``, ``-1``, …)."""
    models, gpus = _isoflop.presets()
    return {"models": list(models), "gpus": list(gpus)}


def _plain(v: Any) -> Any:
    """numpy scalars and tuples as the JSON the spec reads."""
    if hasattr(v, "item") and callable(v.item):
        return v.item()
    if isinstance(v, tuple):
        return [_plain(x) for x in v]
    if isinstance(v, Mapping):
        return {k: _plain(x) for k, x in v.items()}
    return v

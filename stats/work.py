"""Work units of the statistics stage, for ``pipeline.executors``.

A :class:`StatsChunk` is one (subject, alignment, model, chunk of permutations or
resamples): the arrays it needs and the rows of the index array it covers. :func:`run_chunk`
is a module-level function (picklable for process pools and dask) that runs it. Because
the index rows are part of the unit, concatenating the results of the chunks in order gives
exactly the result of the whole index array, whatever executor ran them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .bootstrap import bootstrap_scores
from .compare import paired_permutation_null
from .resampling import chunks
from .signal import signal_null

__all__ = ["StatsChunk", "run_chunk", "split_chunks", "KINDS"]

#: What a chunk computes: the signal null (``"null"``, mode fast/refit), the bootstrap
#: (``"bootstrap"``, returns (test_r, val_r)), or the paired-comparison null (``"paired"``).
KINDS = ("null", "bootstrap", "paired")


@dataclass
class StatsChunk:
    """One unit of statistics work.

    Attributes
    ----------
    kind : {"null", "bootstrap", "paired"}
    key : tuple
        Identifies the unit, e.g. (subject, alignment, model, chunk number); not used in
        the computation.
    index : array, shape (n_rows, n_events)
        This chunk's rows of the permutations, resamples or swaps.
    Y : array, shape (n_events, n_targets)
    mode : {"fast", "refit"}
        For ``null`` and ``bootstrap``.
    folds : sequence of Fold, optional
    predictions : array, shape (n_events, n_targets), optional
        ``null``/``bootstrap`` in fast mode.
    engine : CVEngine, optional
        Refit mode.
    extra : dict
        ``paired``: ``pred_a``, ``pred_b``, ``union``.
    block : int, optional
        ``null`` in fast mode: the block size of ``fold_permutations`` (enables the
        block-pair shortcut of :func:`stats.signal.fast_permutation_null`).
    device : str
    """

    kind: str
    key: tuple
    index: np.ndarray
    Y: np.ndarray
    mode: str = "fast"
    folds: Any = None
    predictions: np.ndarray | None = None
    engine: Any = None
    extra: dict = field(default_factory=dict)
    block: int | None = None
    device: str = "cpu"


def run_chunk(chunk: StatsChunk):
    """Compute one :class:`StatsChunk` (see :data:`KINDS` for what is returned)."""
    if chunk.kind == "null":
        return signal_null(chunk.mode, chunk.Y, chunk.index, folds=chunk.folds,
                           predictions=chunk.predictions, engine=chunk.engine,
                           block=chunk.block, device=chunk.device)
    if chunk.kind == "bootstrap":
        return bootstrap_scores(chunk.mode, chunk.Y, chunk.index, folds=chunk.folds,
                                predictions=chunk.predictions, engine=chunk.engine,
                                device=chunk.device)
    if chunk.kind == "paired":
        x = chunk.extra
        return paired_permutation_null(x["pred_a"], x["pred_b"], chunk.Y, chunk.folds,
                                       chunk.index, x["union"], device=chunk.device)
    raise ValueError(f"unknown chunk kind {chunk.kind!r}; expected one of {KINDS}")


def split_chunks(template: StatsChunk, index: np.ndarray, size: int) -> list[StatsChunk]:
    """Copies of ``template`` over consecutive row chunks of ``index`` (see ``chunks``)."""
    index = np.asarray(index)
    return [StatsChunk(**{**template.__dict__, "index": index[sl],
                          "key": (*template.key, i)})
            for i, sl in enumerate(chunks(index.shape[0], size))]

"""The pipeline's cross-validation rules, shared by the encode and stats stages.

What is fitted (:func:`encoded_models`), on which folds (:func:`response_folds`: contiguous
folds purged by ``encoding.gap_s`` around every held-out stretch, with sessions kept apart),
and how long a permutation block is (:func:`block_length`). Both stages call these, so the
folds of the fits, of the nulls and of the paired tests are the same.
"""

from __future__ import annotations

import numpy as np

from mmsites.encoding.folds import contiguous_folds

from .params import Params

#: Seconds added between sessions on the fold time axis: sessions never share samples.
_SESSION_SEPARATION_S = 1e7


def encoded_models(params: Params) -> list[str]:
    """Ids of everything the encode stage fits: the models and the configured baselines."""
    return [m.id for m in params.models] + params.baseline_ids()


def gap_seconds(params: Params) -> float:
    """``encoding.gap_s`` in seconds (``auto``: the span one response reads)."""
    gap = params.encoding.gap_s
    if gap == "auto":
        rp = params.responses
        return float(rp.tmax_s - rp.tmin_s + rp.window_s)
    return float(gap)


def event_times(resp: dict) -> np.ndarray:
    """Event times (s) on one axis for all sessions of a responses file: movie time, with
    sessions pushed far apart so no gap ever spans two recordings."""
    session = np.asarray(resp["event_session"])
    rank = np.cumsum(np.r_[0, session[1:] != session[:-1]]) if session.size else session
    return np.asarray(resp["event_movie_time"], dtype=float) + _SESSION_SEPARATION_S * rank


def response_folds(params: Params, resp: dict) -> list:
    """The folds of one responses file (``read_responses`` output, ``data`` not needed)."""
    n_events = resp["shape"][0]
    gap = gap_seconds(params)
    try:
        return contiguous_folds(n_events, params.encoding.folds, times=event_times(resp), gap_s=gap)
    except ValueError as err:
        raise ValueError(f"encoding.folds={params.encoding.folds}, encoding.gap_s={gap:g}: {err}") from None


def block_length(params: Params, event_movie_time: np.ndarray) -> int:
    """Events per permutation block: ``stats.block_events``, or ``stats.block_s`` seconds of
    movie time divided by the median spacing of the events (at least 2)."""
    sp = params.stats
    if sp.block_events is not None:
        return sp.block_events
    gaps = np.diff(np.asarray(event_movie_time, dtype=float))
    gaps = gaps[gaps > 0]
    spacing = float(np.median(gaps)) if gaps.size else sp.block_s
    return max(2, int(round(sp.block_s / spacing)))

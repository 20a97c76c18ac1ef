"""What the encoding models predict for each response kind: the targets of one responses file.

Time-resolved kinds (``voltage``, ``band_power``, ``spectrogram``) are encoded as they are:
one target per electrode and bin (and band, for ``spectrogram``: band-major within each
electrode), the same matrix in every fold. The ``brainbert`` kind's responses are
embeddings (events x electrodes x hidden dimensions); their targets are each electrode's
first ``responses.brainbert.components`` principal components, the PCA fitted on every
fold's training events only (:func:`mmsites.encoding.targets.fold_pca_targets`), so that no
held-out event shapes the targets it is scored on. Each fold then has its own target matrix
(what :meth:`mmsites.encoding.ridge.CVEngine.fit` gets as a list), and the out-of-fold
predictions are compared with ``held_out``: each event's targets from the fold in which it is
held out. The encode and stats stages both call :func:`encoding_targets`, so the fits, the
nulls and the paired tests see the same targets.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from mmsites.encoding.targets import fold_pca_targets

from .params import Params

#: Kinds whose responses are embeddings (events x units x dimensions), reduced per fold.
EMBEDDING_KINDS = ("brainbert", "popt")


def components(params: Params, kind: str) -> int:
    """Principal components kept per unit for an embedding kind.

    Parameters
    ----------
    params : Params
        Validated params.
    kind : {"brainbert", "popt"}
        The kind.

    Returns
    -------
    int
        ``responses.brainbert.components`` or ``responses.popt.components``.
    """
    return params.responses.popt.components if kind == "popt" else params.responses.brainbert.components


@dataclass(frozen=True)
class EncodingTargets:
    """The targets of one (subject, alignment, kind).

    Attributes
    ----------
    fit : ndarray or list of ndarray, each (n_events, n_targets)
        What the CV engine fits: one matrix, or one per fold (``brainbert``).
    held_out : ndarray, shape (n_events, n_targets)
        What the out-of-fold predictions are compared with (the fast nulls, the fast
        bootstrap and the paired tests): ``fit`` itself, or each event's row from the fold
        that holds it out.
    electrodes : list of str, length n_electrodes
        The electrodes, in the order of the targets (electrode-major).
    n_per_electrode : int
        Targets per electrode (bins, bands x bins, or components); ``n_targets =
        n_electrodes * n_per_electrode``.
    times : ndarray of float, shape (n_per_electrode,)
        Bin centre of each target (s from event onset); NaN for components.
    unit : {"bin", "component"}
        What one target of an electrode is.
    bands : list of str or None
        The band of each target of an electrode (``"70-150 Hz"``), ``spectrogram`` only.
    """

    fit: object
    held_out: np.ndarray
    electrodes: list
    n_per_electrode: int
    times: np.ndarray
    unit: str
    bands: list | None = None


def target_labels(resp: dict, n_per_electrode: int) -> tuple[np.ndarray, list | None]:
    """Time (s) and band of each target of an electrode, from a responses file's tables.

    Parameters
    ----------
    resp : dict
        :func:`pipeline.io.read_responses` output (``data=False`` is enough).
    n_per_electrode : int
        Targets per electrode (:func:`target_shape`).

    Returns
    -------
    times : ndarray of float, shape (n_per_electrode,)
        Bin centre of each target (s from onset); NaN for ``brainbert`` components.
    bands : list of str or None
        ``"<low>-<high> Hz"`` per target for ``spectrogram`` (band-major); None otherwise.
    """
    if resp["bin_times"] is None:
        return np.full(n_per_electrode, np.nan), None
    times = np.asarray(resp["bin_times"], dtype=float)
    if resp["kind"] != "spectrogram":
        return times, None
    bands = json.loads(resp["attrs"]["bands_hz"])
    labels = [f"{low:g}-{high:g} Hz" for low, high in bands for _ in times]
    return np.tile(times, len(bands)), labels


def target_shape(params: Params, resp: dict) -> tuple[int, int]:
    """Electrodes and targets per electrode of a responses file, without reading its data.

    Parameters
    ----------
    params : Params
        Validated params; ``responses.brainbert.components`` matters for ``brainbert``.
    resp : dict
        :func:`pipeline.io.read_responses` output (``data=False`` is enough).

    Returns
    -------
    n_electrodes, n_per_electrode : int
        Electrodes, and bins (time-resolved kinds) or components (``brainbert``) per
        electrode.
    """
    shape = resp["shape"]
    if resp["kind"] in EMBEDDING_KINDS:
        return shape[1], components(params, resp["kind"])
    return shape[1], int(np.prod(shape[2:]))


def encoding_targets(params: Params, resp: dict, folds) -> EncodingTargets:
    """The targets of one responses file for the given folds.

    Parameters
    ----------
    params : Params
        Validated params; ``responses.brainbert.components`` matters for ``brainbert``.
    resp : dict
        :func:`pipeline.io.read_responses` output, with its data.
    folds : list of Fold
        The folds (:func:`pipeline.cv.response_folds` of the same file).

    Returns
    -------
    EncodingTargets
        The targets; time-resolved kinds give ``fit is held_out``.

    Raises
    ------
    ValueError
        If ``responses.brainbert.components`` exceeds what a fold's training events allow
        (the message names the param).
    """
    responses = resp["responses"]
    n_events = responses.shape[0]
    if resp["kind"] not in EMBEDDING_KINDS:
        Y = responses.reshape(n_events, -1)  # electrode-major, then band, then bin
        n_per = Y.shape[1] // responses.shape[1]
        times, bands = target_labels(resp, n_per)
        return EncodingTargets(Y, Y, list(resp["electrodes"]), n_per, times, "bin", bands)
    k = components(params, resp["kind"])
    try:
        reduced = fold_pca_targets(responses, folds, k)
    except ValueError as err:
        raise ValueError(f"responses.{resp['kind']}.components={k}: {err}") from None
    return EncodingTargets(
        list(reduced.per_fold), reduced.held_out, list(resp["electrodes"]), k, np.full(k, np.nan), "component"
    )


def min_signal(params: Params, kind: str) -> int:
    """Signal targets an electrode needs for a model to count, for one response kind.

    Parameters
    ----------
    params : Params
        Validated params; ``stats.min_signal_bins`` and ``stats.min_signal_components``
        matter.
    kind : str
        Response kind.

    Returns
    -------
    int
        ``stats.min_signal_components`` for ``brainbert`` and ``popt`` (targets are
        components), else
        ``stats.min_signal_bins``.
    """
    return params.stats.min_signal_components if kind in EMBEDDING_KINDS else params.stats.min_signal_bins

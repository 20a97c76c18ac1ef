"""Stage ``decode``: Neuroprobe-style decoding of what the movie shows from the recordings.

For every subject, its first selected session (within-session splits, as Neuroprobe's
"within session" scheme) is decoded on every task of ``decoding.tasks`` (from the movie's
``transcripts/<movie>/features.csv`` and its scene cuts, :mod:`mmsites.decoding.tasks`) and of
``decoding.feature_tasks`` (top vs bottom quartile of one model feature at the events of an
alignment: on the demo the truth models' features are the planted latents), from every
representation of ``decoding.representations``:

- ``voltage``: the preprocessed voltage (notch, re-reference, as the responses stage) averaged in
  ``decoding.bin_s`` bins over ``[0, decoding.window_s)`` after each event, every electrode;
- ``band_power``: its power in ``responses.band_hz`` in the same bins (µV²);
- ``brainbert``: the BrainBERT embedding (``responses.brainbert``) of each electrode, the 5 s
  window centred on the middle of ``[0, window_s)``;
- ``popt``: the CLS token of a frozen PopT (``responses.popt``) over those embeddings, with each
  electrode's (L, I, P) coordinates from ``localization/sub_<s>/depth-wm.csv`` (electrodes
  without coordinates are left out of it).

Each representation is computed once per subject for the union of the tasks' event times;
events whose windows leave the recording are dropped (and counted). A linear probe (logistic
regression, C chosen by inner CV on the training part) is scored by ROC-AUC on the test folds
(contiguous in time, purged by the span each representation reads, so no window is on both
sides), with a moving-block bootstrap interval (:func:`mmsites.decoding.probes.decode`).
Writes ``results/decoding.csv``: one row per (subject, task, split, representation).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from mmsites.brainmodels.popt import lip_coordinates
from mmsites.brainmodels.responses import WINDOW_S as BRAINBERT_WINDOW_S
from mmsites.brainmodels.responses import event_embeddings
from mmsites.decoding import build_tasks, decode, decoding_table, within_session_splits
from mmsites.decoding.tasks import balance, quartile_labels
from mmsites.recordings.braintreebank import BrainTreebank, estimate_sfreq, movie_to_sample
from mmsites.recordings.responses import event_responses

from ..io import read_events, write_csv
from ..neural_models import brainbert_model, popt_model
from ..params import Params
from ..paths import Layout
from ..sessions import clean_electrodes, list_sessions

log = logging.getLogger(__name__)

#: The split scheme of every row this stage writes (cross-session and cross-subject: not yet).
SPLIT = "within_session"


def task_tables(params: Params, layout: Layout, dataset: BrainTreebank, movie: str) -> dict:
    """The labelled event tables of every task of one movie.

    Parameters
    ----------
    params : Params
        Validated params; ``decoding`` matters.
    layout : Layout
        The file layout (the events and features of the movie).
    dataset : BrainTreebank
        The dataset (the movie's transcript).
    movie : str
        Movie id.

    Returns
    -------
    dict of str to DataFrame
        Task name -> ``time_s`` (movie seconds), ``label`` (0/1), balanced; tasks whose
        contrast the movie lacks (a class is empty) are left out with a warning.
    """
    dp = params.decoding
    wanted = list(dp.tasks)
    if "scene_cut" in wanted and "vision" not in params.events.alignments:
        log.warning("decoding task 'scene_cut' left out: events.alignments has no 'vision' (the scene cuts)")
        wanted.remove("scene_cut")
    words = dataset.transcript(movie) if any(t != "scene_cut" for t in wanted) else None
    cuts = (
        read_events(layout.events(movie, "vision"))["movie_time"].to_numpy()
        if "scene_cut" in wanted
        else None
    )
    tables = {}
    for task in wanted:
        try:
            tables.update(
                build_tasks(
                    words,
                    cuts,
                    tasks=[task],
                    seed=dp.seed,
                    max_per_class=dp.max_per_class,
                    window_s=dp.window_s,
                    pad_s=dp.pad_s,
                    step_s=dp.step_s,
                )
            )
        except ValueError as err:
            log.warning("%s: decoding task %r left out: %s", movie, task, err)
    for spec in dp.feature_tasks:
        events = read_events(layout.events(movie, spec.alignment))
        features = np.load(layout.features(spec.model, movie, spec.alignment), mmap_mode="r")
        if spec.dim >= features.shape[1]:
            raise ValueError(
                f"decoding.feature_tasks: {spec.model!r} has {features.shape[1]} features; dim {spec.dim} "
                "does not exist"
            )
        try:
            tables[spec.name] = balance(
                events["movie_time"].to_numpy(),
                quartile_labels(np.asarray(features[:, spec.dim])),
                seed=dp.seed,
                max_per_class=dp.max_per_class,
                task=spec.name,
            )
        except ValueError as err:
            log.warning("%s: decoding task %r left out: %s", movie, spec.name, err)
    return tables


def representation(
    params: Params,
    kind: str,
    recording,
    electrodes,
    neighbours,
    samples,
    model=None,
    *,
    popt=None,
    coords=None,
    keep_shape: bool = False,
):
    """One representation of the windows starting at ``samples``, every electrode.

    Parameters
    ----------
    params : Params
        Validated params; ``decoding`` and ``responses`` (filters, band, BrainBERT) matter.
    kind : {"voltage", "band_power", "brainbert", "popt"}
        The representation.
    recording : Recording
        The open session.
    electrodes : list of str
        Electrodes (:func:`pipeline.sessions.clean_electrodes`).
    neighbours : dict
        Their Laplacian neighbours.
    samples : ndarray of int64, shape (n_events,)
        Where each event's window starts (neural samples).
    model : BrainBERT, optional
        Needed for ``brainbert`` and ``popt``.
    popt : PopT, optional
        Needed for ``popt``.
    coords : DataFrame, optional
        The subject's localization table (indexed by electrode; ``L``, ``I``, ``P``), needed
        for ``popt``.
    keep_shape : bool
        ``brainbert`` only: return ``(embeddings (n_kept, n_electrodes, hidden), electrode
        labels)`` instead of the flattened features.

    Returns
    -------
    X : ndarray of float32, shape (n_kept, n_features)
        Electrodes x bins (µV or µV²), electrodes x hidden dimensions, or PopT's CLS token,
        per kept event; electrodes excluded for non-finite samples are left out of the
        BrainBERT features.
    kept : ndarray of bool, shape (n_events,)
        Which events have a row.
    """
    rp, dp = params.responses, params.decoding
    common = dict(
        notch_hz=tuple(rp.notch_hz),
        notch_q=rp.notch_q,
        highpass_hz=rp.highpass_hz,
        chunk_s=rp.chunk_s,
        progress=False,
    )
    if kind == "popt":
        located = [e for e in electrodes if e in coords.index]
        if len(located) < len(electrodes):
            log.warning(
                "%d electrode(s) without coordinates left out of PopT: %s",
                len(electrodes) - len(located),
                sorted(set(electrodes) - set(located)),
            )
        values, kept = representation(
            params, "brainbert", recording, located, neighbours, samples, model=model, keep_shape=True
        )
        emb, names = values
        lip = lip_coordinates(coords.loc[names])
        cls = popt.tokens(emb, np.broadcast_to(lip, (len(emb), *lip.shape)))[:, 0]
        return cls.astype(np.float32), kept
    if kind == "brainbert":
        shift = int(round(dp.window_s / 2 * recording.sfreq))  # the window's middle
        result = event_embeddings(
            recording,
            electrodes,
            neighbours,
            samples + shift,
            model,
            layer=rp.brainbert.layer,
            rereference=None if rp.rereference == "none" else rp.rereference,
            batch_size=rp.brainbert.batch_size,
            bf16=rp.brainbert.bf16,
            **common,
        )
        good = [i for i, e in enumerate(electrodes) if e not in set(result.excluded)]
        values = result.embeddings[:, good]
        if keep_shape:
            return (values, [electrodes[i] for i in good]), result.kept
        return values.reshape(len(values), -1), result.kept
    result = event_responses(
        recording,
        electrodes,
        neighbours,
        samples,
        window_s=dp.bin_s,
        step_s=dp.bin_s,
        tmin_s=dp.bin_s / 2,
        tmax_s=dp.window_s - dp.bin_s / 2,
        rereference=rp.rereference,
        n_jobs=rp.n_jobs,
        kind=kind,
        band_hz=tuple(rp.band_hz),
        **common,
    )
    return result.responses.reshape(len(result.responses), -1), result.kept


def span_s(params: Params, kind: str) -> float:
    """Seconds of signal one event's features read: the purge gap of the splits.

    Parameters
    ----------
    params : Params
        Validated params; ``decoding.window_s`` matters.
    kind : str
        The representation.

    Returns
    -------
    float
        ``decoding.window_s``, or BrainBERT's 5 s window (``brainbert``, ``popt``).
    """
    return BRAINBERT_WINDOW_S if kind in ("brainbert", "popt") else params.decoding.window_s


def subject_results(
    params: Params, layout: Layout, dataset: BrainTreebank, session, model=None, popt=None
) -> dict:
    """Decode every task from every representation of one session.

    Parameters
    ----------
    params : Params
        Validated params.
    layout : Layout
        The file layout.
    dataset : BrainTreebank
        The dataset.
    session : Session
        The subject's session (:func:`pipeline.sessions.list_sessions`).
    model : BrainBERT, optional
        Needed when ``decoding.representations`` holds ``brainbert`` or ``popt``.
    popt : PopT, optional
        Needed when ``decoding.representations`` holds ``popt``.

    Returns
    -------
    dict
        ``(subject, task, split, representation) -> DecodeResult``.
    """
    dp = params.decoding
    tables = task_tables(params, layout, dataset, session.movie)
    if not tables:
        log.warning("sub_%d: no decoding task could be built", session.subject)
        return {}
    timings = dataset.timings(session.subject, session.trial)
    sfreq = estimate_sfreq(timings)
    times = np.unique(np.concatenate([t["time_s"].to_numpy() for t in tables.values()]))
    sample = movie_to_sample(times, timings, sfreq)
    inside = np.isfinite(sample)
    electrodes, neighbours = clean_electrodes(params, dataset, session.subject)
    coords = dataset.localization(session.subject) if "popt" in dp.representations else None
    out = {}
    with dataset.open_recording(session.subject, session.trial) as recording:
        for kind in dp.representations:
            X, kept = representation(
                params,
                kind,
                recording,
                electrodes,
                neighbours,
                sample[inside].astype(np.int64),
                model,
                popt=popt,
                coords=coords,
            )
            row_of = np.full(len(times), -1)
            row_of[np.flatnonzero(inside)[kept]] = np.arange(len(X))
            for task, table in tables.items():
                rows = row_of[np.searchsorted(times, table["time_s"].to_numpy())]
                use = rows >= 0
                if (~use).any():
                    log.info(
                        "sub_%d %s %s: %d of %d events dropped (window outside the recording)",
                        session.subject,
                        task,
                        kind,
                        int((~use).sum()),
                        len(use),
                    )
                y = table["label"].to_numpy()[use]
                t = table["time_s"].to_numpy()[use]
                try:
                    splits = within_session_splits(t, n_folds=dp.folds, window_s=span_s(params, kind))
                    # small problems: one BLAS thread is faster than two that contend
                    with threadpool_limits(1):
                        out[(session.subject, task, SPLIT, kind)] = decode(
                            X[rows[use]], y, t, splits, n_boot=dp.n_boot, seed=dp.seed
                        )
                except ValueError as err:
                    log.warning("sub_%d %s %s: not decoded: %s", session.subject, task, kind, err)
                    continue
                summary = out[(session.subject, task, SPLIT, kind)].summary()
                log.info(
                    "sub_%d %s from %s: AUC %.3f [%.3f, %.3f] (%d test events)",
                    session.subject,
                    task,
                    kind,
                    summary["auc"],
                    summary["auc_lo"],
                    summary["auc_hi"],
                    summary["n_test"],
                )
    return out


def run(params: Params, workdir: Path) -> None:
    """Run the decode stage for every subject.

    Reads, under ``data.root``, each subject's first selected session (recording, triggers,
    electrode labels), the movie's ``transcripts/<movie>/features.csv``; the events stage's
    ``work/events/<movie>_vision.parquet`` (scene cuts) and, for feature tasks,
    ``work/events/<movie>_<alignment>.parquet`` and ``work/features/<model>/``. Writes
    ``results/decoding.csv`` (:data:`mmsites.decoding.table.TABLE_COLUMNS`).

    Parameters
    ----------
    params : Params
        Validated params; ``decoding``, ``responses`` and ``data`` matter.
    workdir : Path
        The working directory every path above is relative to.

    Raises
    ------
    FileNotFoundError
        If an events, features or dataset file is missing.
    """
    layout = Layout(workdir, params)
    dataset = BrainTreebank(layout.data_root)
    sessions = list_sessions(params, layout)
    reps = set(params.decoding.representations)
    model = brainbert_model(params) if reps & {"brainbert", "popt"} else None
    popt = popt_model(params) if "popt" in reps else None
    results = {}
    for subject in params.data.subjects:
        first = next(s for s in sessions if s.subject == subject)
        results.update(subject_results(params, layout, dataset, first, model, popt))
    table = (
        decoding_table(results)
        if results
        else pd.DataFrame(columns=["subject", "task", "split", "representation"])
    )
    write_csv(table, layout.results / "decoding.csv")

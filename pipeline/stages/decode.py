"""Stage ``decode``: Neuroprobe-style decoding of what the movie shows from the recordings.

Every subject is decoded, in each split scheme of ``decoding.splits`` that applies (Neuroprobe's
three), on every task of ``decoding.tasks`` (from the movie's
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
  without coordinates are left out of it);
- ``popt_finetuned``: that PopT with a new head on its CLS token, fine-tuned end to end on each
  split's training events (:func:`mmsites.brainmodels.popt_finetune.finetune_popt`,
  ``decoding.finetune``; its step chosen on the last inner fold's validation events).

The split schemes (:mod:`mmsites.decoding.splits`):

- ``within_session``: the subject's first selected session, contiguous purged folds in time;
- ``cross_session``: train on one selected session of the subject, test on another (every
  ordered pair; the electrodes both sessions kept), where a subject has two or more
  (``data.trials``). Brain Treebank trials are different movies, so each session's events come
  from its own movie's tables;
- ``cross_subject``: train on one subject's first session, test on another's (every ordered
  pair, the row under the test subject), for the representations in a shared space (``popt``,
  ``popt_finetuned``: per-electrode features of different subjects do not correspond).

Each representation is computed once per session for the union of its tasks' event times;
events whose windows leave the recording are dropped (and counted). A linear probe (logistic
regression, C chosen by inner CV on the training part) is scored by ROC-AUC on the test folds
(within a session contiguous in time and purged by the span each representation reads, so no
window is on both sides), with a moving-block bootstrap interval
(:func:`mmsites.decoding.probes.decode`). Writes ``results/decoding.csv``: one row per
(subject, task, split, representation).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from mmsites.brainmodels.popt import lip_coordinates
from mmsites.brainmodels.popt_finetune import finetune_popt
from mmsites.brainmodels.responses import WINDOW_S as BRAINBERT_WINDOW_S
from mmsites.brainmodels.responses import event_embeddings
from mmsites.decoding import (
    build_tasks,
    cross_session_splits,
    cross_subject_splits,
    decode,
    decoding_table,
    within_session_splits,
)
from mmsites.decoding.probes import ProbeFit
from mmsites.decoding.tasks import balance, quartile_labels
from mmsites.recordings.braintreebank import movie_to_sample
from mmsites.recordings.responses import event_responses

from ..io import load_array, read_events, write_csv
from ..neural_models import POPULATION, brainbert_model, located_electrodes, popt_model, population_code
from ..params import Params
from ..paths import Layout
from ..sessions import clean_electrodes, list_sessions, movie_words, open_dataset, preprocessing_kwargs

log = logging.getLogger(__name__)

#: Representations in a space shared by subjects (cross-subject splits apply to them only).
SHARED_SPACE = ("popt", "popt_finetuned")
#: Representations read from each electrode's BrainBERT embeddings.
BRAINBERT_REPRESENTATIONS = ("brainbert", "popt", "popt_finetuned")


def task_tables(params: Params, layout: Layout, dataset, movie: str) -> dict:
    """The labelled event tables of every task of one movie.

    Parameters
    ----------
    params : Params
        Validated params; ``decoding`` matters.
    layout : Layout
        The file layout (the events and features of the movie).
    dataset : BrainTreebank or BidsIEEG
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
    words = movie_words(params, layout, dataset, movie) if any(t != "scene_cut" for t in wanted) else None
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
        path = layout.features(spec.model, movie, spec.alignment)
        features = load_array(path, "features file", mmap_mode="r")
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


@dataclass
class SessionFeatures:
    """One representation of one session's events.

    Attributes
    ----------
    values : ndarray of float32, shape (n_kept, n_units, width)
        Per kept event: each electrode's bins (voltage, band power: µV, µV²) or embedding
        (``brainbert``, ``popt_finetuned``: BrainBERT's), or PopT's CLS token (``popt``: one
        unit, ``"population"``).
    units : list of str
        The units (electrodes, or ``["population"]``).
    row_of : ndarray of int64, shape (n_times,)
        Row of ``values`` of each of the session's event times, -1 where the event was dropped.
    lip : ndarray of int64, shape (n_units, 3) or None
        The units' (L, I, P) coordinates (``popt_finetuned``).
    """

    values: np.ndarray
    units: list
    row_of: np.ndarray
    lip: np.ndarray | None = None

    def take(self, rows: np.ndarray, units: list | None = None) -> np.ndarray:
        """The features of some events and units, flattened.

        Parameters
        ----------
        rows : ndarray of int64, shape (n,)
            Rows of :attr:`values`.
        units : list of str, optional
            Units to keep, in this order; default all.

        Returns
        -------
        ndarray of float32, shape (n, len(units) * width)
            ``values[rows]`` of those units, flattened per event.
        """
        v = self.values[rows]
        if units is not None and units != self.units:
            pos = {u: i for i, u in enumerate(self.units)}
            v = v[:, [pos[u] for u in units]]
        return v.reshape(len(v), -1)


def session_features(
    params: Params, dataset, session, times: np.ndarray, kinds, model=None, popt=None
) -> dict:
    """Every representation in ``kinds`` of one session's events.

    Parameters
    ----------
    params : Params
        Validated params; ``decoding`` and ``responses`` (filters, band, BrainBERT) matter.
    dataset : BrainTreebank or BidsIEEG
        The dataset.
    session : Session
        The session.
    times : ndarray of float64, shape (n_times,)
        Sorted unique event times (movie seconds); each window starts there.
    kinds : iterable of str
        Representations (``decoding.representations``).
    model : BrainBERT, optional
        Needed for the embedding kinds.
    popt : PopT, optional
        Needed for ``popt``.

    Returns
    -------
    dict of str to SessionFeatures
        Representation -> its features of the session's events.
    """
    dp, rp = params.decoding, params.responses
    kinds = list(kinds)
    timings = dataset.timings(session.subject, session.trial)
    sfreq = dataset.sfreq(session.subject, session.trial)
    sample = movie_to_sample(times, timings, sfreq)
    inside = np.flatnonzero(np.isfinite(sample))
    samples = sample[inside].astype(np.int64)
    electrodes, neighbours = clean_electrodes(params, dataset, session.subject)
    common = dict(progress=False, **preprocessing_kwargs(params))

    def _rows(kept: np.ndarray) -> np.ndarray:
        row_of = np.full(len(times), -1, dtype=np.int64)
        row_of[inside[kept]] = np.arange(int(kept.sum()))
        return row_of

    out = {}
    with dataset.open_recording(session.subject, session.trial) as recording:
        for kind in (k for k in kinds if k in ("voltage", "band_power")):
            result = event_responses(
                recording,
                electrodes,
                neighbours,
                samples,
                window_s=dp.bin_s,
                step_s=dp.bin_s,
                tmin_s=dp.bin_s / 2,
                tmax_s=dp.window_s - dp.bin_s / 2,
                n_jobs=rp.n_jobs,
                kind=kind,
                band_hz=tuple(rp.band_hz),
                **common,
            )
            out[kind] = SessionFeatures(result.responses, list(result.electrodes), _rows(result.kept))
        if not set(kinds) & set(BRAINBERT_REPRESENTATIONS):
            return out
        if set(kinds) & set(SHARED_SPACE):
            coords = dataset.localization(session.subject)
        shift = int(round(dp.window_s / 2 * recording.sfreq))  # the window's middle
        result = event_embeddings(
            recording,
            electrodes,
            neighbours,
            samples + shift,
            model,
            layer=rp.brainbert.layer,
            batch_size=rp.brainbert.batch_size,
            bf16=rp.brainbert.bf16,
            **common,
        )
    good = [i for i, e in enumerate(electrodes) if e not in set(result.excluded)]
    row_of = _rows(result.kept)
    if "brainbert" in kinds:
        out["brainbert"] = SessionFeatures(result.embeddings[:, good], [electrodes[i] for i in good], row_of)
    if "popt" in kinds:
        cls = population_code(result.embeddings, electrodes, result.excluded, coords, popt)
        out["popt"] = SessionFeatures(cls, [POPULATION], row_of)
    if "popt_finetuned" in kinds:
        placed = set(located_electrodes(electrodes, coords, subject=session.subject))
        keep = [i for i in good if electrodes[i] in placed]
        names = [electrodes[i] for i in keep]
        emb = np.ascontiguousarray(result.embeddings[:, keep])
        out["popt_finetuned"] = SessionFeatures(emb, names, row_of, lip_coordinates(coords.loc[names]))
    return out


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
        ``decoding.window_s``, or BrainBERT's 5 s window (the embedding kinds).
    """
    return BRAINBERT_WINDOW_S if kind in BRAINBERT_REPRESENTATIONS else params.decoding.window_s


@dataclass
class _Part:
    """One session's events of one task in one representation (the rows a split combines)."""

    key: tuple  # (subject, trial)
    features: SessionFeatures
    rows: np.ndarray  # rows of features.values
    y: np.ndarray
    t: np.ndarray


def _parts(
    tables: dict, times: np.ndarray, features: SessionFeatures, key: tuple, task: str, kind: str
) -> _Part | None:
    table = tables.get(task)
    if table is None:
        return None
    rows = features.row_of[np.searchsorted(times, table["time_s"].to_numpy())]
    use = rows >= 0
    if (~use).any():
        log.info(
            "sub_%d trial %d %s %s: %d of %d events dropped (window outside the recording)",
            *key,
            task,
            kind,
            int((~use).sum()),
            len(use),
        )
    return _Part(key, features, rows[use], table["label"].to_numpy()[use], table["time_s"].to_numpy()[use])


def _finetune_probe(params: Params, popt, parts: list[_Part]):
    """A ``probe`` for :func:`decode` that fine-tunes PopT: X holds event numbers into ``parts``."""
    fp = params.decoding.finetune
    bounds = np.cumsum([0] + [len(p.rows) for p in parts])

    def source(idx: np.ndarray) -> tuple[int, np.ndarray]:
        which = np.searchsorted(bounds, idx, side="right") - 1
        if np.unique(which).size != 1:
            raise ValueError("a PopT fine-tuning split must train on one recording and test on one")
        k = int(which[0])
        return k, parts[k].rows[idx - bounds[k]]

    def probe(X, y, split) -> ProbeFit:
        fit, val = (np.asarray(i, dtype=np.int64) for i in split.inner[-1])
        k, fit_rows = source(fit)
        k_val, val_rows = source(val)
        k_test, test_rows = source(np.asarray(split.test, dtype=np.int64))
        if k_val != k:
            raise ValueError("PopT fine-tuning needs its fit and validation events from one recording")
        train_part, test_part = parts[k], parts[k_test]
        # the training recording's embeddings, indexed by rows; labels per row
        labels = np.zeros(len(train_part.features.values), np.int64)
        labels[fit_rows], labels[val_rows] = y[fit], y[val]
        same = k_test == k
        result = finetune_popt(
            popt,
            train_part.features.values,
            train_part.features.lip,
            labels,
            fit_rows,
            val_rows,
            test_rows,
            steps=fp.steps,
            batch_size=fp.batch_size,
            head_lr=fp.head_lr,
            encoder_lr=fp.encoder_lr,
            eval_every=fp.eval_every,
            seed=params.decoding.seed,
            test_embeddings=None if same else test_part.features.values,
            test_coords=None if same else test_part.features.lip,
        )
        return ProbeFit(
            C=float(result.step),
            inner_auc=np.array([result.val_auc]),
            Cs=np.array([float(result.step)]),
            scores=result.scores,
            model=None,
        )

    return probe


def _decode_parts(params: Params, kind: str, parts: list[_Part], split: str, popt, label: str):
    """Decode one task from one representation over ``parts`` (one per recording) in one scheme."""
    dp = params.decoding
    y = np.concatenate([p.y for p in parts])
    t = np.concatenate([p.t for p in parts])
    keys = [p.key for p in parts]
    rec = np.concatenate([np.full(len(p.y), i) for i, p in enumerate(parts)])
    span = span_s(params, kind)
    if split == "within_session":
        splits = within_session_splits(t, n_folds=dp.folds, window_s=span)
    elif split == "cross_session":
        splits = cross_session_splits(rec, t, window_s=span)
    else:
        subjects = np.array([keys[i][0] for i in rec])
        test_subject = keys[-1][0]
        splits = cross_subject_splits(
            subjects, t, pairs=[(k[0], test_subject) for k in keys[:-1]], window_s=span
        )
    if kind == "popt_finetuned":
        X = np.arange(len(y), dtype=np.float64)[:, None]  # event numbers: the probe reads the embeddings
        probe = _finetune_probe(params, popt, parts)
    else:
        units = parts[0].features.units
        if split == "cross_session":  # the electrodes every session kept
            units = [u for u in units if all(u in p.features.units for p in parts)]
        X = np.concatenate([p.features.take(p.rows, units) for p in parts])
        probe = None
    with threadpool_limits(1):  # small problems: one BLAS thread is faster than two that contend
        result = decode(X, y, t, splits, groups=rec, n_boot=dp.n_boot, seed=dp.seed, probe=probe)
    summary = result.summary()
    log.info(
        "%s from %s (%s): AUC %.3f [%.3f, %.3f] (%d test events)",
        label,
        kind,
        split,
        summary["auc"],
        summary["auc_lo"],
        summary["auc_hi"],
        summary["n_test"],
    )
    return result


def _wanted(params: Params, kind: str, task: str) -> bool:
    tasks = params.decoding.finetune.tasks
    return kind != "popt_finetuned" or tasks is None or task in tasks


def subject_results(params: Params, layout: Layout, dataset, sessions, model=None, popt=None):
    """Decode every task from every representation of one subject, within and across its sessions.

    Parameters
    ----------
    params : Params
        Validated params.
    layout : Layout
        The file layout.
    dataset : BrainTreebank or BidsIEEG
        The dataset.
    sessions : list of Session
        The subject's selected sessions (:func:`pipeline.sessions.list_sessions`), first first.
    model : BrainBERT, optional
        Needed for the embedding representations.
    popt : PopT, optional
        Needed for ``popt`` and ``popt_finetuned``.

    Returns
    -------
    results : dict
        ``(subject, task, split, representation) -> DecodeResult``.
    parts : dict
        ``(task, representation) -> _Part`` of the first session (for the cross-subject splits).
    """
    dp = params.decoding
    subject = sessions[0].subject
    n_sessions = len(sessions) if "cross_session" in dp.splits else 1
    per_session = []
    for session in sessions[:n_sessions]:
        tables = task_tables(params, layout, dataset, session.movie)
        if not tables:
            log.warning("sub_%d trial %d: no decoding task could be built", subject, session.trial)
            continue
        times = np.unique(np.concatenate([t["time_s"].to_numpy() for t in tables.values()]))
        feats = session_features(params, dataset, session, times, dp.representations, model, popt)
        per_session.append((session, tables, times, feats))
    results, first_parts = {}, {}
    if not per_session:
        return results, first_parts
    tasks = list(dict.fromkeys(task for _, tables, _, _ in per_session for task in tables))
    for task in tasks:
        for kind in dp.representations:
            if not _wanted(params, kind, task):
                continue
            parts = [
                part
                for session, tables, times, feats in per_session
                if (part := _parts(tables, times, feats[kind], (subject, session.trial), task, kind))
                is not None
            ]
            if parts and parts[0].key == (subject, per_session[0][0].trial):
                first_parts[(task, kind)] = parts[0]
            schemes = [("within_session", parts[:1])] if "within_session" in dp.splits and parts else []
            if "cross_session" in dp.splits and len(parts) >= 2:
                schemes.append(("cross_session", parts))
            for split, use in schemes:
                try:
                    results[(subject, task, split, kind)] = _decode_parts(
                        params, kind, use, split, popt, f"sub_{subject} {task}"
                    )
                except ValueError as err:
                    log.warning("sub_%d %s %s (%s): not decoded: %s", subject, task, kind, split, err)
    return results, first_parts


def cross_subject_results(params: Params, parts_of: dict, popt=None) -> dict:
    """Cross-subject decoding: train on each other subject's first session, test on each subject's.

    Parameters
    ----------
    params : Params
        Validated params.
    parts_of : dict
        Subject -> ``(task, representation) -> _Part`` (:func:`subject_results`' second output).
    popt : PopT, optional
        Needed for ``popt_finetuned``.

    Returns
    -------
    dict
        ``(test subject, task, "cross_subject", representation) -> DecodeResult``.
    """
    out = {}
    subjects = list(parts_of)
    if "cross_subject" not in params.decoding.splits or len(subjects) < 2:
        return out
    for kind in (k for k in params.decoding.representations if k in SHARED_SPACE):
        tasks = dict.fromkeys(task for s in subjects for (task, k) in parts_of[s] if k == kind)
        for task in tasks:
            for test in subjects:
                if (task, kind) not in parts_of[test]:
                    continue
                others = [
                    parts_of[s][(task, kind)] for s in subjects if s != test and (task, kind) in parts_of[s]
                ]
                if not others:
                    continue
                if kind == "popt_finetuned" and len(others) > 1:
                    others = others[:1]  # one training recording per fine-tuned model
                try:
                    out[(test, task, "cross_subject", kind)] = _decode_parts(
                        params,
                        kind,
                        [*others, parts_of[test][(task, kind)]],
                        "cross_subject",
                        popt,
                        f"sub_{test} {task}",
                    )
                except ValueError as err:
                    log.warning("sub_%d %s %s (cross_subject): not decoded: %s", test, task, kind, err)
    return out


def run(params: Params, workdir: Path) -> None:
    """Run the decode stage for every subject.

    Reads, under ``data.root``, each subject's selected sessions (recording, triggers,
    electrode labels; all of them only for ``cross_session``), the movies'
    ``transcripts/<movie>/features.csv``; the events stage's
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
    dataset = open_dataset(params, layout)
    sessions = list_sessions(params, layout)
    reps = set(params.decoding.representations)
    model = brainbert_model(params) if reps & set(BRAINBERT_REPRESENTATIONS) else None
    popt = popt_model(params) if reps & set(SHARED_SPACE) else None
    results, parts_of = {}, {}
    for subject in params.data.subjects:
        mine = [s for s in sessions if s.subject == subject]
        found, parts_of[subject] = subject_results(params, layout, dataset, mine, model, popt)
        results.update(found)
    results.update(cross_subject_results(params, parts_of, popt))
    table = (
        decoding_table(results)
        if results
        else pd.DataFrame(columns=["subject", "task", "split", "representation"])
    )
    write_csv(table, layout.results / "decoding.csv")

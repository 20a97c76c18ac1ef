"""Stage ``responses``: event-locked neural responses per subject and alignment.

For each subject, the electrodes are selected once (trigger and corrupted channels dropped;
Laplacian needs both shaft neighbours), then every trial is streamed through the notch filter,
the re-reference and the binning around its movie's events. The trials that ``data.trials``
selects (by default only the first trial of each subject) are pooled in that order into
``work/responses/sub-<s>_<alignment>.h5``, with each event's trial in ``event_session``. When
more than one session is pooled, each session's responses are demeaned per target (electrode x
bin), so that a slow offset between sessions cannot pass for an effect; the file's attribute
``session_demeaned`` says whether that was done. One session is written as binned.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from mmsites.recordings.braintreebank import BrainTreebank, estimate_sfreq, movie_to_sample, select_electrodes
from mmsites.recordings.responses import event_responses

from ..io import read_events, write_responses
from ..params import Params
from ..paths import Layout
from ..sessions import list_sessions

log = logging.getLogger(__name__)


def demean_sessions(responses: np.ndarray, event_session: np.ndarray) -> np.ndarray:
    """Subtract from each session's events that session's mean response, per target.

    Parameters
    ----------
    responses : ndarray, shape (n_events, ...)
        Responses; modified in place (float32 stays float32; the means are taken in float64).
    event_session : ndarray of int, shape (n_events,)
        Session (trial) of each event.

    Returns
    -------
    ndarray
        ``responses``, each session's rows now of mean ~0 for every target.

    Raises
    ------
    ValueError
        If ``event_session`` does not have one entry per event.
    """
    event_session = np.asarray(event_session)
    if event_session.shape != responses.shape[:1]:
        raise ValueError(
            f"event_session has shape {event_session.shape}; responses have {responses.shape[0]} events"
        )
    for session in np.unique(event_session):
        rows = np.flatnonzero(event_session == session)
        mean = responses[rows].mean(axis=0, dtype=np.float64)
        if rows.size and rows[-1] - rows[0] + 1 == rows.size:  # contiguous: subtract in place
            responses[rows[0] : rows[-1] + 1] -= mean.astype(responses.dtype)
        else:
            responses[rows] -= mean.astype(responses.dtype)
    return responses


def subject_responses(
    params: Params, layout: Layout, dataset: BrainTreebank, subject: int, trials: list, alignment: str
) -> dict:
    """Responses of one subject to the events of one alignment, pooled over its trials.

    Parameters
    ----------
    params : Params
        Validated params; the ``responses`` section matters (windows, filters,
        re-referencing).
    layout : Layout
        The file layout; each trial's ``work/events/<movie>_<alignment>.parquet`` is read.
    dataset : BrainTreebank
        The dataset under ``data.root``: electrode labels, corrupted channels, trigger
        timings and recordings.
    subject : int
        Subject number.
    trials : list of Session
        The subject's selected sessions, in pooling order
        (:func:`pipeline.sessions.list_sessions`).
    alignment : {"language", "vision"}
        Event alignment.

    Returns
    -------
    dict
        The keyword arguments of :func:`pipeline.io.write_responses` but ``path`` and
        ``attrs``: ``responses`` (float32, events x electrodes x bins, µV; each session
        demeaned per target when several are pooled), ``electrodes``, ``bin_times``
        (seconds), ``event_movie_time`` (seconds), ``event_sample`` (int64 samples),
        ``event_movie``, ``event_session`` (trial of each event) and ``sfreq`` (Hz, of the
        first trial). Events outside a trial's triggers are dropped.

    Raises
    ------
    ValueError
        If no electrode is left after dropping trigger and corrupted channels (and, with the
        Laplacian, those without both neighbours).
    FileNotFoundError
        If an events file is missing (the events stage has not run).
    """
    rp = params.responses
    electrodes, neighbours = select_electrodes(
        dataset.labels(subject), dataset.corrupted(subject), rereference=rp.rereference
    )
    if not electrodes:
        laplacian = " and those without both Laplacian neighbours" if rp.rereference == "laplacian" else ""
        raise ValueError(
            f"sub_{subject}: no electrode is left after dropping trigger and corrupted channels{laplacian}"
        )
    parts, movie_times, samples, event_movies, sessions, sfreqs = [], [], [], [], [], []
    bin_times = None
    for session in trials:
        events = read_events(layout.events(session.movie, alignment))
        timings = dataset.timings(subject, session.trial)
        sfreq = estimate_sfreq(timings)
        sample = movie_to_sample(events["movie_time"].to_numpy(), timings, sfreq)
        inside = np.isfinite(sample)
        if (~inside).any():
            log.warning(
                "sub_%d trial%03d %s: %d of %d events fall outside the triggers and are dropped",
                subject,
                session.trial,
                alignment,
                int((~inside).sum()),
                len(inside),
            )
        with dataset.open_recording(subject, session.trial) as recording:
            result = event_responses(
                recording,
                electrodes,
                neighbours,
                sample[inside].astype(np.int64),
                window_s=rp.window_s,
                step_s=rp.step_s,
                tmin_s=rp.tmin_s,
                tmax_s=rp.tmax_s,
                notch_hz=tuple(rp.notch_hz),
                notch_q=rp.notch_q,
                rereference=rp.rereference,
                highpass_hz=rp.highpass_hz,
                baseline_s=rp.baseline_s,
                chunk_s=rp.chunk_s,
                n_jobs=rp.n_jobs,
            )
        kept = np.flatnonzero(inside)[result.kept]
        parts.append(result.responses)
        movie_times.append(events["movie_time"].to_numpy()[kept])
        samples.append(sample[kept].astype(np.int64))
        event_movies.extend([session.movie] * len(kept))
        sessions.append(np.full(len(kept), session.trial, dtype=np.int64))
        sfreqs.append(sfreq)
        bin_times = result.bin_times
        log.info(
            "sub_%d trial%03d %s: %d events x %d electrodes (sfreq %.0f Hz)",
            subject,
            session.trial,
            alignment,
            len(kept),
            len(electrodes),
            sfreq,
        )
    responses = np.concatenate(parts, axis=0)
    event_session = np.concatenate(sessions)
    if len(trials) > 1:
        demean_sessions(responses, event_session)
        log.info(
            "sub_%d %s: %d sessions pooled (trials %s); each demeaned per electrode and bin",
            subject,
            alignment,
            len(trials),
            [s.trial for s in trials],
        )
    return dict(
        responses=responses,
        electrodes=list(electrodes),
        bin_times=bin_times,
        event_movie_time=np.concatenate(movie_times),
        event_sample=np.concatenate(samples),
        event_movie=event_movies,
        event_session=event_session,
        sfreq=sfreqs[0],
    )


def run(params: Params, workdir: Path) -> None:
    """Run the responses stage for every subject and alignment.

    Reads ``work/events/<movie>_<alignment>.parquet`` and, under ``data.root``, each
    selected trial's recording (``all_subject_data/sub_<s>_trial<t>.h5``) and trigger
    timings (``subject_timings/sub_<s>_trial<t>_timings.csv``), the electrode labels
    (``electrode_labels/sub_<s>/electrode_labels.json``) and ``corrupted_elec.json``. Writes
    ``work/responses/sub-<s>_<alignment>.h5`` per subject and alignment, its attributes
    recording the preprocessing, the trials and whether sessions were demeaned.

    Parameters
    ----------
    params : Params
        Validated params; ``data`` (root, subjects, trials), ``events.alignments`` and
        ``responses`` matter.
    workdir : Path
        The working directory every path above is relative to.

    Raises
    ------
    ValueError
        If the selected sessions cannot be found, or a subject has no usable electrode.
    FileNotFoundError
        If an events file is missing.
    """
    layout = Layout(workdir, params)
    dataset = BrainTreebank(layout.data_root)
    sessions = list_sessions(params, layout)
    rp = params.responses
    for subject in params.data.subjects:
        trials = [s for s in sessions if s.subject == subject]
        for alignment in params.events.alignments:
            out = subject_responses(params, layout, dataset, subject, trials, alignment)
            write_responses(
                layout.responses(subject, alignment),
                **out,
                attrs={
                    "rereference": rp.rereference,
                    "highpass_hz": rp.highpass_hz or 0.0,
                    "baseline_s": list(rp.baseline_s) if rp.baseline_s else [],
                    "notch_hz": list(rp.notch_hz),
                    "trials": [s.trial for s in trials],
                    "session_demeaned": len(trials) > 1,
                },
            )

"""Stage ``responses``: event-locked neural responses per subject and alignment.

For each subject, the electrodes are selected once (trigger and corrupted channels dropped;
Laplacian needs both shaft neighbours), then every trial is streamed through the notch filter,
the re-reference and the binning around its movie's events. The trials that ``data.trials``
selects (by default only the first trial of each subject) are pooled in that order into
``work/responses/sub-<s>_<alignment>.h5``, with each event's trial in ``event_session``. When
more than one session is pooled, each session's responses are demeaned per target (electrode x
bin), so that a slow offset between sessions cannot pass for an effect; the file's attribute
``session_demeaned`` says whether that was done. One session is written as binned.

``responses.kind`` chooses what each bin averages: the preprocessed voltage (µV, the study)
or its power in ``responses.band_hz`` (µV², high gamma by default; causal band-pass, squared,
windows moved by the filter's group delay, see :mod:`mmsites.recordings.responses`). The file
records it in the attributes ``kind``, ``band_hz`` (``[]`` for voltage) and ``band_delay_s``
(the delay applied, in seconds; 0 for voltage), so every later stage can tell one from the
other.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from mmsites.recordings.braintreebank import BrainTreebank, estimate_sfreq, movie_to_sample
from mmsites.recordings.responses import event_responses

from ..io import read_events, write_responses
from ..params import Params
from ..paths import Layout
from ..sessions import clean_electrodes, list_sessions

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


def check_band(params: Params, sfreqs: dict) -> None:
    """Refuse a ``responses.band_hz`` that some session cannot carry (band power only).

    Parameters
    ----------
    params : Params
        Validated params; ``responses.kind`` and ``responses.band_hz`` matter.
    sfreqs : dict
        Sampling rate (Hz) of each session, keyed by a name used in the message (e.g.
        ``"sub_1 trial000"``).

    Raises
    ------
    ValueError
        If ``kind`` is ``"band_power"`` and the band's upper edge is not below the Nyquist
        frequency of the session with the lowest sampling rate; names ``responses.band_hz``.
    """
    rp = params.responses
    if rp.kind != "band_power" or not sfreqs:
        return
    name = min(sfreqs, key=sfreqs.get)
    nyquist = sfreqs[name] / 2.0
    if not rp.band_hz[1] < nyquist:
        raise ValueError(
            f"responses.band_hz {list(rp.band_hz)}: the upper edge must be below the Nyquist "
            f"frequency {nyquist:g} Hz of {name} (sampled at {sfreqs[name]:g} Hz); lower it"
        )


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
        ``attrs``: ``responses`` (float32, events x electrodes x bins, µV or, for
        ``responses.kind: band_power``, µV²; each session demeaned per target when several
        are pooled), ``electrodes``, ``bin_times`` (seconds), ``event_movie_time``
        (seconds), ``event_sample`` (int64 samples), ``event_movie``, ``event_session``
        (trial of each event) and ``sfreq`` (Hz, of the first trial); plus
        ``band_delay_s``, the delay the windows were moved by (s, of the first trial; 0 for
        voltage), which is not an argument of ``write_responses`` but an attribute. Events
        outside a trial's triggers are dropped.

    Raises
    ------
    ValueError
        If no electrode is left after dropping trigger and corrupted channels (and, with the
        Laplacian, those without both neighbours), or ``responses.band_hz`` reaches a
        trial's Nyquist frequency.
    FileNotFoundError
        If an events file is missing (the events stage has not run).
    """
    rp = params.responses
    electrodes, neighbours = clean_electrodes(params, dataset, subject)
    parts, movie_times, samples, event_movies, sessions, sfreqs, delays = [], [], [], [], [], [], []
    bin_times = None
    for session in trials:
        events = read_events(layout.events(session.movie, alignment))
        timings = dataset.timings(subject, session.trial)
        sfreq = estimate_sfreq(timings)
        check_band(params, {f"sub_{subject} trial{session.trial:03d}": sfreq})
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
                kind=rp.kind,
                band_hz=tuple(rp.band_hz),
            )
        kept = np.flatnonzero(inside)[result.kept]
        parts.append(result.responses)
        movie_times.append(events["movie_time"].to_numpy()[kept])
        samples.append(sample[kept].astype(np.int64))
        event_movies.extend([session.movie] * len(kept))
        sessions.append(np.full(len(kept), session.trial, dtype=np.int64))
        sfreqs.append(sfreq)
        delays.append(result.delay_samples / sfreq)
        bin_times = result.bin_times
        log.info(
            "sub_%d trial%03d %s: %d events x %d electrodes (sfreq %.0f Hz, %s)",
            subject,
            session.trial,
            alignment,
            len(kept),
            len(electrodes),
            sfreq,
            rp.kind,
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
        band_delay_s=delays[0],
    )


def run(params: Params, workdir: Path) -> None:
    """Run the responses stage for every subject and alignment.

    Reads ``work/events/<movie>_<alignment>.parquet`` and, under ``data.root``, each
    selected trial's recording (``all_subject_data/sub_<s>_trial<t>.h5``) and trigger
    timings (``subject_timings/sub_<s>_trial<t>_timings.csv``), the electrode labels
    (``electrode_labels/sub_<s>/electrode_labels.json``) and ``corrupted_elec.json``. Writes
    ``work/responses/sub-<s>_<alignment>.h5`` per subject and alignment, its attributes
    recording the preprocessing, the kind of response (``kind``, ``band_hz``,
    ``band_delay_s``), the trials and whether sessions were demeaned.

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
        If the selected sessions cannot be found, a subject has no usable electrode, or
        ``responses.band_hz`` reaches the Nyquist frequency of a session (checked on every
        session before any is read).
    FileNotFoundError
        If an events file is missing.
    """
    layout = Layout(workdir, params)
    dataset = BrainTreebank(layout.data_root)
    sessions = list_sessions(params, layout)
    rp = params.responses
    if rp.kind == "band_power":  # the lowest sampling rate first: fail before hours of work
        check_band(
            params,
            {
                f"sub_{s.subject} trial{s.trial:03d}": estimate_sfreq(dataset.timings(s.subject, s.trial))
                for s in sessions
            },
        )
    for subject in params.data.subjects:
        trials = [s for s in sessions if s.subject == subject]
        for alignment in params.events.alignments:
            out = subject_responses(params, layout, dataset, subject, trials, alignment)
            band_delay = out.pop("band_delay_s")
            write_responses(
                layout.responses(subject, alignment),
                **out,
                attrs={
                    "kind": rp.kind,
                    "band_hz": list(rp.band_hz) if rp.kind == "band_power" else [],
                    "band_delay_s": float(band_delay),
                    "rereference": rp.rereference,
                    "highpass_hz": rp.highpass_hz or 0.0,
                    "baseline_s": list(rp.baseline_s) if rp.baseline_s else [],
                    "notch_hz": list(rp.notch_hz),
                    "trials": [s.trial for s in trials],
                    "session_demeaned": len(trials) > 1,
                },
            )

"""Stage ``responses``: event-locked neural responses per subject and alignment.

For each subject, the electrodes are selected once (trigger and corrupted channels dropped;
Laplacian needs both shaft neighbours), then every trial is streamed through the notch filter,
the re-reference and the binning around its movie's events. The trials that ``data.trials``
selects (by default only the first trial of each subject) are pooled in that order into
``work/responses/sub-<s>_<alignment>.h5``, with each event's trial in ``event_session``. When
more than one session is pooled, each session's responses are demeaned per target (electrode x
bin), so that a slow offset between sessions cannot pass for an effect; the file's attribute
``session_demeaned`` says whether that was done. One session is written as binned.

Each kind of ``responses.kinds`` gets its own files, ``work/responses/<kind>/``. ``voltage``
and ``band_power`` choose what each bin averages: the preprocessed voltage (µV, the study) or
its power in ``responses.band_hz`` (µV², high gamma by default; causal band-pass, squared,
windows moved by the filter's group delay, see :mod:`mmsites.recordings.responses`).
``spectrogram`` is the band power in every band of ``responses.bands_hz``: its responses are
events x electrodes x bands x bins (attribute ``bands_hz``).
``brainbert`` writes, per event and electrode, the BrainBERT embedding of the 5 s centred on
the onset, or ``responses.brainbert.offset_s`` after it
(:func:`mmsites.brainmodels.responses.event_embeddings`; events whose window leaves the
recording are dropped and counted, electrodes touched by non-finite samples excluded and
listed in the attribute ``excluded``); its third axis is the model's hidden dimensions, not
bins, and the encode stage reduces it per fold. Embeddings are cached under
``work/brainbert_embeddings/`` keyed by the model and the inputs, so a rerun of the stage for
another kind does not recompute them. Every file records its kind in the attributes ``kind``,
``band_hz`` (``[]`` unless band power) and ``band_delay_s`` (the delay applied, in seconds; 0
unless band power), so every later stage can tell one from the other.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from mmsites.recordings.braintreebank import movie_to_sample
from mmsites.recordings.responses import event_responses

from ..io import (
    content_key,
    file_fingerprint,
    is_up_to_date,
    read_events,
    write_json,
    write_npz,
    write_responses,
)
from ..neural_models import POPULATION, brainbert_model, popt_model, population_code
from ..params import Params
from ..paths import Layout
from ..sessions import (
    clean_electrodes,
    list_sessions,
    open_dataset,
    preprocessing_kwargs,
    preprocessing_settings,
)

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
    """Refuse a band that some session cannot carry (band power and spectrogram kinds).

    Parameters
    ----------
    params : Params
        Validated params; ``responses.kinds``, ``responses.band_hz`` and
        ``responses.bands_hz`` matter.
    sfreqs : dict
        Sampling rate (Hz) of each session, keyed by a name used in the message (e.g.
        ``"sub_1 trial000"``).

    Raises
    ------
    ValueError
        If ``kinds`` holds ``"band_power"`` (``"spectrogram"``) and the upper edge of
        ``band_hz`` (of a band of ``bands_hz``) is not below the Nyquist frequency of the
        session with the lowest sampling rate; names the param.
    """
    rp = params.responses
    if not sfreqs:
        return
    checked = []
    if "band_power" in rp.kinds:
        checked.append(("responses.band_hz", list(rp.band_hz)))
    if "spectrogram" in rp.kinds:
        checked += [("responses.bands_hz", list(band)) for band in rp.bands_hz]
    name = min(sfreqs, key=sfreqs.get)
    nyquist = sfreqs[name] / 2.0
    for key, band in checked:
        if not band[1] < nyquist:
            raise ValueError(
                f"{key} {band}: the upper edge must be below the Nyquist "
                f"frequency {nyquist:g} Hz of {name} (sampled at {sfreqs[name]:g} Hz); lower it"
            )


def _embedding_key(params: Params, layout: Layout, dataset, session, alignment: str) -> str:
    """What one session's cached embeddings depend on: the model, the preprocessing, the inputs."""
    bp = params.responses.brainbert
    settings = {
        "brainbert": bp.model_dump(exclude={"components", "device", "batch_size"}),
        "preprocessing": preprocessing_settings(params),
        "electrodes": clean_electrodes(params, dataset, session.subject)[0],
    }
    files = [layout.events(session.movie, alignment)]
    files += dataset.recording_files(session.subject, session.trial)
    if bp.checkpoint:
        files.append(Path(bp.checkpoint))
    return content_key(settings, files)


def _trial_embeddings(
    params: Params,
    layout: Layout,
    dataset,
    session,
    alignment,
    electrodes,
    neighbours,
    sample,
    model,
):
    """BrainBERT embeddings of one session's events, from the cache when its key matches."""
    from mmsites.brainmodels.responses import event_embeddings

    bp = params.responses.brainbert
    cache = layout.brainbert_cache / f"sub-{session.subject}_trial{session.trial:03d}_{alignment}.npz"
    key = _embedding_key(params, layout, dataset, session, alignment)
    if is_up_to_date(cache, cache.with_suffix(".json"), key):
        log.info(
            "sub_%d trial%03d %s: BrainBERT embeddings from %s",
            session.subject,
            session.trial,
            alignment,
            cache,
        )
        stored = np.load(cache)
        labels = [str(e) for e in stored["excluded"]]
        reasons = [str(r) for r in stored["reasons"]] if "reasons" in stored else []
        reasons += ["bad channel"] * (len(labels) - len(reasons))
        return stored["embeddings"], stored["kept"], dict(zip(labels, reasons))
    with dataset.open_recording(session.subject, session.trial) as recording:
        result = event_embeddings(
            recording,
            electrodes,
            neighbours,
            sample,
            model,
            layer=bp.layer,
            batch_size=bp.batch_size,
            bf16=bp.bf16,
            **preprocessing_kwargs(params),
        )
    write_npz(
        cache,
        embeddings=result.embeddings,
        kept=result.kept,
        excluded=np.array(result.excluded, dtype=str),
        reasons=np.array([result.reasons.get(e, "bad channel") for e in result.excluded], dtype=str),
    )
    write_json({"key": key}, cache.with_suffix(".json"))
    return result.embeddings, result.kept, {e: result.reasons.get(e, "bad channel") for e in result.excluded}


def subject_responses(
    params: Params,
    layout: Layout,
    dataset,
    subject: int,
    trials: list,
    alignment: str,
    kind: str = "voltage",
    model=None,
    popt=None,
) -> dict:
    """Responses of one subject to the events of one alignment, pooled over its trials.

    Parameters
    ----------
    params : Params
        Validated params; the ``responses`` section matters (windows, filters,
        re-referencing, band, BrainBERT).
    layout : Layout
        The file layout; each trial's ``work/events/<movie>_<alignment>.parquet`` is read.
    dataset : BrainTreebank or BidsIEEG
        The dataset under ``data.root``: electrode labels, corrupted channels, trigger
        timings and recordings.
    subject : int
        Subject number.
    trials : list of Session
        The subject's selected sessions, in pooling order
        (:func:`pipeline.sessions.list_sessions`).
    alignment : {"language", "vision"}
        Event alignment.
    kind : {"voltage", "band_power", "spectrogram", "brainbert", "popt"}
        The kind of response (``responses.kinds``).
    model : BrainBERT, optional
        The model of the ``brainbert`` kind
        (:func:`mmsites.pipeline.neural_models.brainbert_model`); needed for it and ``popt``.
    popt : PopT, optional
        The model of the ``popt`` kind (:func:`mmsites.pipeline.neural_models.popt_model`).

    Returns
    -------
    dict
        The keyword arguments of :func:`pipeline.io.write_responses` but ``path`` and
        ``attrs``: ``responses`` (float32, events x electrodes x bins, µV or, for
        ``band_power``, µV²; for ``spectrogram`` events x electrodes x bands x bins, µV²; for
        ``brainbert`` events x electrodes x hidden dimensions; for ``popt`` events x 1 x
        PopT's hidden dimensions, the unit named ``population``; each
        session demeaned per target when several are pooled), ``electrodes``, ``bin_times``
        (seconds; None for ``brainbert``), ``event_movie_time`` (seconds), ``event_sample``
        (int64 samples), ``event_movie``, ``event_session`` (trial of each event) and
        ``sfreq`` (Hz, of the first trial); plus ``band_delay_s``, the delay the windows were
        moved by (s, of the first trial; 0 unless band power), and ``excluded``, the
        electrodes left out (label -> ``"trial<t>: <reason>"``) because a channel they read
        is bad (non-finite or flat, theirs or one of their re-reference), which are not
        arguments of ``write_responses`` but attributes. Events outside a trial's triggers are dropped.

    Raises
    ------
    ValueError
        If no electrode is left after dropping trigger and corrupted channels (and, with the
        Laplacian, those without both neighbours) or non-finite ones, or
        ``responses.band_hz`` reaches a trial's Nyquist frequency.
    FileNotFoundError
        If an events file is missing (the events stage has not run).
    """
    rp = params.responses
    electrodes, neighbours = clean_electrodes(params, dataset, subject)
    parts, movie_times, samples, event_movies, sessions, sfreqs, delays = [], [], [], [], [], [], []
    excluded: dict[str, str] = {}
    bin_times = None
    for session in trials:
        events = read_events(layout.events(session.movie, alignment))
        timings = dataset.timings(subject, session.trial)
        sfreq = dataset.sfreq(subject, session.trial)
        if kind in ("band_power", "spectrogram"):
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
        if kind in ("brainbert", "popt"):
            # the window's centre: offset_s after the onset (0, the official recipe)
            shift = int(round(rp.brainbert.offset_s * sfreq))
            values, kept_mask, bad = _trial_embeddings(
                params,
                layout,
                dataset,
                session,
                alignment,
                electrodes,
                neighbours,
                sample[inside].astype(np.int64) + shift,
                model,
            )
            for label, reason in bad.items():
                excluded.setdefault(label, f"trial{session.trial:03d}: {reason}")
            delay = 0.0
            if kind == "popt":
                values = population_code(values, electrodes, list(bad), dataset.localization(subject), popt)
        else:
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
                    baseline_s=rp.baseline_s,
                    n_jobs=rp.n_jobs,
                    kind=kind,
                    band_hz=tuple(rp.band_hz),
                    bands_hz=[tuple(b) for b in rp.bands_hz],
                    **preprocessing_kwargs(params),
                )
            values, kept_mask, delay = result.responses, result.kept, result.delay_samples / sfreq
            bin_times = result.bin_times
            if result.excluded:
                # back on the full electrode axis (NaN where left out), so sessions stack; the
                # electrodes excluded in any session are dropped below
                full = np.full((values.shape[0], len(electrodes), *values.shape[2:]), np.nan, values.dtype)
                full[:, [electrodes.index(e) for e in result.electrodes]] = values
                values = full
                for label, reason in result.excluded.items():
                    excluded.setdefault(label, f"trial{session.trial:03d}: {reason}")
        kept = np.flatnonzero(inside)[kept_mask]
        parts.append(values)
        movie_times.append(events["movie_time"].to_numpy()[kept])
        samples.append(sample[kept].astype(np.int64))
        event_movies.extend([session.movie] * len(kept))
        sessions.append(np.full(len(kept), session.trial, dtype=np.int64))
        sfreqs.append(sfreq)
        delays.append(delay)
        log.info(
            "sub_%d trial%03d %s: %d events x %d electrodes (sfreq %.0f Hz, %s)",
            subject,
            session.trial,
            alignment,
            len(kept),
            len(electrodes),
            sfreq,
            kind,
        )
    responses = np.concatenate(parts, axis=0)
    if kind == "popt":  # one unit, the population; its inputs' exclusions are recorded
        electrodes = [POPULATION]
    elif excluded:
        keep = [i for i, e in enumerate(electrodes) if e not in excluded]
        if not keep:
            raise ValueError(
                f"sub_{subject} {alignment}: every electrode is excluded (a bad channel, non-finite "
                "or flat, in itself or its re-reference); nothing left to analyse"
            )
        log.warning(
            "sub_%d %s: %d electrode(s) excluded from the %s responses (bad channels; listed with "
            "the reasons in results/electrodes.csv): %s",
            subject,
            alignment,
            len(excluded),
            kind,
            "; ".join(f"{label}: {reason}" for label, reason in excluded.items()),
        )
        responses = np.ascontiguousarray(responses[:, keep])
        electrodes = [electrodes[i] for i in keep]
    event_session = np.concatenate(sessions)
    if len(trials) > 1:
        demean_sessions(responses, event_session)
        log.info(
            "sub_%d %s: %d sessions pooled (trials %s); each demeaned per electrode and %s",
            subject,
            alignment,
            len(trials),
            [s.trial for s in trials],
            "dimension" if kind == "brainbert" else "bin",
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
        excluded=dict(sorted(excluded.items())),
    )


def run(params: Params, workdir: Path) -> None:
    """Run the responses stage for every kind, subject and alignment.

    Reads ``work/events/<movie>_<alignment>.parquet`` and, under ``data.root``, each
    selected trial's recording (``all_subject_data/sub_<s>_trial<t>.h5``) and trigger
    timings (``subject_timings/sub_<s>_trial<t>_timings.csv``), the electrode labels
    (``electrode_labels/sub_<s>/electrode_labels.json``) and ``corrupted_elec.json``. Writes
    ``work/responses/<kind>/sub-<s>_<alignment>.h5`` per kind of ``responses.kinds``,
    subject and alignment, its attributes recording the preprocessing, the kind of response
    (``kind``, ``band_hz``, ``band_delay_s``; for ``brainbert`` the model and ``layer``), the
    excluded electrodes, the trials and whether sessions were demeaned.

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
        If an events file, or ``responses.brainbert.checkpoint``, is missing.
    """
    base = Layout(workdir, params)
    dataset = open_dataset(params, base)
    sessions = list_sessions(params, base)
    rp = params.responses
    if {"band_power", "spectrogram"} & set(rp.kinds):  # the lowest sampling rate first: fail early
        check_band(
            params,
            {f"sub_{s.subject} trial{s.trial:03d}": dataset.sfreq(s.subject, s.trial) for s in sessions},
        )
    model = brainbert_model(params) if {"brainbert", "popt"} & set(rp.kinds) else None
    popt = popt_model(params) if "popt" in rp.kinds else None
    for kind in rp.kinds:
        layout = base.for_kind(kind)
        for subject in params.data.subjects:
            trials = [s for s in sessions if s.subject == subject]
            for alignment in params.events.alignments:
                out = subject_responses(
                    params, layout, dataset, subject, trials, alignment, kind, model, popt
                )
                band_delay = out.pop("band_delay_s")
                excluded = out.pop("excluded")
                attrs = {
                    "kind": kind,
                    "band_hz": list(rp.band_hz) if kind == "band_power" else [],
                    "bands_hz": [list(b) for b in rp.bands_hz] if kind == "spectrogram" else [],
                    "band_delay_s": float(band_delay),
                    "rereference": rp.rereference,
                    "highpass_hz": rp.highpass_hz or 0.0,
                    "baseline_s": list(rp.baseline_s) if rp.baseline_s else [],
                    "notch_hz": list(rp.notch_hz),
                    "trials": [s.trial for s in trials],
                    "session_demeaned": len(trials) > 1,
                    "excluded": excluded,
                }
                if kind == "popt":
                    attrs["popt"] = {
                        "checkpoint": rp.popt.checkpoint or f"random {rp.popt.config} (seed {rp.popt.seed})",
                        "hidden_dim": int(popt.config.hidden_dim),
                    }
                if kind in ("brainbert", "popt"):
                    bp = rp.brainbert
                    attrs["brainbert"] = {
                        "checkpoint": bp.checkpoint or f"random {bp.config} (seed {bp.seed})",
                        "checkpoint_fingerprint": file_fingerprint([Path(bp.checkpoint)])
                        if bp.checkpoint
                        else "",
                        "preprocessor": bp.preprocessor,
                        "layer": bp.layer,
                        "offset_s": bp.offset_s,
                        "hidden_dim": int(model.config.hidden_dim),
                    }
                write_responses(layout.responses(subject, alignment), **out, attrs=attrs)

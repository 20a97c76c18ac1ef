"""Which recording sessions (subject, trial, movie) the params select.

``data.trials`` (see :class:`pipeline.params.DataParams`):

- ``null`` (default): one session per subject, its first (lowest-numbered) trial found;
- ``{subject: [trial, ...]}``: exactly those trials of the listed subjects, in the order given;
  subjects not listed get their first trial;
- ``"all"``: every trial found of every subject (pooled; the responses stage demeans each
  session per target).

Every reader of the sessions preprocesses them as ``responses`` says: the readers' keyword
arguments come from :func:`preprocessing_kwargs`, the record of the preprocessing in cached
outputs' content keys from :func:`preprocessing_settings`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from mmsites.features.stimuli import read_scene_table, read_word_table
from mmsites.recordings.braintreebank import BrainTreebank, select_electrodes

from .params import Params
from .paths import Layout

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Session:
    """One recording session: a subject watching a movie in one trial.

    Attributes
    ----------
    subject : int
        Subject number (``sub_<subject>``).
    trial : int
        Trial number (``trial<trial:03d>`` in the recording's file name).
    movie : str
        Id of the movie shown in that trial.
    """

    subject: int
    trial: int
    movie: str


def open_dataset(params: Params, layout: Layout):
    """The dataset under ``data.root``, read as ``data.format`` (and ``demo.layout``) say.

    Both readers offer one surface (subjects, trials, labels, corrupted, localization,
    mni_coordinates, coordinate_space, timings, sfreq, movie_id, transcript, open_recording,
    recording_files), so the stages never ask which one they hold.

    Parameters
    ----------
    params : Params
        The run's params (``data.format``, ``data.bids``, ``demo.layout``).
    layout : Layout
        The file layout (``layout.data_root``).

    Returns
    -------
    BrainTreebank or BidsIEEG
        The reader.

    Raises
    ------
    FileNotFoundError
        If ``data.root`` is not a folder.
    """
    if params.reader == "bids":
        from mmsites.recordings.bids import BidsIEEG  # mne and mne-bids only when needed

        b = params.data.bids
        return BidsIEEG(
            layout.data_root,
            task=b.task,
            sessions=b.sessions,
            runs=b.runs,
            acquisition=b.acquisition,
            movie_time_column=b.movie_time_column,
            movie_onset=b.movie_onset,
        )
    return BrainTreebank(layout.data_root)


def _stimulus_path(layout: Layout, template: str, movie: str):
    path = Path(template.replace("{movie}", movie))
    return path if path.is_absolute() else layout.data_root / path


def movie_words(params: Params, layout: Layout, dataset, movie: str) -> pd.DataFrame:
    """The timed words of one movie: the mapped word table, else the dataset's transcript.

    Parameters
    ----------
    params : Params
        The run's params (``data.stimuli.words``).
    layout : Layout
        The file layout.
    dataset : BrainTreebank or BidsIEEG
        The dataset (:func:`open_dataset`), read when no word table is mapped.
    movie : str
        Movie id.

    Returns
    -------
    pandas.DataFrame
        The transcript form (``text``, ``start``, ``end``, ``sentence``, ``is_onset``, ...):
        :func:`mmsites.features.stimuli.read_word_table` of ``data.stimuli.words``, or the
        Brain Treebank's ``transcripts/<movie>/features.csv``.
    """
    table = params.data.stimuli.words
    if table is None:
        return dataset.transcript(movie)
    path = _stimulus_path(layout, table.path, movie)
    words = read_word_table(
        path,
        onset=table.onset,
        word=table.word,
        offset=table.offset,
        sentence=table.sentence,
        time_unit=table.time_unit,
    )
    log.info("%s: %d words read from %s (data.stimuli.words)", movie, len(words), path)
    return words


def movie_scene_cuts(params: Params, layout: Layout, movie: str):
    """The scene cuts of one movie from the mapped scene table, or None when none is mapped.

    Parameters
    ----------
    params : Params
        The run's params (``data.stimuli.scenes``).
    layout : Layout
        The file layout.
    movie : str
        Movie id.

    Returns
    -------
    numpy.ndarray of float64, shape (n_cuts,), or None
        Cut times (s of movie time), :func:`mmsites.features.stimuli.read_scene_table`.
    """
    table = params.data.stimuli.scenes
    if table is None:
        return None
    path = _stimulus_path(layout, table.path, movie)
    cuts = read_scene_table(path, onset=table.onset, time_unit=table.time_unit)
    log.info("%s: %d scene cuts read from %s (data.stimuli.scenes)", movie, len(cuts), path)
    return cuts


def stimulus_files(params: Params, layout: Layout, movie: str) -> list:
    """The mapped stimulus tables of one movie (what its events depend on), existing or not.

    Parameters
    ----------
    params : Params
        The run's params (``data.stimuli``).
    layout : Layout
        The file layout.
    movie : str
        Movie id.

    Returns
    -------
    list of pathlib.Path
        The word and scene tables mapped in ``data.stimuli``.
    """
    return [
        _stimulus_path(layout, table.path, movie)
        for table in (params.data.stimuli.words, params.data.stimuli.scenes)
        if table is not None
    ]


def select_trials(found: list[int], choice, subject: int) -> list[int]:
    """The trials of one subject that ``data.trials`` (``choice``) selects among ``found``.

    Parameters
    ----------
    found : list of int
        The subject's trials present in the data, in increasing order.
    choice : dict of int to list of int, "all" or None
        ``data.trials``: trials per subject, every trial, or the first one.
    subject : int
        Subject number.

    Returns
    -------
    list of int
        ``found`` for ``"all"``; the subject's trials in ``choice`` in the order given; else
        the first trial of ``found`` (empty when ``found`` is).

    Raises
    ------
    ValueError
        When an explicitly requested trial is not among ``found``.
    """
    if choice == "all":
        return list(found)
    wanted = (choice or {}).get(subject)
    if wanted is None:
        return list(found[:1])
    missing = sorted(set(wanted) - set(found))
    if missing:
        raise ValueError(f"data.trials asks for sub_{subject} trials {missing}, but only {found} exist")
    return list(wanted)


def list_sessions(params: Params, layout: Layout) -> list[Session]:
    """Every (subject, trial) the params select, with the movie it shows.

    Parameters
    ----------
    params : Params
        Validated params; ``data.subjects`` and ``data.trials`` matter.
    layout : Layout
        The file layout; the recordings are looked up under ``layout.data_root``.

    Returns
    -------
    list of Session
        Subject by subject in ``data.subjects`` order, trials in the order selected by
        :func:`select_trials`.

    Raises
    ------
    ValueError
        When a subject has no recordings under the data root, or a requested trial is missing.
    """
    dataset = open_dataset(params, layout)
    choice = params.data.trials
    sessions = []
    for subject in params.data.subjects:
        found = dataset.trials(subject)
        if not found:
            where = (
                f"sub-*/[ses-*/]ieeg/ recordings of sub-{subject:02d} (or sub-{subject})"
                if params.reader == "bids"
                else f"sub_{subject}_trialXXX.h5 in the root and in all_subject_data/"
            )
            raise ValueError(f"no recordings of sub_{subject} under {layout.data_root} (looked for {where})")
        try:
            trials = select_trials(found, choice, subject)
        except ValueError as err:
            raise ValueError(f"{err} under {layout.data_root}") from None
        how = (
            "data.trials: all"
            if choice == "all"
            else "data.trials"
            if subject in (choice or {})
            else "the first trial found (data.trials: null)"
        )
        log.info("sub_%d: trials %s of %s (%s)", subject, trials, found, how)
        for trial in trials:
            sessions.append(Session(subject, trial, dataset.movie_id(subject, trial)))
    return sessions


def movies(sessions: list[Session]) -> list[str]:
    """The distinct movies of the sessions, in first-seen order.

    Parameters
    ----------
    sessions : list of Session
        Sessions, e.g. from :func:`list_sessions`.

    Returns
    -------
    list of str
        Movie ids, each once.
    """
    return list(dict.fromkeys(s.movie for s in sessions))


def clean_electrodes(params: Params, dataset, subject: int) -> tuple[list[str], dict]:
    """The electrodes a subject's responses (and pretraining windows) are computed for.

    Trigger and corrupted channels dropped and, with ``responses.rereference: laplacian``,
    those without both shaft neighbours
    (:func:`mmsites.recordings.braintreebank.select_electrodes`).

    Parameters
    ----------
    params : Params
        The run's params (``responses.rereference``).
    dataset : BrainTreebank or BidsIEEG
        The dataset under ``data.root`` (:func:`open_dataset`).
    subject : int
        Subject number.

    Returns
    -------
    electrodes : list of str
        Cleaned labels.
    neighbours : dict of str to (str, str)
        Each electrode's Laplacian neighbours.

    Raises
    ------
    ValueError
        When no electrode is left (the message says to drop the subject from
        ``data.subjects``).
    """
    rp = params.responses
    electrodes, neighbours = select_electrodes(
        dataset.labels(subject), dataset.corrupted(subject), rereference=rp.rereference
    )
    if not electrodes:
        laplacian = {
            "laplacian": " and those without both Laplacian neighbours",
            "bipolar": " and those without a next contact for the bipolar pair",
        }.get(rp.rereference, "")
        raise ValueError(
            f"sub_{subject}: no electrode is left after dropping trigger and corrupted channels"
            f"{laplacian}; drop the subject from data.subjects"
        )
    return electrodes, neighbours


def preprocessing_kwargs(params: Params) -> dict:
    """The preprocessing arguments every reader of the recordings takes, as ``responses`` sets them.

    One place for what the responses stage, the decode stage and ``mmsites pretrain`` pass to
    :func:`mmsites.recordings.responses.event_responses` and
    :func:`mmsites.brainmodels.responses.event_embeddings` (and use to stream windows).

    Parameters
    ----------
    params : Params
        The run's params (``responses.notch_hz``, ``notch_q``, ``rereference``,
        ``highpass_hz``, ``chunk_s``).

    Returns
    -------
    dict
        ``notch_hz`` (tuple of Hz), ``notch_q``, ``rereference`` (``"laplacian"``,
        ``"bipolar"``, ``"car"`` or None), ``flat_uv`` (µV: a channel below is flat),
        ``highpass_hz`` (None: off) and ``chunk_s`` (seconds read per step).
    """
    rp = params.responses
    return dict(
        notch_hz=tuple(rp.notch_hz),
        notch_q=rp.notch_q,
        rereference=None if rp.rereference == "none" else rp.rereference,
        highpass_hz=rp.highpass_hz,
        chunk_s=rp.chunk_s,
        flat_uv=rp.flat_uv,
    )


def preprocessing_settings(params: Params) -> dict:
    """The preprocessing as cached outputs record it in their content key (plain JSON values).

    Parameters
    ----------
    params : Params
        The run's params (``responses.rereference``, ``notch_hz``, ``notch_q``,
        ``highpass_hz``).

    Returns
    -------
    dict
        ``rereference`` (``"laplacian"``, ``"bipolar"``, ``"car"`` or ``"none"``),
        ``notch_hz`` (list of Hz),
        ``notch_q`` and ``highpass_hz``: what changes the preprocessed signal (``chunk_s``
        does not).
    """
    rp = params.responses
    return {
        "rereference": rp.rereference,
        "notch_hz": list(rp.notch_hz),
        "notch_q": rp.notch_q,
        "highpass_hz": rp.highpass_hz,
        "flat_uv": rp.flat_uv,
    }

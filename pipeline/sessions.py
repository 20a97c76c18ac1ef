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
    dataset = BrainTreebank(layout.data_root)
    choice = params.data.trials
    sessions = []
    for subject in params.data.subjects:
        found = dataset.trials(subject)
        if not found:
            raise ValueError(
                f"no recordings of sub_{subject} under {layout.data_root} (looked for "
                f"sub_{subject}_trialXXX.h5 in the root and in all_subject_data/)"
            )
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


def clean_electrodes(params: Params, dataset: BrainTreebank, subject: int) -> tuple[list[str], dict]:
    """The electrodes a subject's responses (and pretraining windows) are computed for.

    Trigger and corrupted channels dropped and, with ``responses.rereference: laplacian``,
    those without both shaft neighbours
    (:func:`mmsites.recordings.braintreebank.select_electrodes`).

    Parameters
    ----------
    params : Params
        The run's params (``responses.rereference``).
    dataset : BrainTreebank
        The dataset under ``data.root``.
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
        laplacian = " and those without both Laplacian neighbours" if rp.rereference == "laplacian" else ""
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
        ``notch_hz`` (tuple of Hz), ``notch_q``, ``rereference`` (``"laplacian"`` or None),
        ``highpass_hz`` (None: off) and ``chunk_s`` (seconds read per step).
    """
    rp = params.responses
    return dict(
        notch_hz=tuple(rp.notch_hz),
        notch_q=rp.notch_q,
        rereference=None if rp.rereference == "none" else rp.rereference,
        highpass_hz=rp.highpass_hz,
        chunk_s=rp.chunk_s,
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
        ``rereference`` (``"laplacian"`` or ``"none"``), ``notch_hz`` (list of Hz),
        ``notch_q`` and ``highpass_hz``: what changes the preprocessed signal (``chunk_s``
        does not).
    """
    rp = params.responses
    return {
        "rereference": rp.rereference,
        "notch_hz": list(rp.notch_hz),
        "notch_q": rp.notch_q,
        "highpass_hz": rp.highpass_hz,
    }

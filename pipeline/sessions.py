"""Which recording sessions (subject, trial, movie) the params select."""

from __future__ import annotations

from dataclasses import dataclass

from recordings.braintreebank import BrainTreebank

from .params import Params
from .paths import Layout


@dataclass(frozen=True)
class Session:
    subject: int
    trial: int
    movie: str


def list_sessions(params: Params, layout: Layout) -> list[Session]:
    """Every (subject, trial) the params select, with the movie it shows.

    Raises
    ------
    ValueError
        When a subject has no recordings under the data root, or a requested trial is missing.
    """
    dataset = BrainTreebank(layout.data_root)
    sessions = []
    for subject in params.data.subjects:
        found = dataset.trials(subject)
        wanted = (params.data.trials or {}).get(subject)
        if wanted is None:
            trials = found
        else:
            missing = sorted(set(wanted) - set(found))
            if missing:
                raise ValueError(f"data.trials asks for sub_{subject} trials {missing}, but only {found} "
                                 f"exist under {layout.data_root}")
            trials = list(wanted)
        if not trials:
            raise ValueError(f"no recordings of sub_{subject} under {layout.data_root} (looked for "
                             f"sub_{subject}_trialXXX.h5 in the root and in all_subject_data/)")
        for trial in trials:
            sessions.append(Session(subject, trial, dataset.movie_id(subject, trial)))
    return sessions


def movies(sessions: list[Session]) -> list[str]:
    """The distinct movies of the sessions, in first-seen order."""
    return list(dict.fromkeys(s.movie for s in sessions))

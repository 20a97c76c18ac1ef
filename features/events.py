"""Event structures: image–text pairs locked to word onsets or to scene cuts.

Both builders return the events contract of DESIGN.md, one row per event, in movie order:

================  =======  ==========================================================
column            dtype    meaning
================  =======  ==========================================================
``movie``         str      movie id
``alignment``     str      ``"language"`` (word onsets) or ``"vision"`` (scene cuts)
``movie_time``    float64  event onset, seconds of movie time; unique per table
``text``          str      what the language models read
``word``          str      the word (language); ``""`` for vision events
``frame_time``    float64  seconds of the frame the vision models see
================  =======  ==========================================================

``frame_time`` follows the rule of :func:`mmsites.timing.next_frame_time` (first frame at or
after the onset). Events with no frame (onset after the last frame) are dropped and counted in
a warning; the counts of everything dropped are also in ``table.attrs["dropped"]``.

Notes
-----
Sentences: a transcript row starts a new sentence where ``is_onset == 1`` (when that column
exists) or where the ``sentence`` string differs from the previous row's. Sentences are found
on the whole transcript, in row order, before rows with a missing ``start`` are dropped,
because those rows (split word particles) can be the ones that mark a sentence boundary.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from mmsites.constants import EVENT_COLUMNS
from mmsites.features.scenes import validate_cut_times
from mmsites.timing import TIME_TOL_S, check_frame_times, next_frame_time

logger = logging.getLogger(__name__)

__all__ = ["language_events", "vision_events", "events_frame_times"]

_TEXT_CONTEXTS = ("sentence", "prefix", "word")


def _require_columns(transcript, columns, movie: str) -> None:
    if not isinstance(transcript, pd.DataFrame):
        raise TypeError(
            f"Transcript of movie {movie!r} must be a pandas DataFrame, got {type(transcript).__name__}."
        )
    missing = [c for c in columns if c not in transcript.columns]
    if missing:
        raise ValueError(
            f"Transcript of movie {movie!r} lacks columns {missing} (has "
            f"{list(transcript.columns)[:12]}...). Expected transcripts/{movie}/features.csv "
            "of the Brain Treebank (columns text, start, sentence, is_onset)."
        )


def _onsets(transcript: pd.DataFrame) -> np.ndarray:
    """Word onsets in seconds, float64 ``(n_rows,)``; non-numeric values become NaN."""
    return pd.to_numeric(transcript["start"], errors="coerce").to_numpy(np.float64)


def _sentence_ids(transcript: pd.DataFrame) -> np.ndarray:
    """Sentence number of each row, int64 ``(n_rows,)``, non-decreasing in row order."""
    sentence = transcript["sentence"].astype(object).where(transcript["sentence"].notna(), None)
    changed = (sentence != sentence.shift()).to_numpy(dtype=bool, copy=True)
    if "is_onset" in transcript.columns:
        onset = pd.to_numeric(transcript["is_onset"], errors="coerce").to_numpy() == 1
        changed = changed | onset
    if changed.size:
        changed[0] = False
    return np.cumsum(changed).astype(np.int64)


def _tokens(transcript: pd.DataFrame, movie: str) -> np.ndarray:
    """Word tokens as str, object ``(n_rows,)``; missing tokens become "" with a warning."""
    text = transcript["text"]
    missing = text.isna().to_numpy()
    if missing.any():
        logger.warning(
            "Movie %s: %d transcript rows have no `text` token; using an empty string.",
            movie,
            int(missing.sum()),
        )
    return text.astype(object).where(~missing, "").astype(str).to_numpy(object)


def _attach_frames(table: pd.DataFrame, frame_times, movie: str, what: str, dropped: dict) -> pd.DataFrame:
    """Add ``frame_time`` and drop (with a warning) events after the last frame.

    ``frame_times=None`` (no video: text-only analyses) leaves ``frame_time`` NaN.
    """
    if frame_times is None:
        table["frame_time"] = np.nan
        dropped["after_last_frame"] = 0
        return table.reset_index(drop=True)
    ft = check_frame_times(frame_times)
    table["frame_time"] = next_frame_time(table["movie_time"].to_numpy(), ft, after_last="nan")
    beyond = table["frame_time"].isna().to_numpy()
    if beyond.any():
        logger.warning(
            "Movie %s: dropped %d %s after the last movie frame (%.3f s); first at %.3f s. "
            "Is the movie file complete?",
            movie,
            int(beyond.sum()),
            what,
            ft[-1],
            table["movie_time"].to_numpy()[beyond][0],
        )
    dropped["after_last_frame"] = int(beyond.sum())
    return table.loc[~beyond].reset_index(drop=True)


def _finish(table: pd.DataFrame, dropped: dict) -> pd.DataFrame:
    out = table[list(EVENT_COLUMNS)].reset_index(drop=True)
    for col in ("movie", "alignment", "text", "word"):
        out[col] = out[col].astype(str)
    out.attrs["dropped"] = dropped
    return out


def language_events(
    transcript: pd.DataFrame, frame_times, movie: str, *, text_context: str = "sentence"
) -> pd.DataFrame:
    """One event per word onset, paired with the next movie frame and its text context.

    Parameters
    ----------
    transcript : pandas.DataFrame
        Words of the movie in movie order (Brain Treebank ``features.csv``): needs ``text``
        (token) and ``start`` (onset, seconds), and ``sentence`` unless
        ``text_context="word"``; ``is_onset`` is used when present. Rows with a NaN, infinite
        or non-numeric ``start`` are dropped and counted.
    frame_times : array-like of float, shape (n_frames,), or None
        Frame presentation times of the movie, seconds, strictly increasing; None when there
        is no video (``frame_time`` is then NaN and only text models can run).
    movie : str
        Movie id, written to the ``movie`` column and used in messages.
    text_context : {"sentence", "prefix", "word"}
        What the language models read: the word's full ``sentence`` (default; what the
        study fed its encoders), the sentence's tokens up to and including the word joined
        by spaces (``"prefix"``), or the word alone (``"word"``).

    Returns
    -------
    events : pandas.DataFrame, shape (n_events, 6)
        The events contract (module docstring), sorted by ``movie_time``. Tokens sharing the
        same ``start`` (a contraction split by the transcript, e.g. "gon" + "na") form **one**
        event whose ``word`` is the tokens concatenated without a separator in transcript
        order ("gonna"); its sentence is the first token's, its prefix ends at the last token.
        ``attrs["dropped"]`` counts rows dropped for a missing onset (``"no_onset"``), tokens
        merged into a previous event (``"merged"``) and onsets after the last frame
        (``"after_last_frame"``).
    """
    if text_context not in _TEXT_CONTEXTS:
        raise ValueError(f"text_context must be one of {_TEXT_CONTEXTS}, got {text_context!r}.")
    needs = ["text", "start"] + ([] if text_context == "word" else ["sentence"])
    _require_columns(transcript, needs, movie)
    df = transcript.reset_index(drop=True)
    tokens = _tokens(df, movie)
    onset = _onsets(df)

    if text_context == "word":
        context = None
    elif text_context == "sentence":
        sentence = df["sentence"]
        no_sentence = sentence.isna().to_numpy()
        context = sentence.astype(object).where(~no_sentence, "").astype(str).to_numpy(object)
        finite_missing = no_sentence & np.isfinite(onset)
        if finite_missing.any():
            logger.warning(
                "Movie %s: %d words have no `sentence`; their text is the word itself.",
                movie,
                int(finite_missing.sum()),
            )
            context[no_sentence] = tokens[no_sentence]
    else:  # prefix: the sentence's tokens so far, NaN-onset particles included
        sid = _sentence_ids(df)
        context = np.empty(len(df), dtype=object)
        so_far: list[str] = []
        for i in range(len(df)):
            if i == 0 or sid[i] != sid[i - 1]:
                so_far = []
            so_far.append(tokens[i])
            context[i] = " ".join(t for t in so_far if t)

    keep = np.isfinite(onset)
    n_no_onset = int((~keep).sum())
    if n_no_onset:
        logger.info("Movie %s: dropped %d transcript rows without a finite `start`.", movie, n_no_onset)
    rows = np.flatnonzero(keep)
    rows = rows[np.argsort(onset[rows], kind="stable")]
    if np.any(np.diff(rows) < 0):
        logger.warning("Movie %s: transcript rows were not in time order; sorted them.", movie)
    starts = onset[rows]
    # Group consecutive rows (after sorting) that share exactly the same onset.
    first = np.ones(starts.size, dtype=bool)
    first[1:] = starts[1:] != starts[:-1]
    group = np.cumsum(first) - 1
    n_events = int(first.sum())
    words = pd.Series(tokens[rows], dtype=object).groupby(group, sort=True).agg("".join).to_list()
    if context is None:
        text = words
    elif text_context == "sentence":
        text = context[rows[first]].tolist()
    else:
        last = np.ones(starts.size, dtype=bool)  # last token of each event
        last[:-1] = first[1:]
        text = context[rows[last]].tolist()
    dropped = {"no_onset": n_no_onset, "merged": int(len(rows) - n_events)}
    if dropped["merged"]:
        logger.info(
            "Movie %s: merged %d tokens sharing an onset with the previous token.",
            movie,
            dropped["merged"],
        )
    table = pd.DataFrame(
        {
            "movie": movie,
            "alignment": "language",
            "movie_time": starts[first],
            "text": text,
            "word": words,
        }
    )
    table = _attach_frames(table, frame_times, movie, "words", dropped)
    return _finish(table, dropped)


def vision_events(cut_times, transcript: pd.DataFrame, frame_times, movie: str) -> pd.DataFrame:
    """One event per scene cut, paired with the first frame of the new scene and the
    nearest preceding sentence.

    Parameters
    ----------
    cut_times : array-like of float, shape (n_cuts,)
        Scene-cut times, seconds, strictly increasing (see :mod:`features.scenes`).
    transcript : pandas.DataFrame
        Words of the movie: needs ``start`` and ``sentence``; ``is_onset`` used when present.
    frame_times : array-like of float, shape (n_frames,), or None
        Frame presentation times of the movie, seconds, strictly increasing; None when there
        is no video (``frame_time`` is then NaN).
    movie : str
        Movie id.

    Returns
    -------
    events : pandas.DataFrame, shape (n_events, 6)
        The events contract, sorted by ``movie_time`` (= the cut time). ``text`` is the last
        sentence whose first word (first row with a finite ``start``) started at or before the
        cut (within ``TIME_TOL_S``); ``""`` when no sentence has started yet (counted in a
        warning and in ``attrs["dropped"]["no_sentence"]``, although the event is kept).
        ``word`` is ``""``. Cuts after the last frame are dropped and counted.
    """
    _require_columns(transcript, ["start", "sentence"], movie)
    cuts = validate_cut_times(cut_times, source=f"scene cuts of movie {movie!r}")
    df = transcript.reset_index(drop=True)
    onset = _onsets(df)
    sid = _sentence_ids(df)
    has_onset = np.isfinite(onset)
    # First row with a finite onset of each sentence: its start is the sentence's start.
    heads = pd.Series(np.flatnonzero(has_onset)).groupby(sid[has_onset]).first().to_numpy()
    sent_start = onset[heads]
    sent_text = df["sentence"].to_numpy(object)[heads]
    order = np.argsort(sent_start, kind="stable")
    sent_start, sent_text = sent_start[order], sent_text[order]
    which = np.searchsorted(sent_start, cuts + TIME_TOL_S, side="right") - 1
    none = which < 0
    text = np.where(none, "", sent_text[np.maximum(which, 0)] if sent_text.size else "")
    text = np.array([t if isinstance(t, str) else "" for t in text], dtype=object)
    if none.any():
        logger.warning(
            "Movie %s: %d scene cuts come before the first sentence; their text is empty.",
            movie,
            int(none.sum()),
        )
    dropped = {"no_sentence": int(none.sum())}
    table = pd.DataFrame(
        {"movie": movie, "alignment": "vision", "movie_time": cuts, "text": text, "word": ""}
    )
    table = _attach_frames(table, frame_times, movie, "scene cuts", dropped)
    return _finish(table, dropped)


def events_frame_times(*tables: pd.DataFrame) -> np.ndarray:
    """Sorted unique frame times needed by one or more events tables.

    Pass the language and vision tables of a movie together so that each frame is decoded
    once for both alignments.

    Parameters
    ----------
    *tables : pandas.DataFrame
        Events tables with a ``frame_time`` column (seconds).

    Returns
    -------
    times : numpy.ndarray of float64, shape (n_unique,)
        Seconds, strictly increasing.
    """
    if not tables:
        raise ValueError("events_frame_times needs at least one events table.")
    parts = []
    for i, table in enumerate(tables):
        if "frame_time" not in getattr(table, "columns", ()):
            raise ValueError(f"Events table #{i} has no `frame_time` column.")
        ft = pd.to_numeric(table["frame_time"], errors="coerce").to_numpy(np.float64)
        if not np.all(np.isfinite(ft)):
            raise ValueError(
                f"Events table #{i} has {int((~np.isfinite(ft)).sum())} missing/non-finite "
                "frame_time values; build tables with language_events/vision_events."
            )
        parts.append(ft)
    return np.unique(np.concatenate(parts))

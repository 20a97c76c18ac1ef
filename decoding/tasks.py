"""Decoding tasks from the dataset's own tables: labelled event times in movie seconds.

Each task turns a movie's word table (``transcripts/<movie>/features.csv`` as
:meth:`mmsites.recordings.braintreebank.BrainTreebank.transcript` returns it: one row per
word, ``start``/``end`` in seconds of movie time, ``is_onset``, ``idx_in_sentence``,
``sentence``, ``rms``, ``pitch``, ...) or its scene cuts (seconds of movie time, as
:func:`mmsites.features.scenes.read_scene_file` returns them) into a table of events with a
binary label:

=================  ==============================================  =========================
task               label 1                                         label 0
=================  ==============================================  =========================
``onset``          first word of a sentence (``is_onset == 1``)    silence window
``speech``         any word                                        silence window
``volume``         word in the top quartile of ``rms``             bottom quartile
``pitch``          word in the top quartile of ``pitch``           bottom quartile
``word_gap``       word after a long gap (top quartile)            short gap (bottom quartile)
``word_index``     first word of a sentence (``idx_in_sentence``   second word (``== 1``)
                   ``== 0``)
``sentence_onset`` first word of a sentence (``is_onset == 1``)    every other word
``scene_cut``      scene cut                                       window far from any cut
=================  ==============================================  =========================

The names and definitions follow Neuroprobe 0.1.8 (``neuroprobe/datasets.py``,
``neuroprobe/config.py`` and the word and non-verbal tables it ships) where it has the task:
``onset``, ``speech``, ``volume``, ``pitch``, ``word_gap`` and ``word_index`` are its tasks,
built by its rules by default; ``sentence_onset`` (first word vs all other words, the
BrainBERT/PopT/BaRISTA contrast) and ``scene_cut`` (the project's vision alignment) are ours.
``tests/test_neuroprobe_agreement.py`` runs Neuroprobe's own dataset code on its shipped
sessions and checks that these functions pick the same events with the same labels. One
input differs by default: Neuroprobe's ``pitch`` reads a pitch estimate it ships
(``enhanced_pitch``), not the ``pitch`` column of features.csv (:func:`pitch`).

Notes
-----
**Conventions shared by every task** (Neuroprobe's unless marked otherwise)

* **Words.** Neuroprobe's word set: a row of the word table whose value is missing (NaN) in
  any column other than ``word_diff`` and ``onset_diff`` is not a word for any task
  (Neuroprobe's ``words_df.dropna()``), nor is a row without a finite ``start``. Pass
  ``complete_words=False`` to keep every timed row (then a word whose ``end`` is missing is
  taken to last until the next word starts, and a task drops only the rows whose own columns
  are missing: a word with an unknown pitch still counts as speech). Neuroprobe also drops
  the words whose window falls outside the recording; that needs the recording and is left
  to the caller (the decode stage drops such events).
* **Event time.** ``time_s`` is where the event's neural window starts: the word's onset
  (``start``), the cut, or the start of a silence window. A decoder reads the window
  ``[time_s, time_s + window_s)`` with ``window_s`` = 1 s, Neuroprobe's 0..+1 s after the
  event (:data:`WINDOW_S`).
* **Silence windows** (label 0 of ``onset`` and ``speech``), Neuroprobe's rule
  (``silence="neuroprobe"``): for each pair of consecutive words in table order, windows of
  ``window_s`` start ``pad_s`` = 2 s (:data:`SILENCE_PAD_S`) after the first word's ``end``
  and every ``step_s`` = 0.5 s (:data:`SILENCE_STEP_S`, 50 % overlap) after that, as long as
  the window ends at least ``pad_s + window_s`` = 3 s before the next word's ``start``
  (Neuroprobe subtracts the window length from the gap twice). Only gaps *between* words are
  tiled (before the first and after the last word the film may not be playing); pass
  ``span`` to tile the ends too. Applied to the recording-clock word times of Neuroprobe's 26
  shipped sessions (``est_idx / 2048``) this reproduces every one of its 115,990 shipped
  non-verbal windows and no other. ``silence="symmetric"`` (ours, and ``scene_cut``'s
  default) keeps every window whose every sample is at least ``pad_s`` from any word
  interval ``[start, end]`` (overlapping words merged, any row order): the same guarantee on
  both sides, 6 % more windows on those sessions (2-16 % per session; Neuroprobe's own
  windows also keep 2 s from every word there). The rule applies to the clock of the times
  it is given: Neuroprobe tiles recording time, so its windows also fill the stretches where
  the movie was paused; the decode stage gives movie time, where a pause is no time at all
  (the same rule on the movie times of those sessions gives 88,279 windows, 24 % fewer).
* **Quartiles** (``volume``, ``pitch``, ``word_gap``): a value's percentile is the fraction
  of the task's values strictly smaller than it; for ``volume`` and ``pitch`` a percentile
  ``> 0.75`` is label 1, for ``word_gap`` ``>= 0.75`` (Neuroprobe writes the two rules so);
  ``< 0.25`` is label 0 and the rest is dropped. Infinite values take part as the largest or
  smallest; NaN values are dropped first (Neuroprobe's word set has none). Quartiles are
  computed over the table given (one movie: Neuroprobe computes them per session).
* **Balance.** Events at the same time are kept once (a time carrying both labels is
  dropped; the words of Neuroprobe's sessions have no repeated ``start``). Then, as
  Neuroprobe does, each class is subsampled without replacement to the size of the smaller
  one (and to ``max_per_class`` when given: Neuroprobe Lite caps a task at 3,500 events,
  i.e. ``max_per_class=1750``) by ``numpy.random.RandomState(seed).choice`` over the
  candidates in table order, label 1 first, then label 0; ``seed`` defaults to Neuroprobe's
  42 (:data:`SEED`), so the same table gives Neuroprobe's events. The output is
  **balanced** (equal class counts); the probes nevertheless fit with
  ``class_weight="balanced"``, because a contiguous fold's training part need not be
  balanced.
* Rows whose ``start`` is missing or infinite (untimed word particles) are dropped, as the
  transcript reader does; the other columns are read as numbers and a non-numeric value is
  an error that names the column.

Every task returns a :class:`pandas.DataFrame` with columns ``time_s`` (float64, seconds of
movie time) and ``label`` (int64, 0 or 1), sorted by time, index ``0..n-1``; the result is a
deterministic function of the inputs and ``seed``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

__all__ = [
    "TASKS",
    "WORD_TASKS",
    "WINDOW_S",
    "SILENCE_PAD_S",
    "SILENCE_STEP_S",
    "SILENCE_RULES",
    "SEED",
    "TASK_COLUMNS",
    "NEUROPROBE_OPTIONAL_COLUMNS",
    "onset",
    "speech",
    "volume",
    "pitch",
    "word_gap",
    "word_index",
    "sentence_onset",
    "scene_cut",
    "clear_windows",
    "quartile_labels",
    "balance",
    "build_task",
    "build_tasks",
]

#: Every task this module builds, in a stable order.
TASKS = ("onset", "speech", "volume", "pitch", "word_gap", "word_index", "sentence_onset", "scene_cut")
#: The tasks built from the word table (``scene_cut`` needs the scene cuts).
WORD_TASKS = TASKS[:-1]
#: Length (s) of the neural window read after each event: Neuroprobe's [onset, onset + 1 s].
WINDOW_S = 1.0
#: Minimum distance (s) between a silence window and the words (Neuroprobe's padding).
SILENCE_PAD_S = 2.0
#: Step (s) between consecutive silence windows of one gap (Neuroprobe: 50 % overlap).
SILENCE_STEP_S = 0.5
#: The silence rules of :func:`clear_windows`: Neuroprobe's, and ours with equal padding.
SILENCE_RULES = ("neuroprobe", "symmetric")
#: Default seed of the class balancing (Neuroprobe's global seed).
SEED = 42
#: Columns of every task table.
TASK_COLUMNS = ("time_s", "label")
#: Columns whose missing values do not exclude a word (Neuroprobe drops them before its dropna).
NEUROPROBE_OPTIONAL_COLUMNS = ("word_diff", "onset_diff")

# Slack for floating-point comparisons of times (s): far below a sample at 2048 Hz.
_EPS = 1e-9


# -- inputs -------------------------------------------------------------------------------
def _timed_words(words, columns: Sequence[str], task: str, complete_words: bool = True) -> pd.DataFrame:
    """The words of ``words`` (module docstring), the needed columns as numbers, table order."""
    if not isinstance(words, pd.DataFrame):
        raise TypeError(f"task {task!r}: words must be a pandas DataFrame, got {type(words).__name__}")
    missing = [c for c in ("start", *columns) if c not in words.columns]
    if missing:
        raise ValueError(
            f"task {task!r}: the words table has no column(s) {missing} (columns: "
            f"{list(words.columns)[:16]}); expected the columns of transcripts/<movie>/features.csv"
        )
    if complete_words:  # Neuroprobe: words_df.drop(['word_diff', 'onset_diff']).dropna()
        rest = words.drop(columns=[c for c in NEUROPROBE_OPTIONAL_COLUMNS if c in words.columns])
        words = words.loc[rest.notna().all(axis=1).to_numpy()]
    out = pd.DataFrame(index=words.index)
    for col in dict.fromkeys(("start", *columns)):
        raw = words[col]
        if col == "sentence":  # compared for equality only: any type will do
            out[col] = raw
            continue
        num = pd.to_numeric(raw, errors="coerce")
        bad = num.isna() & raw.notna()
        if bad.any():
            row = words.index[np.flatnonzero(bad.to_numpy())[0]]
            raise ValueError(f"task {task!r}: column {col!r} is not numeric at row {row!r}: {raw.loc[row]!r}")
        out[col] = num.astype(np.float64)
    return out.loc[np.isfinite(out["start"].to_numpy())]


def _check_window(window_s: float, pad_s: float, step_s: float) -> tuple[float, float, float]:
    window_s, pad_s, step_s = float(window_s), float(pad_s), float(step_s)
    if not window_s > 0 or not step_s > 0 or not pad_s >= 0:
        raise ValueError(
            f"window_s and step_s must be positive and pad_s non-negative (seconds); got "
            f"window_s={window_s}, step_s={step_s}, pad_s={pad_s}"
        )
    return window_s, pad_s, step_s


# -- building blocks ----------------------------------------------------------------------
def clear_windows(
    starts,
    ends,
    *,
    window_s: float = WINDOW_S,
    pad_s: float = SILENCE_PAD_S,
    step_s: float = SILENCE_STEP_S,
    span: tuple[float, float] | None = None,
    rule: str = "neuroprobe",
) -> np.ndarray:
    """Start times of the windows that keep away from every interval: the silence rule.

    The silence rule of ``onset`` and ``speech`` (intervals = words) and the no-cut rule of
    ``scene_cut`` (intervals of zero length = cuts), written once. Each gap between intervals
    is tiled with windows ``[t, t + window_s)``, the first starting ``pad_s`` after the end
    before the gap, the next ones every ``step_s``, as long as the window ends early enough
    before the next start:

    * ``rule="neuroprobe"`` (Neuroprobe 0.1.8's non-verbal windows): the gaps are those
      between consecutive intervals *in the given order*, from the first one's own ``end``;
      a window must end at least ``pad_s + window_s`` before the next start.
    * ``rule="symmetric"``: intervals are sorted by start and overlapping ones merged (a gap
      starts at the latest end so far); a window must end at least ``pad_s`` before the next
      start. No interval ``[start, end]`` then intersects ``(t - pad_s, t + window_s +
      pad_s)``.

    Parameters
    ----------
    starts : array-like of float, shape (n_intervals,)
        Interval starts (s), finite.
    ends : array-like of float, shape (n_intervals,)
        Interval ends (s), used as given (on the recording clock of Neuroprobe's tables a
        word's end can fall a few samples before its start); NaN or infinite: unknown, taken
        as the start of the next interval (the last one's as its own start).
    window_s : float, default 1.0
        Window length (s).
    pad_s : float, default 2.0
        Padding (s) between a window and the intervals.
    step_s : float, default 0.5
        Step (s) between consecutive windows of one gap.
    span : tuple of float, optional
        ``(first, last)`` seconds to tile before the first and after the last interval too
        (windows inside ``[first, last]``, no padding at its ends); default: only the gaps
        between intervals are tiled.
    rule : {"neuroprobe", "symmetric"}, default "neuroprobe"
        The rule above (:data:`SILENCE_RULES`).

    Returns
    -------
    times : ndarray of float64, shape (n_windows,)
        Window starts (s), gap by gap in the order of the intervals (increasing when the
        intervals are sorted and do not overlap; always increasing for ``"symmetric"``).

    Raises
    ------
    ValueError
        If the arrays differ in length, a start is not finite, the lengths are not positive
        or the rule is unknown.
    """
    window_s, pad_s, step_s = _check_window(window_s, pad_s, step_s)
    if rule not in SILENCE_RULES:
        raise ValueError(f"unknown silence rule {rule!r}; expected one of {list(SILENCE_RULES)}")
    s = np.asarray(starts, dtype=np.float64).ravel()
    e = np.asarray(ends, dtype=np.float64).ravel()
    if s.shape != e.shape:
        raise ValueError(f"starts and ends differ in length: {s.size} vs {e.size}")
    if not np.isfinite(s).all():
        raise ValueError("interval starts must be finite seconds")
    if rule == "symmetric":
        order = np.argsort(s, kind="stable")
        s, e = s[order], e[order]
    e = np.where(np.isfinite(e), e, np.r_[s[1:], s[-1:]] if s.size else s)
    if rule == "symmetric":
        before = np.maximum.accumulate(e) if e.size else e  # merged: the latest end so far
        margin = pad_s
    else:
        before = e  # Neuroprobe: the previous word's own end
        margin = pad_s + window_s  # Neuroprobe: its last window ends 3 s before the next word
    # each gap: (earliest window start, latest window end)
    lo = before[:-1] + pad_s
    hi = s[1:] - margin
    if span is not None:
        first, last = float(span[0]), float(span[1])
        if s.size == 0:
            lo, hi = np.array([first]), np.array([last])
        else:
            lo = np.r_[first, lo, e.max() + pad_s]
            hi = np.r_[s.min() - margin, hi, last]
    room = hi - window_s - lo
    fits = room >= -_EPS
    n = np.zeros(room.shape, dtype=np.int64)
    n[fits] = np.floor(room[fits] / step_s + _EPS).astype(np.int64) + 1
    k = np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)
    return np.repeat(lo, n) + step_s * k


def quartile_labels(values, *, top_inclusive: bool = False) -> np.ndarray:
    """Top-vs-bottom-quartile labels of a feature, Neuroprobe's rule.

    Parameters
    ----------
    values : array-like of float, shape (n,)
        Feature values; NaN is left unlabelled, ±inf are the largest and smallest values.
    top_inclusive : bool, default False
        Label 1 from a percentile of 0.75 on (Neuroprobe's ``word_gap``) instead of above it
        (Neuroprobe's ``volume``, ``pitch`` and its other feature tasks).

    Returns
    -------
    labels : ndarray of int64, shape (n,)
        With the percentile of a value = the fraction of the non-NaN values strictly smaller
        than it: 1 where it is ``> 0.75`` (``>= 0.75`` with ``top_inclusive``), 0 where it
        is ``< 0.25``, -1 elsewhere (the middle half, and NaN).
    """
    v = np.asarray(values, dtype=np.float64).ravel()
    out = np.full(v.size, -1, dtype=np.int64)
    ok = ~np.isnan(v)
    if not ok.any():
        return out
    srt = np.sort(v[ok])
    pct = np.searchsorted(srt, v[ok], side="left") / srt.size
    top = pct >= 0.75 if top_inclusive else pct > 0.75
    out[ok] = np.where(top, 1, np.where(pct < 0.25, 0, -1))
    return out


def balance(
    times, labels, *, seed: int = SEED, max_per_class: int | None = None, task: str = "task"
) -> pd.DataFrame:
    """Deduplicate and balance labelled event times into a task table, Neuroprobe's draw.

    Parameters
    ----------
    times : array-like of float, shape (n,)
        Event times (s of movie time), finite, candidates in table order.
    labels : array-like of int, shape (n,)
        0 or 1 per event; events labelled anything else (e.g. -1) are dropped.
    seed : int, default 42
        Seed of the ``numpy.random.RandomState`` that subsamples the classes.
    max_per_class : int, optional
        Keep at most this many events per class (Neuroprobe Lite: 1750).
    task : str, default "task"
        Task name, for error messages.

    Returns
    -------
    table : pandas.DataFrame
        Columns ``time_s`` (float64, s) and ``label`` (int64, 0/1), sorted by time, index
        ``0..n-1``, the same number ``m = min(n_0, n_1, max_per_class)`` of events in each
        class: ``RandomState(seed).choice(candidates, m, replace=False)`` of the label-1
        candidates, then of the label-0 ones, each in the order given (Neuroprobe's draw). A
        time that occurs more than once is kept once (its first occurrence); a time carrying
        both labels is dropped.

    Raises
    ------
    ValueError
        If a time is not finite, the shapes differ, ``max_per_class < 1`` or a class is
        empty.
    """
    t = np.asarray(times, dtype=np.float64).ravel()
    y = np.asarray(labels).ravel()
    if t.shape != y.shape:
        raise ValueError(f"task {task!r}: {t.size} times but {y.size} labels")
    keep = (y == 0) | (y == 1)
    t, y = t[keep], y[keep].astype(np.int64)
    if not np.isfinite(t).all():
        raise ValueError(f"task {task!r}: event times must be finite seconds")
    if max_per_class is not None and int(max_per_class) < 1:
        raise ValueError(f"max_per_class must be a positive integer, got {max_per_class}")
    frame = pd.DataFrame({"time_s": t, "label": y})
    conflicting = frame.groupby("time_s")["label"].transform("nunique") > 1
    frame = frame.loc[~conflicting].drop_duplicates("time_s")
    counts = frame["label"].value_counts()
    n0, n1 = int(counts.get(0, 0)), int(counts.get(1, 0))
    if n0 == 0 or n1 == 0:
        raise ValueError(
            f"task {task!r}: one class is empty ({n1} events labelled 1, {n0} labelled 0); "
            "the table is too short or lacks the contrast the task needs"
        )
    n = min(n0, n1) if max_per_class is None else min(n0, n1, int(max_per_class))
    rng = np.random.RandomState(seed)  # Neuroprobe's generator, not default_rng
    parts = []
    for label in (1, 0):  # Neuroprobe draws the positive class first
        idx = np.flatnonzero(frame["label"].to_numpy() == label)
        parts.append(np.sort(rng.choice(idx, size=n, replace=False)))
    out = frame.iloc[np.concatenate(parts)].sort_values(["time_s", "label"], kind="stable")
    return out.reset_index(drop=True)


# -- the tasks ----------------------------------------------------------------------------
def _events_vs_clear_windows(
    events, starts, ends, task: str, *, rule: str, span=None, seed, max_per_class, **windows
) -> pd.DataFrame:
    """Label 1 at ``events``, label 0 at the clear windows of the intervals: one rule for all."""
    neg = clear_windows(starts, ends, rule=rule, span=span, **windows)
    return balance(
        np.r_[events, neg],
        np.r_[np.ones(len(events)), np.zeros(neg.size)],
        seed=seed,
        max_per_class=max_per_class,
        task=task,
    )


def _speech_vs_silence(words, task: str, *, onsets_only: bool, complete_words: bool, silence: str, **kw):
    w = _timed_words(words, ("end", "is_onset") if onsets_only else ("end",), task, complete_words)
    start = w["start"].to_numpy()
    pos = start[w["is_onset"].to_numpy() == 1] if onsets_only else start
    return _events_vs_clear_windows(pos, start, w["end"].to_numpy(), task, rule=silence, **kw)


def onset(
    words: pd.DataFrame,
    *,
    window_s: float = WINDOW_S,
    pad_s: float = SILENCE_PAD_S,
    step_s: float = SILENCE_STEP_S,
    seed: int = SEED,
    max_per_class: int | None = None,
    silence: str = "neuroprobe",
    complete_words: bool = True,
) -> pd.DataFrame:
    """Neuroprobe's ``onset`` ("Sentence Onset"): a sentence's first word vs silence.

    Label 1: the onset of every word with ``is_onset == 1``. Label 0: silence windows
    (module docstring, :func:`clear_windows`).

    Parameters
    ----------
    words : pandas.DataFrame
        One row per word in transcript order, columns ``start``, ``end`` (s of movie time),
        ``is_onset``.
    window_s : float, default 1.0
        Length (s) of the neural window after each event.
    pad_s : float, default 2.0
        Padding (s) between a silence window and the words.
    step_s : float, default 0.5
        Step (s) between the silence windows of one gap.
    seed : int, default 42
        Seed of the class balancing.
    max_per_class : int, optional
        Cap on the events of each class.
    silence : {"neuroprobe", "symmetric"}, default "neuroprobe"
        Silence rule (:func:`clear_windows`).
    complete_words : bool, default True
        Neuroprobe's word set: drop rows with a missing value (module docstring).

    Returns
    -------
    table : pandas.DataFrame
        Balanced ``time_s, label`` table (module docstring).
    """
    return _speech_vs_silence(
        words,
        "onset",
        onsets_only=True,
        complete_words=complete_words,
        silence=silence,
        window_s=window_s,
        pad_s=pad_s,
        step_s=step_s,
        seed=seed,
        max_per_class=max_per_class,
    )


def speech(
    words: pd.DataFrame,
    *,
    window_s: float = WINDOW_S,
    pad_s: float = SILENCE_PAD_S,
    step_s: float = SILENCE_STEP_S,
    seed: int = SEED,
    max_per_class: int | None = None,
    silence: str = "neuroprobe",
    complete_words: bool = True,
) -> pd.DataFrame:
    """Neuroprobe's ``speech``: any word's onset vs silence.

    Label 1: the onset of every word (the 1-s window after it is mostly speech). Label 0:
    silence windows (module docstring, :func:`clear_windows`).

    Parameters
    ----------
    words : pandas.DataFrame
        One row per word in transcript order, columns ``start``, ``end`` (s of movie time).
    window_s : float, default 1.0
        Length (s) of the neural window after each event.
    pad_s : float, default 2.0
        Padding (s) between a silence window and the words.
    step_s : float, default 0.5
        Step (s) between the silence windows of one gap.
    seed : int, default 42
        Seed of the class balancing.
    max_per_class : int, optional
        Cap on the events of each class.
    silence : {"neuroprobe", "symmetric"}, default "neuroprobe"
        Silence rule (:func:`clear_windows`).
    complete_words : bool, default True
        Neuroprobe's word set: drop rows with a missing value (module docstring).

    Returns
    -------
    table : pandas.DataFrame
        Balanced ``time_s, label`` table (module docstring).
    """
    return _speech_vs_silence(
        words,
        "speech",
        onsets_only=False,
        complete_words=complete_words,
        silence=silence,
        window_s=window_s,
        pad_s=pad_s,
        step_s=step_s,
        seed=seed,
        max_per_class=max_per_class,
    )


def _quartile_task(w: pd.DataFrame, values, task: str, *, top_inclusive: bool, seed, max_per_class):
    """Words in the top vs the bottom quartile of ``values``: one rule for the three tasks."""
    return balance(
        w["start"].to_numpy(),
        quartile_labels(values, top_inclusive=top_inclusive),
        seed=seed,
        max_per_class=max_per_class,
        task=task,
    )


def volume(
    words: pd.DataFrame,
    *,
    column: str = "rms",
    seed: int = SEED,
    max_per_class: int | None = None,
    complete_words: bool = True,
) -> pd.DataFrame:
    """Neuroprobe's ``volume``: words in the top vs the bottom quartile of loudness.

    Parameters
    ----------
    words : pandas.DataFrame
        One row per word, columns ``start`` (s of movie time) and ``column``.
    column : str, default "rms"
        The loudness column (``rms`` of features.csv, as Neuroprobe uses).
    seed : int, default 42
        Seed of the class balancing.
    max_per_class : int, optional
        Cap on the events of each class.
    complete_words : bool, default True
        Neuroprobe's word set: drop rows with a missing value (module docstring).

    Returns
    -------
    table : pandas.DataFrame
        Balanced ``time_s, label`` table; ``time_s`` is the word's onset; label 1 above the
        75th percentile, 0 below the 25th (module docstring).
    """
    w = _timed_words(words, (column,), "volume", complete_words)
    return _quartile_task(
        w, w[column].to_numpy(), "volume", top_inclusive=False, seed=seed, max_per_class=max_per_class
    )


def pitch(
    words: pd.DataFrame,
    *,
    column: str = "pitch",
    seed: int = SEED,
    max_per_class: int | None = None,
    complete_words: bool = True,
) -> pd.DataFrame:
    """Neuroprobe's ``pitch``: words in the top vs the bottom quartile of voice pitch.

    Neuroprobe reads ``enhanced_pitch`` from the per-movie JSON it ships
    (``neuroprobe/pitch_volume_features/<movie>_pitch_volume_features.json``, keyed by the
    word's ``start`` to 5 decimals), not the ``pitch`` column of features.csv; join that
    value onto the table and pass ``column="enhanced_pitch"`` to use its feature.

    Parameters
    ----------
    words : pandas.DataFrame
        One row per word, columns ``start`` (s of movie time) and ``column``.
    column : str, default "pitch"
        The pitch column.
    seed : int, default 42
        Seed of the class balancing.
    max_per_class : int, optional
        Cap on the events of each class.
    complete_words : bool, default True
        Neuroprobe's word set: drop rows with a missing value (module docstring).

    Returns
    -------
    table : pandas.DataFrame
        Balanced ``time_s, label`` table; ``time_s`` is the word's onset; label 1 above the
        75th percentile, 0 below the 25th (module docstring).
    """
    w = _timed_words(words, (column,), "pitch", complete_words)
    return _quartile_task(
        w, w[column].to_numpy(), "pitch", top_inclusive=False, seed=seed, max_per_class=max_per_class
    )


def word_gap(
    words: pd.DataFrame,
    *,
    sentence_column: str = "sentence",
    seed: int = SEED,
    max_per_class: int | None = None,
    complete_words: bool = True,
) -> pd.DataFrame:
    """Neuroprobe's ``word_gap``: words after a long vs a short pause within a sentence.

    For each word whose previous word (table order) belongs to the same sentence (equal
    ``sentence_column``, Neuroprobe compares the sentence text), the gap is ``start -
    previous end`` (s); gaps at or above the 75th percentile are label 1, below the 25th
    label 0 (percentiles over these gaps, module docstring). The first word of a sentence,
    and words after a word without a finite ``end``, have no gap and are dropped.

    Parameters
    ----------
    words : pandas.DataFrame
        One row per word in transcript order, columns ``start``, ``end`` (s of movie time)
        and ``sentence_column``.
    sentence_column : str, default "sentence"
        Column identifying a word's sentence (``sentence`` text or ``sentence_idx``).
    seed : int, default 42
        Seed of the class balancing.
    max_per_class : int, optional
        Cap on the events of each class.
    complete_words : bool, default True
        Neuroprobe's word set: drop rows with a missing value (module docstring).

    Returns
    -------
    table : pandas.DataFrame
        Balanced ``time_s, label`` table; ``time_s`` is the onset of the word after the gap.
    """
    w = _timed_words(words, ("end", sentence_column), "word_gap", complete_words)
    sentence = w[sentence_column].to_numpy()
    start, end = w["start"].to_numpy(), w["end"].to_numpy()
    gap = np.full(len(w), np.nan)
    if len(w) > 1:
        same = np.r_[False, sentence[1:] == sentence[:-1]] & pd.notna(sentence)
        gap[1:] = start[1:] - end[:-1]
        gap[~same] = np.nan
    return _quartile_task(w, gap, "word_gap", top_inclusive=True, seed=seed, max_per_class=max_per_class)


def word_index(
    words: pd.DataFrame, *, seed: int = SEED, max_per_class: int | None = None, complete_words: bool = True
) -> pd.DataFrame:
    """Neuroprobe's ``word_index`` ("Word Position"): a sentence's first vs second word.

    Parameters
    ----------
    words : pandas.DataFrame
        One row per word, columns ``start`` (s of movie time) and ``idx_in_sentence``.
    seed : int, default 42
        Seed of the class balancing.
    max_per_class : int, optional
        Cap on the events of each class.
    complete_words : bool, default True
        Neuroprobe's word set: drop rows with a missing value (module docstring).

    Returns
    -------
    table : pandas.DataFrame
        Balanced ``time_s, label`` table: label 1 where ``idx_in_sentence == 0``, 0 where
        it is 1; ``time_s`` is the word's onset.
    """
    w = _timed_words(words, ("idx_in_sentence",), "word_index", complete_words)
    idx = w["idx_in_sentence"].to_numpy()
    labels = np.where(idx == 0, 1, np.where(idx == 1, 0, -1))
    return balance(w["start"].to_numpy(), labels, seed=seed, max_per_class=max_per_class, task="word_index")


def sentence_onset(
    words: pd.DataFrame, *, seed: int = SEED, max_per_class: int | None = None, complete_words: bool = True
) -> pd.DataFrame:
    """A sentence's first word vs every other word (not a Neuroprobe task).

    The BrainBERT/PopT/BaRISTA sentence-onset contrast among words: unlike ``onset`` (first
    word vs silence) both classes are speech, and unlike ``word_index`` (first vs second
    word) the negatives are all non-initial words.

    Parameters
    ----------
    words : pandas.DataFrame
        One row per word, columns ``start`` (s of movie time) and ``is_onset``.
    seed : int, default 42
        Seed of the class balancing.
    max_per_class : int, optional
        Cap on the events of each class.
    complete_words : bool, default True
        Neuroprobe's word set: drop rows with a missing value (module docstring).

    Returns
    -------
    table : pandas.DataFrame
        Balanced ``time_s, label`` table: label 1 where ``is_onset == 1``, 0 where
        ``is_onset == 0``; ``time_s`` is the word's onset.
    """
    w = _timed_words(words, ("is_onset",), "sentence_onset", complete_words)
    flag = w["is_onset"].to_numpy()
    labels = np.where(flag == 1, 1, np.where(flag == 0, 0, -1))
    return balance(
        w["start"].to_numpy(), labels, seed=seed, max_per_class=max_per_class, task="sentence_onset"
    )


def scene_cut(
    cut_times,
    *,
    window_s: float = WINDOW_S,
    pad_s: float = SILENCE_PAD_S,
    step_s: float = SILENCE_STEP_S,
    span: tuple[float, float] | None = None,
    seed: int = SEED,
    max_per_class: int | None = None,
    silence: str = "symmetric",
) -> pd.DataFrame:
    """A scene cut vs a window with no cut nearby (not a Neuroprobe task).

    Label 1: every cut. Label 0: windows ``[t, t + window_s)`` with no cut within ``pad_s``
    of them (no cut in ``(t - pad_s, t + window_s + pad_s)``), tiled every ``step_s`` in the
    gaps between cuts: the silence rule with cuts in place of words (:func:`clear_windows`,
    its ``"symmetric"`` rule by default).

    Parameters
    ----------
    cut_times : array-like of float, shape (n_cuts,)
        Scene cuts (s of movie time), finite.
    window_s : float, default 1.0
        Length (s) of the neural window after each event.
    pad_s : float, default 2.0
        Minimum distance (s) between a negative window and any cut (the "±Y s").
    step_s : float, default 0.5
        Step (s) between the negative windows of one gap.
    span : tuple of float, optional
        ``(first, last)`` seconds of the film to tile before the first and after the last
        cut too; default: only between cuts.
    seed : int, default 42
        Seed of the class balancing.
    max_per_class : int, optional
        Cap on the events of each class.
    silence : {"symmetric", "neuroprobe"}, default "symmetric"
        Rule of the negative windows (:func:`clear_windows`).

    Returns
    -------
    table : pandas.DataFrame
        Balanced ``time_s, label`` table.
    """
    cuts = np.asarray(cut_times, dtype=np.float64).ravel()
    if not np.isfinite(cuts).all():
        raise ValueError("task 'scene_cut': cut times must be finite seconds")
    cuts = np.sort(cuts)
    return _events_vs_clear_windows(
        cuts,
        cuts,
        cuts,
        "scene_cut",
        rule=silence,
        span=span,
        window_s=window_s,
        pad_s=pad_s,
        step_s=step_s,
        seed=seed,
        max_per_class=max_per_class,
    )


def build_task(
    name: str,
    words: pd.DataFrame | None = None,
    cut_times=None,
    *,
    seed: int = SEED,
    max_per_class: int | None = None,
    window_s: float = WINDOW_S,
    pad_s: float = SILENCE_PAD_S,
    step_s: float = SILENCE_STEP_S,
    volume_column: str = "rms",
    pitch_column: str = "pitch",
    sentence_column: str = "sentence",
    silence: str | None = None,
    complete_words: bool = True,
) -> pd.DataFrame:
    """Build one task's table by name.

    Parameters
    ----------
    name : str
        One of :data:`TASKS`.
    words : pandas.DataFrame, optional
        The movie's word table (needed by every task but ``scene_cut``).
    cut_times : array-like of float, optional
        The movie's scene cuts (s; needed by ``scene_cut``).
    seed : int, default 42
        Seed of the class balancing.
    max_per_class : int, optional
        Cap on the events of each class.
    window_s : float, default 1.0
        Length (s) of the neural window after each event (silence and no-cut rules).
    pad_s : float, default 2.0
        Padding (s) of a silence/no-cut window from the words/cuts.
    step_s : float, default 0.5
        Step (s) between consecutive silence/no-cut windows.
    volume_column : str, default "rms"
        Column of ``volume``.
    pitch_column : str, default "pitch"
        Column of ``pitch``.
    sentence_column : str, default "sentence"
        Column of ``word_gap``'s sentence identity.
    silence : {"neuroprobe", "symmetric"}, optional
        Silence rule (:func:`clear_windows`); default: each task's own (``"neuroprobe"`` for
        ``onset`` and ``speech``, ``"symmetric"`` for ``scene_cut``).
    complete_words : bool, default True
        Neuroprobe's word set: drop word rows with a missing value (module docstring).

    Returns
    -------
    table : pandas.DataFrame
        Balanced ``time_s, label`` table (module docstring).

    Raises
    ------
    ValueError
        If ``name`` is unknown, or the input it needs is missing or malformed.
    """
    if name not in TASKS:
        raise ValueError(f"unknown decoding task {name!r}; expected one of {list(TASKS)}")
    common = dict(seed=seed, max_per_class=max_per_class)
    windows = dict(window_s=window_s, pad_s=pad_s, step_s=step_s)
    if silence is not None:
        windows["silence"] = silence
    if name == "scene_cut":
        if cut_times is None:
            raise ValueError("task 'scene_cut' needs the scene cuts (cut_times)")
        return scene_cut(cut_times, **windows, **common)
    if words is None:
        raise ValueError(f"task {name!r} needs the words table (words)")
    common["complete_words"] = complete_words
    if name == "onset":
        return onset(words, **windows, **common)
    if name == "speech":
        return speech(words, **windows, **common)
    if name == "volume":
        return volume(words, column=volume_column, **common)
    if name == "pitch":
        return pitch(words, column=pitch_column, **common)
    if name == "word_gap":
        return word_gap(words, sentence_column=sentence_column, **common)
    if name == "word_index":
        return word_index(words, **common)
    return sentence_onset(words, **common)


def build_tasks(
    words: pd.DataFrame | None = None, cut_times=None, tasks: Sequence[str] | None = None, **options
) -> dict[str, pd.DataFrame]:
    """Build several tasks' tables for one movie.

    Parameters
    ----------
    words : pandas.DataFrame, optional
        The movie's word table.
    cut_times : array-like of float, optional
        The movie's scene cuts (s).
    tasks : sequence of str, optional
        Task names; default: every task whose input is given (:data:`WORD_TASKS` with
        ``words``, ``scene_cut`` with ``cut_times``).
    **options
        Keyword arguments of :func:`build_task` (``seed``, ``max_per_class``, ``window_s``,
        ``pad_s``, ``step_s``, the column names, ``silence``, ``complete_words``).

    Returns
    -------
    tables : dict of str to pandas.DataFrame
        Task name -> balanced ``time_s, label`` table, in the order of ``tasks``.
    """
    if tasks is None:
        tasks = (WORD_TASKS if words is not None else ()) + (("scene_cut",) if cut_times is not None else ())
    return {name: build_task(name, words, cut_times, **options) for name in tasks}

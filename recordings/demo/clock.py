"""The demo's recording clock: sampling rates, and where the movie runs in each recording.

Each subject's recording starts 3-6 s before the movie, the movie pauses once for 3-8 s of
recording (in the middle of a scene near 45 % of the movie, far from every cut and word) and the
recording stops during the last words (at least 3 word onsets after the last trigger), then
runs :data:`TAIL_S` more. The trigger table (``subject_timings/sub_<s>_trial000_timings.csv``)
has a trigger every 0.11-0.5 s; its movie times lie on a 1/64 s grid (:data:`TRIGGER_GRID_S`)
and its sample indices are whole, so every number in it is exact in binary and a reader's
:func:`~mmsites.recordings.braintreebank.movie_to_sample` recovers every event sample exactly.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mmsites.recordings.braintreebank import movie_to_sample

__all__ = [
    "TAIL_S",
    "TRIGGER_GRID_S",
    "end_time",
    "event_samples",
    "n_samples",
    "pause_time",
    "sampling_rate",
    "trigger_table",
]

#: Trigger movie times lie on this grid (s): exact in binary and in decimal.
TRIGGER_GRID_S = 1.0 / 64.0
#: Neural data recorded after the last trigger (s), so late responses fit in the file.
TAIL_S = 3.0


def sampling_rate(pos: int) -> float:
    """Sampling rate of the subject at one position of the demo.

    Parameters
    ----------
    pos : int
        Position of the subject in the demo (0 for the first).

    Returns
    -------
    float
        2048 Hz at even positions, 1024 Hz (like the real sub_9) at odd ones.
    """
    return 2048.0 if pos % 2 == 0 else 1024.0


def pause_time(starts: np.ndarray, fps: float, duration_s: float) -> float:
    """Movie time of the pause: the middle of the scene nearest 45 % of the movie.

    Parameters
    ----------
    starts : ndarray of int64, shape (n_scenes,)
        First frame of each scene.
    fps : float
        Frame rate of the movie (frames/s).
    duration_s : float
        Movie length (s).

    Returns
    -------
    float
        Movie time (s) of the pause, on the :data:`TRIGGER_GRID_S` grid.
    """
    mid = (starts[:-1] + starts[1:]) / 2 / fps
    return round(float(mid[np.argmin(np.abs(mid - 0.45 * duration_s))]) / TRIGGER_GRID_S) * TRIGGER_GRID_S


def end_time(transcript: pd.DataFrame) -> float:
    """Movie time of the last trigger: the recordings stop during the last words.

    Parameters
    ----------
    transcript : pandas.DataFrame
        The word table, column ``start`` (s of movie time, NaN for untimed tokens).

    Returns
    -------
    float
        The grid time (:data:`TRIGGER_GRID_S`) at or before 0.05 s before the third-last
        distinct word onset, so at least 3 onsets come after it.
    """
    finite_starts = np.sort(transcript["start"].dropna().unique())
    return np.floor((finite_starts[-3] - 0.05) / TRIGGER_GRID_S) * TRIGGER_GRID_S


def trigger_table(
    rng: np.random.Generator, sfreq: float, pause_time_s: float, end_time_s: float
) -> tuple[pd.DataFrame, float]:
    """Draw one recording's trigger table: where the movie starts, pauses and ends.

    Parameters
    ----------
    rng : numpy.random.Generator
        The subject's planning stream (start offset, pause length, trigger spacing, wall clock).
    sfreq : float
        Sampling rate of the recording (Hz).
    pause_time_s : float
        Movie time of the pause (s), on the :data:`TRIGGER_GRID_S` grid.
    end_time_s : float
        Movie time of the last trigger (s), on the grid.

    Returns
    -------
    table : pandas.DataFrame
        The ``subject_timings`` table, one row per trigger: ``type`` (``beginning``,
        ``trigger``, ``end``), ``movie_time`` (s), ``start_time`` and ``end_time`` (wall clock,
        s), ``trig_type`` (``movie beginning``, ``sync``, ``pause``, ``unpause``, ``movie
        end``), ``index`` (sample of the recording, int64), ``diff`` (s since the previous row).
        The pause is two rows at the same movie time.
    pause_s : float
        Length of the pause (s of recording).
    """
    grid = TRIGGER_GRID_S
    per_tick = int(round(sfreq * grid))
    offset = int(rng.integers(int(3 * sfreq), int(6 * sfreq)))  # recording starts before the movie
    pause_samples = int(rng.integers(int(3 * sfreq), int(8 * sfreq)))
    pause_tick, end_tick = int(round(pause_time_s / grid)), int(round(end_time_s / grid))
    ticks = [0]
    while ticks[-1] < end_tick:
        ticks.append(ticks[-1] + int(rng.integers(7, 33)))  # 0.11-0.5 s apart
    ticks = sorted(set(t for t in ticks if t < end_tick) | {pause_tick, end_tick})
    ticks = np.asarray(ticks, dtype=np.int64)
    at_pause = int(np.flatnonzero(ticks == pause_tick)[0])
    ticks = np.insert(ticks, at_pause + 1, pause_tick)  # the movie stands still during the pause
    index = offset + ticks * per_tick
    index[at_pause + 1 :] += pause_samples
    n = len(ticks)
    kind = np.full(n, "trigger", dtype=object)
    kind[0], kind[-1] = "beginning", "end"
    trig = np.full(n, "sync", dtype=object)
    trig[0], trig[-1] = "movie beginning", "movie end"
    trig[at_pause], trig[at_pause + 1] = "pause", "unpause"
    wall = 1.6e9 + rng.uniform(0, 1e7) + index / sfreq
    table = pd.DataFrame(
        {
            "type": kind,
            "movie_time": ticks * grid,
            "start_time": wall,
            "end_time": wall + 0.05,
            "trig_type": trig,
            "index": index,
            "diff": np.r_[np.nan, np.diff(wall)],
        }
    )
    return table, pause_samples / sfreq


def n_samples(timings: pd.DataFrame, sfreq: float) -> int:
    """Length of one recording: up to the last trigger and :data:`TAIL_S` beyond.

    Parameters
    ----------
    timings : pandas.DataFrame
        The recording's trigger table (:func:`trigger_table`), column ``index`` (samples).
    sfreq : float
        Sampling rate (Hz).

    Returns
    -------
    int
        Number of samples of every channel of the recording.
    """
    return int(timings["index"].iloc[-1] + TAIL_S * sfreq)


def event_samples(
    features: dict[str, pd.DataFrame], timings: pd.DataFrame, sfreq: float
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Place the events in one recording, by the reader's own rule.

    Parameters
    ----------
    features : dict of str to pandas.DataFrame
        Alignment -> events, column ``movie_time`` (s).
    timings : pandas.DataFrame
        The recording's trigger table (:func:`trigger_table`).
    sfreq : float
        Sampling rate (Hz).

    Returns
    -------
    onsets : dict of str to ndarray of int64
        Alignment -> sample of each event within the recording, by
        :func:`~mmsites.recordings.braintreebank.movie_to_sample` (nearest trigger).
    keep : dict of str to ndarray of bool
        Alignment -> which events fall within the recording (not after the last trigger),
        shape (n_events,).
    """
    onsets, keep = {}, {}
    for alignment, frame in features.items():
        sample = movie_to_sample(frame["movie_time"].to_numpy(), timings, sfreq)
        keep[alignment] = np.isfinite(sample)
        onsets[alignment] = sample[keep[alignment]].astype(np.int64)
    return onsets, keep

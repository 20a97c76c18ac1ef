"""Scene cuts: detection with PySceneDetect, or reading user-provided cut files.

A scene cut is reported as the movie time (seconds, see :mod:`features.video`) of the first
frame of the new scene. The start of the movie is not a cut.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from mmsites.features.video import frame_times, probe_video

logger = logging.getLogger(__name__)

__all__ = ["detect_scene_cuts", "read_scene_file", "validate_cut_times"]

#: Column of the PySceneDetect ``list-scenes`` CSV holding each scene's start in seconds.
_PYSCENEDETECT_START_COL = "Start Time (seconds)"


def detect_scene_cuts(
    path, *, threshold: float = 27.0, min_scene_len_s: float = 0.5, progress: bool = True
) -> np.ndarray:
    """Detect hard cuts with PySceneDetect's ``ContentDetector`` (PyAV backend).

    Parameters
    ----------
    path : str or path-like or VideoInfo
        Video file, or its :func:`features.video.probe_video` result.
    threshold : float
        ``ContentDetector`` threshold on the weighted mean HSV/edge change between consecutive
        frames (PySceneDetect's scale, 0–255; its default is 27).
    min_scene_len_s : float
        Minimum scene length in seconds; converted to frames with the stream's average frame
        rate (at least 1 frame).
    progress : bool
        Show PySceneDetect's progress bar.

    Returns
    -------
    cut_times : numpy.ndarray of float64, shape (n_cuts,)
        Seconds of movie time of the first frame of each new scene (excluding the movie
        start), strictly increasing, each exactly one of ``frame_times(path)``.
    """
    from scenedetect import ContentDetector, SceneManager, open_video
    from scenedetect.video_stream import VideoOpenFailure

    if not threshold > 0:
        raise ValueError(f"threshold must be positive, got {threshold!r}.")
    if not min_scene_len_s >= 0:
        raise ValueError(f"min_scene_len_s must be >= 0 seconds, got {min_scene_len_s!r}.")
    info = probe_video(path)  # clear errors for missing/undecodable files, and the frame times
    ft = frame_times(info)
    fps = float(info.fps) if info.fps else (info.n_frames - 1) / max(ft[-1], 1e-9)
    min_len_frames = max(1, int(round(min_scene_len_s * fps)))
    try:
        video = open_video(info.path, backend="pyav")
    except VideoOpenFailure as err:
        raise ValueError(f"PySceneDetect cannot open movie file {info.path!r}: {err}") from err
    manager = SceneManager()
    manager.add_detector(ContentDetector(threshold=threshold, min_scene_len=min_len_frames))
    manager.detect_scenes(video, show_progress=progress)
    scenes = manager.get_scene_list(start_in_scene=True)
    # `.seconds` is PySceneDetect >= 0.7; `get_seconds()` (deprecated there) is 0.6.
    seconds = [s.seconds if hasattr(type(s), "seconds") else s.get_seconds() for s, _ in scenes]
    starts = np.array(seconds[1:], dtype=np.float64)
    # Snap to our frame times: PySceneDetect versions differ in how they convert frames to
    # seconds (frame number / fps vs pts); the frame itself is what matters.
    idx = np.clip(np.searchsorted(ft, starts), 1, ft.size - 1)
    idx -= (starts - ft[idx - 1]) < (ft[idx] - starts)
    cuts = np.unique(ft[idx])
    logger.info(
        "Detected %d scene cuts in %s (threshold %.1f, min scene %d frames)",
        cuts.size,
        info.path,
        threshold,
        min_len_frames,
    )
    return cuts


def validate_cut_times(cut_times, *, source: str = "cut_times") -> np.ndarray:
    """Check scene-cut times: 1-D, finite, non-negative, strictly increasing.

    Parameters
    ----------
    cut_times : array-like of float, shape (n_cuts,)
        Seconds of movie time.
    source : str
        Where the times came from (a file name), used in error messages.

    Returns
    -------
    cut_times : numpy.ndarray of float64, shape (n_cuts,)
        The same times as float64 seconds, checked.

    Raises
    ------
    ValueError
        When the times are not 1-D, not finite, negative, or not strictly increasing; the
        message names ``source``.
    """
    t = np.asarray(cut_times, dtype=np.float64)
    if t.ndim != 1:
        raise ValueError(f"{source}: scene-cut times must be 1-D, got shape {t.shape}.")
    problems = {
        "NaN or infinite": ~np.isfinite(t),
        "negative": np.isfinite(t) & (t < 0),
    }
    for what, bad in problems.items():
        if bad.any():
            rows = np.flatnonzero(bad)[:5].tolist()
            raise ValueError(
                f"{source}: {int(bad.sum())} scene-cut times are {what} (rows {rows}); "
                "times must be seconds from the movie start."
            )
    steps = np.diff(t)
    if np.any(steps <= 0):
        row = int(np.flatnonzero(steps <= 0)[0]) + 1
        raise ValueError(
            f"{source}: scene-cut times must be strictly increasing; row {row} "
            f"({t[row]!r} s) does not come after row {row - 1} ({t[row - 1]!r} s)."
        )
    return t


def read_scene_file(path) -> np.ndarray:
    """Read user-provided scene-cut times.

    Two CSV layouts are accepted:

    * ours: a header row and a ``time_s`` column, one cut per row, in seconds of movie time
      (other columns are ignored);
    * the CSV written by ``scenedetect ... list-scenes`` (a first line of timecodes, then a
      table with a ``Start Time (seconds)`` column); each scene start except a start at 0 s
      is a cut.

    The layout of the Brain Treebank's ``scene_annotations`` is not documented anywhere we
    found; convert it to a ``time_s`` column.

    Parameters
    ----------
    path : str or path-like
        CSV file, conventionally ``<scenes dir>/<movie id>.csv``.

    Returns
    -------
    cut_times : numpy.ndarray of float64, shape (n_cuts,)
        Seconds, strictly increasing, finite, non-negative.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"Scene-cut file not found: {str(path)!r}. `path` must be a CSV file with a `time_s` "
            "column; without one, detect the cuts from the movie (detect_scene_cuts)."
        )
    try:
        with open(path, encoding="utf-8") as f:
            first_line = f.readline()
        # PySceneDetect puts a "Timecode List:" line above the table header.
        table = pd.read_csv(path, skiprows=1 if first_line.startswith("Timecode List") else 0)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise ValueError(f"Cannot read scene-cut file {str(path)!r} as CSV: {err}") from err
    if "time_s" in table.columns:
        column = "time_s"
        values = table[column]
    elif _PYSCENEDETECT_START_COL in table.columns:
        column = _PYSCENEDETECT_START_COL
        values = table[column]
        values = values[values > 0]
    else:
        raise ValueError(
            f"Scene-cut file {str(path)!r} has no `time_s` column (columns: "
            f"{list(table.columns)}). Expected a CSV with a header and a `time_s` column of "
            "seconds, or a PySceneDetect list-scenes CSV."
        )
    numeric = pd.to_numeric(values, errors="coerce")
    not_number = numeric.isna() & values.notna()
    if not_number.any():
        rows = numeric.index[not_number][:5].tolist()
        raise ValueError(
            f"Scene-cut file {str(path)!r}, column {column!r}: non-numeric values in rows "
            f"{rows} (e.g. {values[not_number].iloc[0]!r})."
        )
    cuts = validate_cut_times(numeric.to_numpy(np.float64), source=f"{path} ({column})")
    logger.info("Read %d scene cuts from %s", cuts.size, path)
    return cuts

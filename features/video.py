"""Movie decoding with PyAV: probe, frame times, and one-pass frame extraction.

Notes
-----
Movie time: all times here are **seconds from the start of the video stream**: a frame's time
is ``(pts - stream.start_time) * time_base`` from its real presentation timestamp (the same
convention PySceneDetect's PyAV backend uses), never ``index / fps``, so variable-frame-rate
files and files whose first frame is not at pts 0 are handled exactly.

The frame rule: an event at time ``t`` is shown the **first frame at or after t**; a frame
whose time is within ``mmsites.timing.TIME_TOL_S`` (1 µs) before ``t`` counts as "at" ``t``
(this absorbs float round-off between transcript times and pts). The rule is written once, in
:func:`mmsites.timing.next_frame_time`; everything else calls it.

Times after the last frame have no frame. ``next_frame_time`` either raises (default) or
returns NaN for them (``after_last="nan"``) so that the events stage can drop and count them
explicitly; :func:`decode_frames` always raises, because the events it is given must already
have a frame.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from mmsites.timing import check_times, next_frame_index, next_frame_time

logger = logging.getLogger(__name__)

__all__ = [
    "VideoInfo",
    "probe_video",
    "frame_times",
    "decoded_frame_times",
    "decode_frames",
]


@dataclass(frozen=True)
class VideoInfo:
    """What :func:`probe_video` learned about a movie file.

    Attributes
    ----------
    path : str
        The file that was probed.
    fps : fractions.Fraction
        Average frame rate declared by the stream (frames per second); informational only,
        frame times come from the pts.
    n_frames : int
        Number of video frames (counted from the demuxed packets, not the header).
    duration_s : float
        Seconds from the first frame to the end of the last one.
    width, height : int
        Native frame size in pixels.
    time_base : fractions.Fraction
        Seconds per pts tick of the video stream.
    start_pts : int
        pts of the stream start; subtracted from every pts to get movie time.
    pts : numpy.ndarray of int64, shape (n_frames,)
        Presentation timestamps of the frames, sorted (stream ticks).
    """

    path: str
    fps: Fraction
    n_frames: int
    duration_s: float
    width: int
    height: int
    time_base: Fraction
    start_pts: int
    pts: np.ndarray = field(repr=False, compare=False)

    @property
    def frame_times(self) -> np.ndarray:
        """Presentation times of the frames.

        Returns
        -------
        numpy.ndarray of float64, shape (n_frames,)
            Seconds from the stream start, ``(pts - start_pts) * time_base``.
        """
        return (self.pts - self.start_pts).astype(np.float64) * float(self.time_base)


def _open(path):
    """Open ``path`` with PyAV, turning library errors into messages naming the file."""
    import av

    path = os.fspath(path)
    if not Path(path).is_file():
        raise FileNotFoundError(f"Movie file not found: {path!r}; `path` must name an existing video file.")
    try:
        container = av.open(path)
    except av.error.FFmpegError as err:
        raise ValueError(
            f"Cannot read movie file {path!r} ({err}). Is it a video file that ffmpeg can "
            "decode? Re-encode it, e.g. `ffmpeg -i IN -c:v libx264 OUT.mp4`."
        ) from err
    if not container.streams.video:
        container.close()
        raise ValueError(f"Movie file {path!r} has no video stream.")
    return container


def probe_video(path) -> VideoInfo:
    """Read a movie's stream properties and the pts of every frame.

    The packets are demuxed (read) but not decoded, which takes a few seconds for a 2 h movie.
    Functions that take a movie (:func:`frame_times`, :func:`decode_frames`,
    :func:`features.scenes.detect_scene_cuts`) also accept the returned ``VideoInfo`` in place
    of the path, so a movie is probed once.

    Parameters
    ----------
    path : str or path-like or VideoInfo
        Video file (any container/codec ffmpeg reads); a ``VideoInfo`` is returned as is.

    Returns
    -------
    info : VideoInfo
        The stream's properties and every frame's pts (``path`` itself when it is one).

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If it cannot be opened, has no video stream, no frames, or frames without timestamps.
    """
    import av

    if isinstance(path, VideoInfo):
        return path
    container = _open(path)
    path = os.fspath(path)
    try:
        stream = container.streams.video[0]
        time_base = Fraction(stream.time_base)
        pts, durations = [], []
        try:
            for packet in container.demux(stream):
                if packet.size == 0 or packet.is_discard:  # flush packets / edit-list drops
                    continue
                if packet.pts is None:
                    raise ValueError(
                        f"Movie file {path!r} has video packets without timestamps, so frame "
                        "times cannot be known. Remux it, e.g. `ffmpeg -i IN -c copy OUT.mp4`."
                    )
                pts.append(packet.pts)
                durations.append(packet.duration or 0)
        except av.error.FFmpegError as err:
            raise ValueError(f"Cannot read the packets of movie file {path!r}: {err}") from err
        if not pts:
            raise ValueError(f"Movie file {path!r} contains no video frames.")
        pts = np.asarray(pts, dtype=np.int64)
        order = np.argsort(pts, kind="stable")  # decode order -> presentation order
        pts, durations = pts[order], np.asarray(durations, dtype=np.int64)[order]
        if np.any(np.diff(pts) == 0):
            n_dup = int(np.sum(np.diff(pts) == 0))
            raise ValueError(
                f"Movie file {path!r} has {n_dup} frames sharing a timestamp; frame times are "
                "ambiguous. Re-encode it, e.g. `ffmpeg -i IN -c:v libx264 OUT.mp4`."
            )
        fps = Fraction(stream.average_rate) if stream.average_rate else Fraction(0)
        start_pts = int(stream.start_time) if stream.start_time is not None else int(pts[0])
        last = durations[-1] * time_base if durations[-1] > 0 else (1 / fps if fps else 0)
        duration_s = float((int(pts[-1]) - start_pts) * time_base + last)
        info = VideoInfo(
            path=path,
            fps=fps,
            n_frames=int(pts.size),
            duration_s=duration_s,
            width=int(stream.codec_context.width),
            height=int(stream.codec_context.height),
            time_base=time_base,
            start_pts=start_pts,
            pts=pts,
        )
    finally:
        container.close()
    logger.info(
        "Probed %s: %d frames, %.3f s, %dx%d, %.3f fps",
        path,
        info.n_frames,
        info.duration_s,
        info.width,
        info.height,
        float(info.fps),
    )
    return info


def frame_times(info_or_path) -> np.ndarray:
    """Presentation time of every frame of a movie.

    Parameters
    ----------
    info_or_path : VideoInfo or str or path-like
        A probed movie, or a file to probe.

    Returns
    -------
    times : numpy.ndarray of float64, shape (n_frames,)
        Seconds from the stream start, strictly increasing, from the real pts.
    """
    return probe_video(info_or_path).frame_times


def _to_rgb(frame, size: int | None) -> np.ndarray:
    """Convert one decoded frame to RGB, short side resized to ``size``, centre-cropped."""
    if size is None:
        return frame.to_ndarray(format="rgb24")
    w, h = frame.width, frame.height
    scale = size / min(w, h)
    new_w, new_h = max(size, round(w * scale)), max(size, round(h * scale))
    rgb = frame.reformat(width=new_w, height=new_h, format="rgb24", interpolation="BICUBIC").to_ndarray(
        format="rgb24"
    )
    top, left = (new_h - size) // 2, (new_w - size) // 2
    return rgb[top : top + size, left : left + size]


def _needed_frames(info: VideoInfo, times_s) -> np.ndarray:
    """Indices of the unique frames shown at ``times_s`` (the frame rule), in time order."""
    t = check_times(times_s)
    ft = info.frame_times
    next_frame_time(t, ft, after_last="raise")  # raises for times after the last frame
    return np.unique(next_frame_index(t, ft))


def decoded_frame_times(path, times_s) -> np.ndarray:
    """Presentation times of the frames :func:`decode_frames` returns for a set of times.

    Use it to size an output array before decoding into it (``decode_frames(..., out=...)``):
    row ``k`` of the decoded frames is the frame shown at ``decoded_frame_times(...)[k]``.

    Parameters
    ----------
    path : str or path-like or VideoInfo
        Video file, or its :func:`probe_video` result.
    times_s : array-like of float, shape (n_times,)
        Event times, seconds of movie time, any order, duplicates allowed.

    Returns
    -------
    numpy.ndarray of float64, shape (n_unique,)
        Seconds from the stream start of each unique frame needed, increasing.

    Raises
    ------
    ValueError
        If a time is NaN/infinite or after the last frame.
    """
    info = probe_video(path)
    return info.frame_times[_needed_frames(info, times_s)]


def decode_frames(path, times_s, *, size: int | None = 256, progress: bool = True, out=None):
    """Decode the frames shown at a set of movie times, in one sequential pass.

    For each time the frame shown is the first frame at or after it (the rule of
    :func:`next_frame_time`). The movie is decoded once, front to back, up to the last needed
    frame; each frame is decoded at most once, and only the needed ones are converted to RGB
    and resized (the rest are skipped), so asking for ~10k frames of a 2 h movie costs one
    decoding pass.

    Each needed frame is written to its row of the output as soon as it is decoded, and the
    decoder holds no other: with ``out`` a memory map (``numpy.lib.format.open_memmap``) the
    frames stream to disk and memory stays flat in the number of frames.

    Parameters
    ----------
    path : str or path-like or VideoInfo
        Video file, or its :func:`probe_video` result (saves re-reading the packets).
    times_s : array-like of float, shape (n_times,)
        Event times, seconds of movie time, any order, duplicates allowed.
    size : int or None
        Output side length in pixels: each frame is resized (bicubic) so that its short side is
        ``size`` and then centre-cropped to ``size x size``. ``None`` keeps the native
        resolution without cropping.
    progress : bool
        Show a progress bar over the decoded frames (hidden when not on a terminal).
    out : numpy.ndarray of uint8, shape (n_unique, size, size, 3), optional
        Where to write the frames (e.g. a writable memory map); ``n_unique`` is the length of
        :func:`decoded_frame_times` for the same times. A new array when None.

    Returns
    -------
    frames : numpy.ndarray of uint8, shape (n_unique, size, size, 3)
        RGB frames, one per unique frame needed, in time order
        (``(n_unique, height, width, 3)`` when ``size`` is None); ``out`` itself when given.
    times : numpy.ndarray of float64, shape (n_unique,)
        Presentation time (seconds) of each returned frame; map an event to its frame with
        ``np.searchsorted(times, next_frame_time(event_times, frame_times(path)))``.

    Raises
    ------
    ValueError
        If a time is NaN/infinite or after the last frame (drop those events first),
        ``size`` is not a positive integer, or ``out`` has the wrong dtype or shape or is
        read-only.
    """
    import av

    if size is not None and (int(size) != size or size <= 0):
        raise ValueError(f"size must be a positive integer or None, got {size!r}.")
    info = probe_video(path)
    n_times = np.size(times_s)
    idx = _needed_frames(info, times_s)
    out_times = info.frame_times[idx]
    n = idx.size
    shape = (n, *((size, size) if size is not None else (info.height, info.width)), 3)
    if out is None:
        frames = np.empty(shape, dtype=np.uint8)
    else:
        frames = out
        if not isinstance(out, np.ndarray) or out.dtype != np.uint8 or out.shape != shape:
            dtype, got = getattr(out, "dtype", type(out).__name__), getattr(out, "shape", None)
            raise ValueError(f"out must be a uint8 array of shape {shape}; got dtype {dtype} and shape {got}")
        if not out.flags.writeable:
            raise ValueError("out is read-only; open the memory map with mode 'w+' or 'r+'")
    if n == 0:
        return frames, out_times
    slot = {int(p): k for k, p in enumerate(info.pts[idx])}  # pts -> output row
    filled = np.zeros(n, dtype=bool)
    n_filled = 0
    container = _open(info.path)
    try:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"  # frame-parallel decoding; order of output is unchanged
        bar = tqdm(
            total=int(idx[-1]) + 1,
            unit="frame",
            desc=f"decode {Path(info.path).name}",
            disable=None if progress else True,
        )
        with bar:
            for frame in container.decode(stream):
                bar.update(1)
                k = slot.get(frame.pts)
                if k is None or filled[k]:
                    continue
                frames[k] = _to_rgb(frame, size)
                filled[k] = True
                n_filled += 1
                if n_filled == n:
                    break  # nothing needed after this frame
    except av.error.FFmpegError as err:
        raise ValueError(f"Decoding movie file {info.path!r} failed: {err}") from err
    finally:
        container.close()
    if n_filled < n:
        missing = out_times[~filled]
        raise ValueError(
            f"The decoder produced no frame for {missing.size} needed timestamps of "
            f"{info.path!r} (first {missing[0]:.6f} s); the file may be truncated or corrupt."
        )
    logger.info(
        "Decoded %d frames of %s for %d times (%d frames read)",
        n,
        info.path,
        n_times,
        int(idx[-1]) + 1,
    )
    return frames, out_times

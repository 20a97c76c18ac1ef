"""The demo movie: its scenes, the visual latent of each scene, its frames and its mp4 file.

The movie ``mmsites-demo`` is a sequence of scenes of 0.8-1.6 s (:data:`SCENE_S`). Scene ``j``
has a visual latent ``v_j`` of :data:`N_LATENT` dimensions, each uniform on ``[-√3, √3]`` (zero
mean, unit variance), drawn as background hue, background brightness, disc size, disc position
and stripe frequency. Saturation alternates between scenes and the hue jumps by a large amount
at every cut, so a content detector finds every cut at its exact first frame. The file is
H.264 (libx264, one thread, fixed options), byte-identical for the same draws on one machine.
"""

from __future__ import annotations

import logging
from fractions import Fraction
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from mmsites.timing import next_frame_time

logger = logging.getLogger(__name__)

__all__ = [
    "MOVIE_ID",
    "MOVIE_TITLE",
    "N_LATENT",
    "SCENE_S",
    "frame_index",
    "plan_scenes",
    "render_movie",
]

#: Movie id (file stem of the mp4, the scenes csv and the truth features) and its title.
MOVIE_ID = "mmsites-demo"
MOVIE_TITLE = "mmsites demo"
#: Dimension of the visual latent v (one dimension per drawn attribute: hue, brightness, disc
#: size, disc position, stripe frequency) and so of the verbal latent w, which pairs with it.
N_LATENT = 5
#: Shortest and longest scene of the demo movie, seconds.
SCENE_S = (0.8, 1.6)


def plan_scenes(
    rng: np.random.Generator, duration_s: float, fps: float
) -> tuple[int, np.ndarray, np.ndarray]:
    """Draw the scenes of the movie: where each starts and its visual latent.

    Parameters
    ----------
    rng : numpy.random.Generator
        The movie's random stream (scene lengths, then the latents, in that order).
    duration_s : float
        Movie length (s).
    fps : float
        Frame rate (frames/s).

    Returns
    -------
    n_frames : int
        Number of frames of the movie, ``round(duration_s * fps)``.
    starts : ndarray of int64, shape (n_scenes,)
        First frame of each scene; ``starts[0]`` is 0 and the last scene lasts at least the
        shortest scene length.
    latents : ndarray of float64, shape (n_scenes, N_LATENT)
        Visual latent ``v`` of each scene, uniform on ``[-√3, √3]`` per dimension; the first
        dimension (the hue) changes by more than 1 at every cut.
    """
    n_frames = int(round(duration_s * fps))
    lo, hi = int(np.ceil(SCENE_S[0] * fps - 1e-9)), int(np.floor(SCENE_S[1] * fps + 1e-9))
    starts = [0]
    while True:
        nxt = starts[-1] + int(rng.integers(lo, hi + 1))
        if nxt > n_frames - lo:
            break
        starts.append(nxt)
    half = np.sqrt(3.0)  # uniform on [-√3, √3] has unit variance
    latents = []
    for j in range(len(starts)):
        while True:
            v = rng.uniform(-half, half, N_LATENT)
            # a strong hue jump at every cut (the alternating saturation does the rest)
            if j == 0 or abs(v[0] - latents[-1][0]) > 1.0:
                break
        latents.append(v)
    return n_frames, np.asarray(starts, dtype=np.int64), np.asarray(latents)


def _hsv_to_rgb(h: np.ndarray, s: np.ndarray, v: np.ndarray) -> np.ndarray:
    """HSV (h in degrees [0, 360), s and v in [0, 1]) -> uint8 RGB, all shapes broadcast."""
    c = v * s
    hp = (h % 360.0) / 60.0
    x = c * (1 - np.abs(hp % 2 - 1))
    z = np.zeros_like(c)
    sector = np.floor(hp).astype(int) % 6
    r = np.choose(sector, [c, x, z, z, x, c])
    g = np.choose(sector, [x, c, c, x, z, z])
    b = np.choose(sector, [z, z, x, c, c, x])
    m = v - c
    rgb = np.stack([r + m, g + m, b + m], axis=-1)
    return np.clip(np.round(rgb * 255), 0, 255).astype(np.uint8)


def _scene_background(v: np.ndarray, j: int, width: int, height: int) -> np.ndarray:
    """Static background of scene j, uint8 RGB (height, width, 3)."""
    u = (v + np.sqrt(3.0)) / (2 * np.sqrt(3.0))  # each latent mapped to [0, 1]
    hue = 300.0 * u[0]  # stay away from the red wrap-around so distinct hues look distinct
    sat = 0.95 if j % 2 == 0 else 0.35
    val = 0.35 + 0.55 * u[1]
    cycles = 1.0 + 7.0 * u[4]  # stripe frequency across the width
    x = np.arange(width) / width
    stripes = 0.12 * np.sin(2 * np.pi * cycles * x)[None, :] * np.ones((height, 1))
    return _hsv_to_rgb(
        np.full((height, width), hue), np.full((height, width), sat), np.clip(val + stripes, 0, 1)
    )


def render_movie(
    path: Path,
    starts: np.ndarray,
    latents: np.ndarray,
    n_frames: int,
    fps: float,
    frame_size: tuple[int, int],
    progress: bool,
) -> np.ndarray:
    """Draw every frame and write the movie as an H.264 mp4.

    Parameters
    ----------
    path : pathlib.Path
        The mp4 file to write; its folder is created if missing.
    starts : ndarray of int64, shape (n_scenes,)
        First frame of each scene (:func:`plan_scenes`).
    latents : ndarray of float64, shape (n_scenes, N_LATENT)
        Visual latent of each scene (:func:`plan_scenes`).
    n_frames : int
        Number of frames to write.
    fps : float
        Frame rate (frames/s).
    frame_size : tuple of (int, int)
        Frame width and height (pixels), both even.
    progress : bool
        Show a progress bar.

    Returns
    -------
    brightness : ndarray of float64, shape (n_frames,)
        Mean grey level (0-255) of every frame as drawn (before encoding).
    """
    import av  # heavy import, only needed here

    width, height = frame_size
    yy, xx = np.mgrid[0:height, 0:width]
    brightness = np.empty(n_frames)
    scene_of = np.searchsorted(starts, np.arange(n_frames), side="right") - 1
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.logging.Capture() as messages, av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        # one thread and fixed options: x264 output is then reproducible byte for byte
        stream.options = {"crf": "16", "threads": "1", "preset": "medium", "bf": "0"}
        background = None
        for i in tqdm(
            range(n_frames), desc="demo movie", unit="frame", disable=not progress or None, leave=False
        ):
            j = scene_of[i]
            v = latents[j]
            u = (v + np.sqrt(3.0)) / (2 * np.sqrt(3.0))
            if i == starts[j]:
                background = _scene_background(v, j, width, height)
            frame = background.copy()
            # a disc whose size and position encode v[2], v[3]; it drifts slowly within a scene
            radius = (0.08 + 0.22 * u[2]) * height
            cx = (0.2 + 0.6 * u[3]) * width + 0.4 * (i - starts[j])
            cy = 0.5 * height
            disc = (xx - cx) ** 2 + (yy - cy) ** 2 <= radius**2
            frame[disc] = _hsv_to_rgb(np.array(300.0 * u[0] + 180.0), np.array(0.2), np.array(1.0))
            brightness[i] = frame.mean()
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    for _level, source, message in messages:  # the encoder's chatter goes to the debug log
        logger.debug("%s: %s", source, str(message).rstrip())
    return brightness


def frame_index(times_s: np.ndarray, fps: float, n_frames: int) -> np.ndarray:
    """Index of the frame shown at each time: the first frame at or after it (the events' rule).

    Parameters
    ----------
    times_s : ndarray of float64, shape (n_times,)
        Movie times (s), finite.
    fps : float
        Frame rate (frames/s).
    n_frames : int
        Number of frames of the movie.

    Returns
    -------
    index : ndarray of int64, shape (n_times,)
        Frame index per time, by :func:`mmsites.timing.next_frame_time`; times after the last
        frame get the last frame.
    """
    frame_times = np.arange(n_frames) / fps
    shown = next_frame_time(np.minimum(times_s, frame_times[-1]), frame_times)
    return np.rint(shown * fps).astype(np.int64)

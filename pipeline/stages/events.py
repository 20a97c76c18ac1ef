"""Stage ``events``: the event structures of every movie, and the frames they show.

For each movie watched in the selected sessions: language-aligned events (word onsets) and
vision-aligned events (scene cuts, detected with PySceneDetect unless a scenes file is given),
written to ``work/events/<movie>_<alignment>.parquet``; the frames both alignments need are
decoded in one pass and streamed to the cache folder ``work/frames/<movie>/`` (``frames.npy``
uint8 (n_frames, size, size, 3), a memory map written frame by frame as decoded, and
``times.npy``, seconds), so memory stays flat in the number of events.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from mmsites.features.events import events_frame_times, language_events, vision_events
from mmsites.features.scenes import detect_scene_cuts, read_scene_file
from mmsites.features.video import decode_frames, decoded_frame_times, probe_video

from ..io import atomic_path, write_parquet
from ..params import Params
from ..paths import Layout
from ..sessions import list_sessions, movie_scene_cuts, movie_words, movies, open_dataset

log = logging.getLogger(__name__)


def movie_events(params: Params, layout: Layout, dataset, movie: str) -> dict[str, pd.DataFrame]:
    """The events tables of one movie, by alignment, and the frame cache written beside them.

    Without a video file only text can be analysed: language events get no frame
    (``frame_time`` NaN), vision events need a scenes file, and image models fail in the
    features stage with a message naming the missing video.

    Parameters
    ----------
    params : Params
        Validated params; the ``events`` section matters (``alignments``, ``text_context``,
        ``scene_threshold``, ``min_scene_len_s``, ``frame_size``).
    layout : Layout
        The file layout: where the video (``data.movies``), the scene file (``data.scenes``)
        and the frame cache are.
    dataset : BrainTreebank or BidsIEEG
        The dataset under ``data.root``; the movie's transcript
        (``transcripts/<movie>/features.csv``) is read from it.
    movie : str
        Movie id.

    Returns
    -------
    dict of str to DataFrame
        One events table (columns ``mmsites.constants.EVENT_COLUMNS``, one row per event) per
        alignment of ``events.alignments``. When the movie has a video, the frames the
        events show are written to ``work/frames/<movie>/`` on the way
        (:func:`write_frame_cache`).

    Raises
    ------
    FileNotFoundError
        If the movie has no video file, vision events are asked for, and no scene file is
        given.
    """
    ev = params.events
    transcript = movie_words(params, layout, dataset, movie)
    video = layout.movie_file(movie)
    scenes = layout.scenes_file(movie)
    mapped_cuts = movie_scene_cuts(params, layout, movie)
    has_scenes = mapped_cuts is not None or (scenes is not None and scenes.is_file())
    expected = f"{layout.movies_dir or '<data.movies>'}/{movie}.mp4"
    info = times = None
    if video is None:
        if "vision" in ev.alignments and not has_scenes:
            raise FileNotFoundError(
                f"no video for movie {movie!r}: expected {expected} (the Brain Treebank does not "
                "distribute the movies: bring your own copy and set data.movies), or give scene cuts "
                "in data.scenes or data.stimuli.scenes and analyse text models only"
            )
        log.warning(
            "no video for movie %r (expected %s): events get no frames, so only text models can run",
            movie,
            expected,
        )
    else:
        # Probe once: the packet index is shared by the frame times, the scene detector and the decoder.
        info = probe_video(video)
        times = info.frame_times
    tables = {}
    if "language" in ev.alignments:
        tables["language"] = language_events(transcript, times, movie, text_context=ev.text_context)
    if "vision" in ev.alignments:
        if mapped_cuts is not None:
            cuts = mapped_cuts
        elif has_scenes:
            cuts = read_scene_file(scenes)
            log.info("%s: %d scene cuts read from %s", movie, len(cuts), scenes)
        else:
            cuts = detect_scene_cuts(info, threshold=ev.scene_threshold, min_scene_len_s=ev.min_scene_len_s)
            log.info("%s: %d scene cuts detected in %s", movie, len(cuts), video)
        tables["vision"] = vision_events(cuts, transcript, times, movie)
    if info is not None:
        needed = events_frame_times(*tables.values())
        write_frame_cache(info, needed, ev.frame_size, layout, movie)
    return tables


def write_frame_cache(video, times_s, size: int, layout: Layout, movie: str) -> Path:
    """Decode the frames shown at ``times_s`` straight into the movie's frame cache, atomically.

    The frames go into a ``.npy`` memory map as they are decoded (the decoder holds one frame
    at a time), so memory stays flat however many events there are; the folder is written
    under a temporary name and renamed into place when complete, so a reader never sees frames
    without their times or a half-written file.

    Parameters
    ----------
    video : VideoInfo or str or path-like
        The movie (its :func:`~mmsites.features.video.probe_video` result saves a probe).
    times_s : array-like of float, shape (n_times,)
        The events' frame times, seconds of movie time (each must have a frame).
    size : int
        Side of the square frames, pixels (``events.frame_size``).
    layout : Layout
        The file layout (``Layout.frames``).
    movie : str
        Movie id.

    Returns
    -------
    Path
        The cache folder ``work/frames/<movie>/``: ``frames.npy`` uint8
        ``(n_frames, size, size, 3)`` and ``times.npy`` float64 ``(n_frames,)``, seconds.
    """
    folder = layout.frames(movie)
    times = decoded_frame_times(video, times_s)
    with atomic_path(folder) as tmp:
        tmp.mkdir()
        frames = np.lib.format.open_memmap(
            tmp / layout.frames(movie, "frames").name,
            mode="w+",
            dtype=np.uint8,
            shape=(times.size, size, size, 3),
        )
        decode_frames(video, times_s, size=size, out=frames)
        frames.flush()
        del frames  # unmap before the rename
        np.save(tmp / layout.frames(movie, "times").name, times)
    log.info("wrote %s: %d frames of %dx%d px", folder, times.size, size, size)
    return folder


def run(params: Params, workdir: Path) -> None:
    """Run the events stage for every movie of the selected sessions.

    Reads, under ``data.root``, the sessions' metadata (which movie each trial shows) and
    ``transcripts/<movie>/features.csv``; the video ``<data.movies>/<movie>.<ext>`` when
    there is one, and ``<data.scenes>/<movie>.csv`` when given (else the scene cuts are
    detected in the video). Writes ``work/events/<movie>_<alignment>.parquet`` for each
    alignment of ``events.alignments`` and, when the movie has a video, the frame cache
    ``work/frames/<movie>/`` (``frames.npy``, ``times.npy``).

    Parameters
    ----------
    params : Params
        Validated params; ``data`` (root, movies, scenes, subjects, trials) and ``events``
        matter.
    workdir : Path
        The working directory every path above is relative to.

    Raises
    ------
    FileNotFoundError
        If a movie that needs vision events has neither a video nor a scene file.
    ValueError
        If the selected sessions cannot be found (:func:`pipeline.sessions.list_sessions`).
    """
    layout = Layout(workdir, params)
    dataset = open_dataset(params, layout)
    for movie in movies(list_sessions(params, layout)):
        for alignment, table in movie_events(params, layout, dataset, movie).items():
            write_parquet(table, layout.events(movie, alignment))
            log.info("%s %s: %d events", movie, alignment, len(table))

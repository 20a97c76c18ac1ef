"""Stage ``events``: the event structures of every movie, and the frames they show.

For each movie watched in the selected sessions: language-aligned events (word onsets) and
vision-aligned events (scene cuts, detected with PySceneDetect unless a scenes file is given),
written to ``work/events/<movie>_<alignment>.parquet``; the frames both alignments need are
decoded in one pass and cached in ``work/frames/<movie>.npz`` (``frames`` uint8
(n_frames, size, size, 3), ``frame_times`` seconds).
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from mmsites.features.events import events_frame_times, language_events, vision_events
from mmsites.features.scenes import detect_scene_cuts, read_scene_file
from mmsites.features.video import decode_frames, probe_video

from ..io import write_npz, write_parquet
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
        events show are written to ``work/frames/<movie>.npz`` on the way.

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
        frames, frame_times = decode_frames(info, needed, size=ev.frame_size)
        write_npz(layout.frames(movie), frames=frames, frame_times=frame_times)
    return tables


def run(params: Params, workdir: Path) -> None:
    """Run the events stage for every movie of the selected sessions.

    Reads, under ``data.root``, the sessions' metadata (which movie each trial shows) and
    ``transcripts/<movie>/features.csv``; the video ``<data.movies>/<movie>.<ext>`` when
    there is one, and ``<data.scenes>/<movie>.csv`` when given (else the scene cuts are
    detected in the video). Writes ``work/events/<movie>_<alignment>.parquet`` for each
    alignment of ``events.alignments`` and, when the movie has a video,
    ``work/frames/<movie>.npz``.

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

"""Writing the demo in the Brain Treebank layout: h5 recordings, csv and json files, truth tables.

Every function here writes what it is given, draws nothing and creates missing folders. The
layout (``ROOT`` is the demo's root folder; ``<s>`` a subject number)::

    ROOT/all_subject_data/sub_<s>_trial000.h5          group data, electrode_0..K-1, float32 µV
    ROOT/electrode_labels/sub_<s>/electrode_labels.json
    ROOT/corrupted_elec.json
    ROOT/localization/sub_<s>/depth-wm.csv
    ROOT/localization/elec_coords_full.csv
    ROOT/subject_metadata/sub_<s>_trial000_metadata.json
    ROOT/subject_timings/sub_<s>_trial000_timings.csv
    ROOT/transcripts/mmsites-demo/features.csv
    ROOT/scenes/mmsites-demo.csv                       true cut times (column time_s)
    ROOT/truth_features/{vision,language,multimodal}/mmsites-demo_{language,vision}.parquet
    ROOT/truth.csv                                     subject, electrode, kind

The movie itself (``ROOT/movies/mmsites-demo.mp4``) is written by
:func:`~mmsites.recordings.demo.movie.render_movie`. The h5 files are written with the
earliest file format and no timestamps, so the same signals give the same bytes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from .movie import MOVIE_ID, MOVIE_TITLE, N_LATENT

__all__ = [
    "TRUTH_FEATURE_PREFIXES",
    "h5_path",
    "write_csv",
    "write_dataset_tables",
    "write_json",
    "write_recording",
    "write_scenes",
    "write_subject_files",
    "write_transcript",
    "write_truth_features",
]

#: Columns of each truth-feature model besides ``movie_time``: kind -> column prefixes
#: (``v0..v4``, ``w0..w4``, ``vw0..vw4``).
TRUTH_FEATURE_PREFIXES = {"vision": ("v",), "language": ("w",), "multimodal": ("v", "w", "vw")}


def write_csv(table: pd.DataFrame, path: Path, index: bool = False) -> None:
    """Write a table as csv, creating its folder.

    Parameters
    ----------
    table : pandas.DataFrame
        The table.
    path : pathlib.Path
        The csv file.
    index : bool
        Write the index as the first (unnamed) column.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(path, index=index)


def write_json(obj: object, path: Path) -> None:
    """Write an object as indented json with a final newline, creating its folder.

    Parameters
    ----------
    obj : object
        Anything :func:`json.dumps` accepts.
    path : pathlib.Path
        The json file.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=1) + "\n")


def write_scenes(root: Path, starts: np.ndarray, fps: float) -> Path:
    """Write the true scene cuts of the movie (``scenes/<movie>.csv``).

    Parameters
    ----------
    root : pathlib.Path
        The demo's root folder.
    starts : ndarray of int64, shape (n_scenes,)
        First frame of each scene; every scene but the first starts with a cut.
    fps : float
        Frame rate of the movie (frames/s).

    Returns
    -------
    pathlib.Path
        The csv written: columns ``time_s`` (s of movie time) and ``frame`` of each cut.
    """
    path = root / "scenes" / f"{MOVIE_ID}.csv"
    write_csv(pd.DataFrame({"time_s": starts[1:] / fps, "frame": starts[1:]}), path)
    return path


def write_transcript(root: Path, table: pd.DataFrame) -> Path:
    """Write the word table as the release's ``transcripts/<movie>/features.csv``.

    Parameters
    ----------
    root : pathlib.Path
        The demo's root folder.
    table : pandas.DataFrame
        One row per token (:func:`~mmsites.recordings.demo.transcript.plan_transcript`).

    Returns
    -------
    pathlib.Path
        The csv written; its first column is the unnamed index, as in the release.
    """
    path = root / "transcripts" / MOVIE_ID / "features.csv"
    write_csv(table, path, index=True)
    return path


def write_truth_features(root: Path, features: dict[str, pd.DataFrame]) -> Path:
    """Write the truth features of each model kind and alignment as parquet files.

    Parameters
    ----------
    root : pathlib.Path
        The demo's root folder.
    features : dict of str to pandas.DataFrame
        Alignment -> ``movie_time`` and every latent column
        (:func:`~mmsites.recordings.demo.signals.truth_features`).

    Returns
    -------
    pathlib.Path
        The folder ``truth_features``: ``<kind>/<movie>_<alignment>.parquet`` for each kind of
        :data:`TRUTH_FEATURE_PREFIXES`, columns ``movie_time`` and that kind's latents.
    """
    truth_dir = root / "truth_features"
    for kind in ("vision", "language", "multimodal"):
        prefixes = TRUTH_FEATURE_PREFIXES[kind]
        for alignment, frame in features.items():
            columns = ["movie_time"] + [f"{p}{i}" for p in prefixes for i in range(N_LATENT)]
            path = truth_dir / kind / f"{MOVIE_ID}_{alignment}.parquet"
            path.parent.mkdir(parents=True, exist_ok=True)
            frame[columns].to_parquet(path, index=False)
    return truth_dir


def h5_path(root: Path, subject: int) -> Path:
    """Path of a subject's recording (trial 0) in the release layout.

    Parameters
    ----------
    root : pathlib.Path
        The demo's root folder.
    subject : int
        Subject number.

    Returns
    -------
    pathlib.Path
        ``root/all_subject_data/sub_<subject>_trial000.h5``.
    """
    return root / "all_subject_data" / f"sub_{subject}_trial000.h5"


def write_recording(
    path: Path, channels: Iterable[np.ndarray], n_channels: int, progress: bool, desc: str
) -> None:
    """Write one recording as the release's h5 file, one channel at a time.

    Parameters
    ----------
    path : pathlib.Path
        The h5 file; its folder is created if missing.
    channels : iterable of ndarray of float32, shape (n_samples,)
        The channels in order (µV); channel ``i`` becomes dataset ``data/electrode_<i>``.
    n_channels : int
        Number of channels, for the progress bar.
    progress : bool
        Show a progress bar.
    desc : str
        Its label.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w", libver="earliest") as f:
        group = f.create_group("data", track_order=True)
        bar = tqdm(
            channels,
            total=n_channels,
            desc=desc,
            unit="channel",
            disable=not progress or None,
            leave=False,
        )
        for i, x in enumerate(bar):
            group.create_dataset(f"electrode_{i}", data=x, track_times=False)


def write_subject_files(
    root: Path, subject: int, raw: list[str], timings: pd.DataFrame, depth: pd.DataFrame
) -> Path:
    """Write one subject's labels, session metadata, trigger table and localization.

    Parameters
    ----------
    root : pathlib.Path
        The demo's root folder.
    subject : int
        Subject number.
    raw : list of str
        Raw electrode labels in channel order (``electrode_labels.json``).
    timings : pandas.DataFrame
        The trigger table (:func:`~mmsites.recordings.demo.clock.trigger_table`).
    depth : pandas.DataFrame
        The ``depth-wm.csv`` rows (:func:`~mmsites.recordings.demo.montage.localization`).

    Returns
    -------
    pathlib.Path
        The trigger table written (``subject_timings/sub_<s>_trial000_timings.csv``).
    """
    write_json(raw, root / "electrode_labels" / f"sub_{subject}" / "electrode_labels.json")
    write_json(
        {"filename": MOVIE_ID, "title": MOVIE_TITLE},
        root / "subject_metadata" / f"sub_{subject}_trial000_metadata.json",
    )
    timings_path = root / "subject_timings" / f"sub_{subject}_trial000_timings.csv"
    write_csv(timings, timings_path)
    write_csv(depth, root / "localization" / f"sub_{subject}" / "depth-wm.csv")
    return timings_path


def write_dataset_tables(
    root: Path,
    corrupted: dict[str, list[str]],
    coords: list[pd.DataFrame],
    truth_rows: list[dict],
) -> None:
    """Write the tables shared by all subjects: corrupted contacts, coordinates and the truth.

    Parameters
    ----------
    root : pathlib.Path
        The demo's root folder.
    corrupted : dict of str to list of str
        ``"sub_<s>"`` -> raw labels of its corrupted channels (``corrupted_elec.json``).
    coords : list of pandas.DataFrame
        Each subject's ``elec_coords_full.csv`` rows, concatenated in this order.
    truth_rows : list of dict
        One ``{"subject", "electrode", "kind"}`` per electrode the Laplacian keeps
        (``truth.csv``).
    """
    write_json(corrupted, root / "corrupted_elec.json")
    write_csv(pd.concat(coords, ignore_index=True), root / "localization" / "elec_coords_full.csv")
    write_csv(pd.DataFrame(truth_rows, columns=["subject", "electrode", "kind"]), root / "truth.csv")

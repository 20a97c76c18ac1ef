"""Convert a dataset in the Brain Treebank layout (the demo's) into a BIDS-iEEG tree.

:func:`write_bids` reads a Brain Treebank root with
:class:`~mmsites.recordings.braintreebank.BrainTreebank` (the demo written by
:func:`~mmsites.recordings.demo.generate_demo`, or the real release) and writes, with
:func:`mne_bids.write_raw_bids` for the signals and their sidecars::

    BIDS_ROOT/dataset_description.json, README, participants.tsv, participants.json
    BIDS_ROOT/sub-<NN>/ses-01/sub-<NN>_ses-01_scans.tsv
    BIDS_ROOT/sub-<NN>/ses-01/ieeg/sub-<NN>_ses-01_task-<task>_run-<RR>_ieeg.vhdr   (.eeg, .vmrk;
                                                                                or _ieeg.edf)
    BIDS_ROOT/sub-<NN>/ses-01/ieeg/sub-<NN>_ses-01_task-<task>_run-<RR>_ieeg.json
    BIDS_ROOT/sub-<NN>/ses-01/ieeg/sub-<NN>_ses-01_task-<task>_run-<RR>_channels.tsv
    BIDS_ROOT/sub-<NN>/ses-01/ieeg/sub-<NN>_ses-01_task-<task>_run-<RR>_events.tsv  (.json)
    BIDS_ROOT/sub-<NN>/ses-01/ieeg/sub-<NN>_ses-01_space-MNI152NLin2009cAsym_electrodes.tsv
    BIDS_ROOT/sub-<NN>/ses-01/ieeg/sub-<NN>_ses-01_space-MNI152NLin2009cAsym_coordsystem.json
    BIDS_ROOT/stimuli/<movie>.mp4                (copied when the source has movies/<movie>.mp4)
    BIDS_ROOT/stimuli/<movie>_words.tsv          onset, offset, word, sentence (+ .json)
    BIDS_ROOT/truth.csv, BIDS_ROOT/truth_features/   (copied when the source has them)

``<NN>`` is the subject number zero-padded to two digits, ``<RR>`` the run: 1 + the position of
the trial among the subject's sorted trials, zero-padded to two digits. Channel names are the
cleaned Brain Treebank labels (:func:`~mmsites.recordings.braintreebank.clean_label`); the
release's unlabelled extra channel is left out. Electrodes are ``seeg``, ``TRIG*`` channels
``stim`` and ``DC*`` channels ``misc``; the Brain Treebank's corrupted channels are ``status``
``bad`` in ``channels.tsv``. ``events.tsv`` holds one row per trigger of the session's timings
table: ``onset`` (s of recording), ``duration`` 0, ``trial_type`` (the trigger's ``trig_type``,
else ``type``), ``value``, ``sample``, ``movie_time`` (s of movie time) and ``stim_file``
(``<movie>.mp4``), so that :class:`~mmsites.recordings.bids.BidsIEEG` recovers the Brain
Treebank's timings exactly.

The measurement date is fixed (:data:`MEAS_DATE`), so the same input gives byte-identical files.
"""

from __future__ import annotations

import datetime
import json
import logging
import shutil
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from mmsites.recordings.braintreebank import BrainTreebank, is_trigger_label

logger = logging.getLogger(__name__)

__all__ = ["MEAS_DATE", "SPACE", "write_bids", "word_table"]

#: Measurement date of every written recording (fixed: the output is deterministic).
MEAS_DATE = datetime.datetime(2000, 1, 1, tzinfo=datetime.timezone.utc)
#: Coordinate system of the written ``electrodes.tsv`` (the Brain Treebank's atlas coordinates).
SPACE = "MNI152NLin2009cAsym"
#: Line frequency of the demo's recordings (Hz); written to ``_ieeg.json`` ``PowerLineFrequency``.
LINE_FREQ = 60.0
_FORMATS = {"BrainVision": "BrainVision", "EDF": "EDF"}


def _channel_type(label: str) -> str:
    """The mne channel type of a cleaned Brain Treebank label: seeg, stim (TRIG*) or misc (DC*)."""
    if not is_trigger_label(label):
        return "seeg"
    return "stim" if label.upper().startswith("TRIG") else "misc"


def word_table(transcript: pd.DataFrame) -> pd.DataFrame:
    """Turn a Brain Treebank transcript into the BIDS stimulus word table.

    Sentence ids follow the rule of :mod:`mmsites.features.events`: a new sentence starts
    where the ``sentence`` text changes from the previous row (a missing one counts as a value
    of its own) or where ``is_onset`` is 1; the first row is sentence 0.

    Parameters
    ----------
    transcript : pandas.DataFrame, shape (n_tokens, n_columns)
        Every row of ``transcripts/<movie>/features.csv`` in file order (untimed particles
        included): ``text``, ``start`` and ``end`` (s of movie time), ``sentence`` (text),
        ``is_onset`` when present.

    Returns
    -------
    pandas.DataFrame, shape (n_tokens, 4)
        ``onset`` and ``offset`` (s of movie time, NaN for untimed tokens), ``word`` (str),
        ``sentence`` (int64 id, non-decreasing in row order).

    Raises
    ------
    ValueError
        If a required column is missing.
    """
    missing = [c for c in ("text", "start", "end", "sentence") if c not in transcript.columns]
    if missing:
        raise ValueError(
            f"the transcript lacks column(s) {missing} (columns: {list(transcript.columns)[:12]})"
        )
    sentence = transcript["sentence"].astype(object).where(transcript["sentence"].notna(), None)
    changed = (sentence != sentence.shift()).to_numpy(dtype=bool, copy=True)
    if "is_onset" in transcript.columns:
        changed |= pd.to_numeric(transcript["is_onset"], errors="coerce").to_numpy() == 1
    if changed.size:
        changed[0] = False
    return pd.DataFrame(
        {
            "onset": pd.to_numeric(transcript["start"], errors="coerce").to_numpy(dtype=np.float64),
            "offset": pd.to_numeric(transcript["end"], errors="coerce").to_numpy(dtype=np.float64),
            "word": transcript["text"].astype(object).where(transcript["text"].notna(), "").astype(str),
            "sentence": np.cumsum(changed).astype(np.int64),
        }
    )


def _write_tsv(table: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(path, sep="\t", index=False, na_rep="n/a", lineterminator="\n")


def _write_json(obj: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2) + "\n")


def _write_stimuli(dataset: BrainTreebank, bids_root: Path, movie: str) -> None:
    """Write ``stimuli/<movie>_words.tsv`` (+ json) and copy the movie file when present."""
    stimuli = bids_root / "stimuli"
    source = dataset.root / "transcripts" / movie / "features.csv"
    if source.is_file():
        words = word_table(pd.read_csv(source, index_col=0))
        _write_tsv(words, stimuli / f"{movie}_words.tsv")
        _write_json(
            {
                "onset": {"Description": "Word onset", "Units": "s (movie time)"},
                "offset": {"Description": "Word offset", "Units": "s (movie time)"},
                "word": {"Description": "The word token as transcribed"},
                "sentence": {"Description": "Sentence id (0-based, non-decreasing in row order)"},
            },
            stimuli / f"{movie}_words.json",
        )
    else:
        logger.warning("no transcript at %s: no stimuli/%s_words.tsv written", source, movie)
    video = dataset.root / "movies" / f"{movie}.mp4"
    if video.is_file():
        stimuli.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(video, stimuli / video.name)


def _write_coordinates(dataset: BrainTreebank, subject: int, labels: list[str], ieeg_dir: Path, stem: str):
    """Write a subject's ``electrodes.tsv`` and ``coordsystem.json`` in :data:`SPACE` (mm)."""
    coords = dataset.mni_coordinates(subject)
    seeg = [label for label in labels if _channel_type(label) == "seeg"]
    table = pd.DataFrame({"name": seeg})
    for axis, column in zip("xyz", "XYZ"):
        table[axis] = [float(coords.at[label, column]) if label in coords.index else np.nan for label in seeg]
    table["size"] = np.nan
    _write_tsv(table, ieeg_dir / f"{stem}_space-{SPACE}_electrodes.tsv")
    _write_json(
        {
            "iEEGCoordinateSystem": SPACE,
            "iEEGCoordinateUnits": "mm",
            "iEEGCoordinateSystemDescription": (
                "Atlas coordinates of the Brain Treebank's localization/elec_coords_full.csv"
            ),
        },
        ieeg_dir / f"{stem}_space-{SPACE}_coordsystem.json",
    )


def _write_run(dataset, subject, trial, run, labels, corrupted, bids_root, task, fmt):
    """Write one trial as one BIDS run with mne-bids; return its BIDSPath."""
    import mne
    from mne.io.constants import FIFF
    from mne_bids import BIDSPath, mark_channels, write_raw_bids

    timings = dataset.timings(subject, trial)
    sfreq = dataset.sfreq(subject, trial)
    movie = dataset.movie_id(subject, trial)
    info = mne.create_info(labels, sfreq, [_channel_type(label) for label in labels], verbose=False)
    with info._unlock():
        info["line_freq"] = LINE_FREQ
    # mne holds voltage channels in volts; a channel without a unit (misc) keeps its numbers
    scales = [1e-6 if ch["unit"] == FIFF.FIFF_UNIT_V else 1.0 for ch in info["chs"]]
    with dataset.open_recording(subject, trial, sfreq) as rec:
        n = rec.n_samples
        data = np.empty((len(labels), n), dtype=np.float64)
        for ch, scale in enumerate(scales):  # one channel at a time
            data[ch] = rec.read([ch], 0, n, allow_nonfinite=True)[0].astype(np.float64) * scale
    raw = mne.io.RawArray(data, info, verbose=False)
    del data
    raw.set_meas_date(MEAS_DATE)

    column = "trig_type" if "trig_type" in timings.columns else "type"
    trial_type = timings[column].astype(str).to_numpy() if column in timings.columns else None
    if trial_type is None:
        trial_type = np.full(len(timings), "trigger", dtype=object)
    event_id = {name: code for code, name in enumerate(dict.fromkeys(trial_type), start=1)}
    samples = np.round(timings["index"].to_numpy()).astype(np.int64)
    if samples.max() >= n:
        raise ValueError(
            f"subject {subject} trial {trial}: a trigger at sample {samples.max()} lies beyond the "
            f"recording's {n} samples"
        )
    events = np.column_stack([samples, np.zeros_like(samples), [event_id[t] for t in trial_type]])
    metadata = pd.DataFrame(
        {
            "trial_type": trial_type,
            "movie_time": timings["movie_time"].to_numpy(dtype=np.float64),
            "stim_file": f"{movie}.mp4",
        }
    )
    bids_path = BIDSPath(
        subject=f"{subject:02d}",
        session="01",
        task=task,
        run=f"{run:02d}",
        datatype="ieeg",
        root=bids_root,
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        write_raw_bids(
            raw,
            bids_path,
            events=events,
            event_id=event_id,
            event_metadata=metadata,
            extra_columns_descriptions={
                "trial_type": "The trigger's kind (the timings table's trig_type)",
                "movie_time": "Movie time of the trigger (s)",
                "stim_file": "The movie shown, relative to /stimuli",
            },
            format=_FORMATS[fmt],
            allow_preload=True,
            overwrite=True,
            verbose=False,
        )
    for warning in caught:
        # pybv: a misc channel's unit is not µV (it has none); EDF: the last data record is
        # padded with edge values. Both expected: logged, not raised.
        logger.info("sub-%02d run-%02d: %s", subject, run, warning.message)
    # mne-bids writes placeholder positions (coordinate system "Other", all n/a) for iEEG
    # without a montage; the real ones are written in SPACE by _write_coordinates
    for suffix, extension in (("electrodes", ".tsv"), ("electrodes", ".json"), ("coordsystem", ".json")):
        placeholder = bids_path.copy().update(task=None, run=None, suffix=suffix, extension=extension)
        Path(placeholder.fpath).unlink(missing_ok=True)
    bads = [label for label in labels if label in corrupted]
    if bads:
        mark_channels(
            bids_path,
            ch_names=bads,
            status="bad",
            descriptions="corrupted in the source dataset (corrupted_elec.json)",
            verbose=False,
        )
    logger.info(
        "sub-%02d run-%02d <- %s (%d channels, %d bad)", subject, run, rec.path, len(labels), len(bads)
    )
    return bids_path, movie


def write_bids(source_root, bids_root, *, fmt: str = "BrainVision", task: str = "movie") -> Path:
    """Convert a Brain Treebank-layout dataset into a BIDS-iEEG dataset.

    See the module docstring for the files written. One recording is in memory at a time.

    Parameters
    ----------
    source_root : path-like
        Root of a dataset in the Brain Treebank layout (e.g. the demo of
        :func:`~mmsites.recordings.demo.generate_demo`).
    bids_root : path-like
        Output folder; created if missing. Files of an earlier conversion are overwritten.
    fmt : {"BrainVision", "EDF"}
        File format of the signals: BrainVision (float32 µV at 0.1 resolution, exact to about
        1e-7 relative) or EDF (16-bit, quantised to the channel type's physical range / 65535;
        mne pads the last data record with edge values, so the file is up to one record
        longer than the source).
    task : str
        BIDS task label of every run.

    Returns
    -------
    pathlib.Path
        ``bids_root``.

    Raises
    ------
    ValueError
        If ``fmt`` is not a supported format, the source has no subject, or a trigger lies
        beyond its recording.
    """
    if fmt not in _FORMATS:
        raise ValueError(f"fmt must be one of {tuple(_FORMATS)}, got {fmt!r}")
    dataset = BrainTreebank(source_root)
    bids_root = Path(bids_root)
    subjects = dataset.subjects()
    if not subjects:
        raise ValueError(f"{dataset.root} holds no recording (sub_<N>_trial<XXX>.h5)")
    bids_root.mkdir(parents=True, exist_ok=True)
    movies = set()
    for subject in subjects:
        labels = dataset.labels(subject)
        corrupted = dataset.corrupted(subject)
        for run, trial in enumerate(dataset.trials(subject), start=1):
            bids_path, movie = _write_run(
                dataset, subject, trial, run, labels, corrupted, bids_root, task, fmt
            )
            movies.add(movie)
        ieeg_dir = Path(bids_path.directory)
        _write_coordinates(dataset, subject, labels, ieeg_dir, f"sub-{subject:02d}_ses-01")
    for movie in sorted(movies):
        _write_stimuli(dataset, bids_root, movie)
    for name in ("truth.csv", "truth_features"):
        source = dataset.root / name
        if source.is_file():
            shutil.copyfile(source, bids_root / name)
        elif source.is_dir():
            shutil.copytree(source, bids_root / name, dirs_exist_ok=True)
    logger.info("BIDS dataset of %d subject(s) written to %s", len(subjects), bids_root)
    return bids_root

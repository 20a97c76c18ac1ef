"""Reader for intracranial EEG datasets in BIDS (BIDS-iEEG), with the Brain Treebank reader's surface.

:class:`BidsIEEG` offers the methods of :class:`mmsites.recordings.braintreebank.BrainTreebank`
(``subjects``, ``trials``, ``labels``, ``corrupted``, ``localization``, ``mni_coordinates``,
``timings``, ``sfreq``, ``movie_id``, ``transcript``, ``open_recording``,
``recording_files``), so the pipeline reads either one the same way; :class:`BidsRecording`
offers the surface of :class:`~mmsites.recordings.braintreebank.Recording`.

The layout it reads (``[...]`` optional; every file of a recording shares its entities)::

    ROOT/dataset_description.json
    ROOT/sub-<label>/[ses-<label>/]ieeg/
        sub-<label>[_ses-<label>]_task-<label>[_acq-<label>][_run-<index>]_ieeg.vhdr  (.eeg, .vmrk)
                                      ... or _ieeg.edf, _ieeg.bdf, _ieeg.set (+ .fdt)
        sub-<label>[_ses-<label>]_task-<label>[_acq-<label>][_run-<index>]_ieeg.json
        sub-<label>[_ses-<label>]_task-<label>[_acq-<label>][_run-<index>]_channels.tsv
        sub-<label>[_ses-<label>]_task-<label>[_acq-<label>][_run-<index>]_events.tsv
        sub-<label>[_ses-<label>][_acq-<label>][_space-<label>]_electrodes.tsv
        sub-<label>[_ses-<label>][_acq-<label>][_space-<label>]_coordsystem.json

Sidecars are found next to the recording first, then by the BIDS inheritance principle in the
session, subject and root folders (a file whose entities are a subset of the recording's).

How the Brain Treebank's notions map onto BIDS:

* **Subject**: the pipeline numbers subjects by int; ``sub-01``, ``sub-1`` and ``sub-001``
  are subject 1. Non-numeric subject labels (``sub-pt03``) are not supported yet: they are
  skipped with a warning.
* **Trial**: one iEEG recording (one signal file) of the subject that matches the selection
  (task, sessions, runs, acquisition), numbered 0..n-1 in (session, run, acquisition, task)
  order.
* **Electrodes**: the channels whose ``channels.tsv`` ``type`` is SEEG or ECOG; corrupted
  ones those whose ``status`` is ``bad`` in any selected run.
* **Timings**: the rows of ``events.tsv`` with a finite movie time (column ``movie_time`` by
  default), or, lacking one, a linear clock from a movie-onset event (``movie_onset``).
* **Coordinates**: ``electrodes.tsv`` with its ``coordsystem.json``; atlas (MNI) coordinates
  only when the coordinate system is one of :data:`MNI_SPACES`.

Signals are read lazily with mne's readers (``preload=False``), one slice at a time; a whole
recording is never loaded.
"""

from __future__ import annotations

import json
import logging
import math
import re
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from .braintreebank import clean_label, index_by_electrode, require_finite

logger = logging.getLogger(__name__)

__all__ = ["LIP_CENTRE_MM", "MNI_SPACES", "RAS_SPACES", "SIGNAL_EXTENSIONS", "BidsIEEG", "BidsRecording"]

#: Coordinate systems of the BIDS appendix that are MNI templates (or registered to one): an
#: electrode's coordinates in one of them can be looked up in an MNI atlas.
MNI_SPACES = (
    "MNI152Lin",
    "MNI152NLin2009aSym",
    "MNI152NLin2009bSym",
    "MNI152NLin2009cSym",
    "MNI152NLin2009aAsym",
    "MNI152NLin2009bAsym",
    "MNI152NLin2009cAsym",
    "MNI152NLin6Sym",
    "MNI152NLin6ASym",
    "MNI305",
    "MNIColin27",
    "fsaverage",
    "fsaverageSym",
    "ICBM452AirSpace",
    "ICBM452Warp5Space",
    "IXI549Space",
)
#: Coordinate systems whose axes point to the Right, Anterior and Superior (x, y, z): the MNI
#: ones, ACPC, ScanRAS and Talairach. Only in these are ``L, I, P`` and ``Hemisphere`` derived.
RAS_SPACES = MNI_SPACES + ("ACPC", "ScanRAS", "Talairach")
#: Centre (mm) of the Brain Treebank's native L, I, P grid: ``L = LIP_CENTRE_MM - x`` etc.
LIP_CENTRE_MM = 128.0
#: Signal file extensions read (lower case), with mne's lazy readers.
SIGNAL_EXTENSIONS = (".vhdr", ".edf", ".bdf", ".set")
#: ``channels.tsv`` types that are electrodes (case-insensitive).
ELECTRODE_TYPES = ("SEEG", "ECOG")
_UNITS_TO_MM = {"m": 1000.0, "cm": 10.0, "mm": 1.0}
_SIDECARS = (("channels", ".tsv"), ("events", ".tsv"), ("ieeg", ".json"))
_BV_BYTES = {"IEEE_FLOAT_32": 4, "INT_16": 2, "INT_32": 4, "UINT_16": 2}
_FIFF_UNIT_V = 107  # mne.io.constants.FIFF.FIFF_UNIT_V


# --------------------------------------------------------------------------------------------
# Small file helpers
# --------------------------------------------------------------------------------------------
def _read_tsv(path: Path, what: str) -> pd.DataFrame:
    """Read a BIDS tsv file as strings (``n/a`` and empty cells become NaN)."""
    if not path.is_file():
        raise FileNotFoundError(f"no {what} at {path}")
    try:
        return pd.read_csv(path, sep="\t", dtype=str, na_values=["n/a", ""], keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise ValueError(f"{path} ({what}) is not a readable tab-separated table: {err}") from err


def _read_json(path: Path, what: str) -> dict:
    if not path.is_file():
        raise FileNotFoundError(f"no {what} at {path}")
    try:
        obj = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path} ({what}) is not valid JSON: {err}") from err
    if not isinstance(obj, dict):
        raise ValueError(f"{path} ({what}) must hold a JSON object")
    return obj


def _numeric(table: pd.DataFrame, column: str, path: Path) -> pd.Series:
    """A column as float64; a cell that is neither ``n/a`` nor a number is an error with its line."""
    values = pd.to_numeric(table[column], errors="coerce")
    bad = values.isna() & table[column].notna()
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise ValueError(
            f"{path}: column {column!r} is not numeric at data row {row} (line {row + 2}): "
            f"{table[column].iloc[row]!r}"
        )
    return values.astype(np.float64)


def _entities(path: Path) -> dict:
    from mne_bids import get_entities_from_fname

    return {k: v for k, v in get_entities_from_fname(path.name, on_error="ignore").items() if v is not None}


def _natural_key(run) -> tuple:
    if run is None:
        return (0, -1, "")
    return (1, int(run), "") if str(run).isdigit() else (2, -1, str(run))


def _recording_order(path) -> tuple:
    """Sort key of a recording's BIDSPath: (session, run, acquisition, task)."""
    return (_natural_key(path.session), _natural_key(path.run), path.acquisition or "", path.task or "")


def _vhdr_companions(vhdr: Path) -> list[Path]:
    """The data and marker files a BrainVision header names (``DataFile``, ``MarkerFile``)."""
    text = vhdr.read_text(encoding="utf-8", errors="replace")
    found = []
    for key in ("DataFile", "MarkerFile"):
        match = re.search(rf"^\s*{key}\s*=\s*(.+?)\s*$", text, flags=re.MULTILINE)
        if match:
            found.append(vhdr.parent / match.group(1))
    return found


def _check_brainvision_size(vhdr: Path, n_channels: int) -> None:
    """A BrainVision data file whose size is not whole samples of every channel is truncated."""
    text = vhdr.read_text(encoding="utf-8", errors="replace")
    fmt = re.search(r"^\s*BinaryFormat\s*=\s*(\S+)", text, flags=re.MULTILINE)
    data = _vhdr_companions(vhdr)[0] if _vhdr_companions(vhdr) else None
    if fmt is None or data is None or fmt.group(1) not in _BV_BYTES or not data.is_file():
        return
    frame = _BV_BYTES[fmt.group(1)] * n_channels
    size = data.stat().st_size
    if size % frame:
        raise ValueError(
            f"{data} is truncated: {size} bytes is not a whole number of samples of "
            f"{n_channels} channels x {_BV_BYTES[fmt.group(1)]} bytes ({fmt.group(1)}, as {vhdr} "
            f"says); expected a multiple of {frame} bytes"
        )


# --------------------------------------------------------------------------------------------
# Signals
# --------------------------------------------------------------------------------------------
def _open_raw(path: Path):
    """Open a signal file lazily with mne; every failure becomes one error naming the file."""
    import mne

    if not path.is_file():
        raise FileNotFoundError(f"no signal file at {path}")
    if path.suffix.lower() not in SIGNAL_EXTENSIONS:
        raise ValueError(
            f"{path}: unsupported signal format {path.suffix!r}; expected one of {SIGNAL_EXTENSIONS}"
        )
    if path.suffix.lower() == ".vhdr":
        missing = [p for p in _vhdr_companions(path) if not p.is_file()]
        if missing:
            raise FileNotFoundError(f"{path} names {missing[0]}, which does not exist")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            raw = mne.io.read_raw(path, preload=False, verbose="error")
        except Exception as err:  # mne raises many kinds; the person needs the file and the reason
            raise ValueError(f"{path} is not a readable {path.suffix} recording: {err}") from err
    for warning in caught:
        logger.info("%s: %s", path, warning.message)
    if path.suffix.lower() == ".vhdr":
        _check_brainvision_size(path, len(raw.ch_names))
    return raw


class BidsRecording:
    """One BIDS iEEG signal file, opened lazily; a context manager with the surface of
    :class:`mmsites.recordings.braintreebank.Recording`.

    Parameters
    ----------
    path : path-like
        The signal file (``_ieeg.vhdr``, ``.edf``, ``.bdf`` or ``.set``).
    raw : mne.io.BaseRaw, optional
        The file already opened with ``preload=False`` (else it is opened here).
    n_samples : int, optional
        The length the recording must have (from ``_ieeg.json`` ``RecordingDuration``, to
        within one sample); a shorter file is an error (truncated), a longer one (e.g. EDF's
        padded last record) is read up to its own end.

    Attributes
    ----------
    path : pathlib.Path
        The signal file.
    labels : list of str
        Every channel name of the file in file order, cleaned
        (:func:`~mmsites.recordings.braintreebank.clean_label`).
    sfreq : float
        Sampling rate of the file (Hz).
    """

    def __init__(self, path, raw=None, n_samples: int | None = None):
        self.path = Path(path)
        self._raw = _open_raw(self.path) if raw is None else raw
        self.labels = [clean_label(name) for name in self._raw.ch_names]
        self.sfreq = float(self._raw.info["sfreq"])
        if n_samples is not None and self._raw.n_times < n_samples:
            raise ValueError(
                f"{self.path} is truncated: it holds {self._raw.n_times} samples but its sidecar "
                f"(RecordingDuration) says {n_samples}"
            )
        # mne gives voltage channels in volts: µV is 1e6 times that; other units as they are
        self._scale = np.array(
            [1e6 if ch["unit"] == _FIFF_UNIT_V else 1.0 for ch in self._raw.info["chs"]], dtype=np.float64
        )
        self._index: dict[str, list[int]] = {}
        for i, label in enumerate(self.labels):
            self._index.setdefault(label, []).append(i)

    @property
    def n_samples(self) -> int:
        """Length of every channel of the recording.

        Returns
        -------
        int
            Number of samples of each channel.
        """
        return int(self._raw.n_times)

    def channel_index(self, label: str) -> int:
        """Find the channel of an electrode label.

        Parameters
        ----------
        label : str
            The channel name, raw or cleaned.

        Returns
        -------
        int
            Its position in the file (and in :attr:`labels`).

        Raises
        ------
        KeyError
            If the label is not a channel of the file, or names more than one.
        """
        found = self._index.get(clean_label(label), [])
        if len(found) != 1:
            what = "is not in" if not found else "appears more than once in"
            raise KeyError(f"electrode {label!r} {what} the channel list of {self.path}")
        return found[0]

    def read(
        self, channels: Sequence[int], start: int, stop: int, *, allow_nonfinite: bool = False
    ) -> np.ndarray:
        """Read samples ``start:stop`` of the given channels, lazily.

        Parameters
        ----------
        channels : sequence of int
            Channel indices (positions in :attr:`labels`).
        start, stop : int
            Sample range, 0 <= start <= stop <= n_samples.
        allow_nonfinite : bool
            Return NaN and inf samples as they are instead of raising.

        Returns
        -------
        data : ndarray of float32, shape (n_channels, stop - start)
            Voltage (µV) for channels whose unit is a voltage; other channels (e.g. ``misc``
            without a unit) in the file's own numbers.

        Raises
        ------
        ValueError
            If the range is outside the recording, the recording is closed or unreadable, or
            the signal holds NaN or inf (unless ``allow_nonfinite``).
        IndexError
            If a channel index is out of range.
        """
        if self._raw is None:
            raise ValueError(f"{self.path} is closed")
        start, stop = int(start), int(stop)
        if not 0 <= start <= stop <= self.n_samples:
            raise ValueError(
                f"{self.path}: sample range [{start}, {stop}) is outside the recording [0, {self.n_samples})"
            )
        channels = [int(c) for c in channels]
        for channel in channels:
            if not 0 <= channel < len(self.labels):
                raise IndexError(f"{self.path}: channel {channel} not in 0..{len(self.labels) - 1}")
        out = np.empty((len(channels), stop - start), dtype=np.float32)
        if channels and stop > start:
            unique = sorted(set(channels))
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    data = self._raw.get_data(picks=unique, start=start, stop=stop, verbose="error")
            except Exception as err:  # a truncated or damaged file fails deep inside mne
                raise ValueError(
                    f"{self.path}: reading samples [{start}, {stop}) failed; is the file complete? ({err})"
                ) from err
            if data.shape != (len(unique), stop - start):
                raise ValueError(
                    f"{self.path}: asked for samples [{start}, {stop}) of {len(unique)} channels, got "
                    f"an array of shape {data.shape}; the file is shorter than its header says"
                )
            data *= self._scale[unique][:, None]
            row_of = {c: k for k, c in enumerate(unique)}
            out[:] = data[[row_of[c] for c in channels]]
        if not allow_nonfinite:

            def name(row: int) -> str:
                return f"channel {self.labels[channels[row]]!r} (channel {channels[row]})"

            require_finite(out, start, self.path, name, "mark the channel bad in channels.tsv to skip it")
        return out

    def close(self) -> None:
        """Release the file; reading afterwards fails."""
        self._raw = None

    def __enter__(self) -> BidsRecording:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        n = self.n_samples if self._raw is not None else "?"
        return (
            f"BidsRecording({str(self.path)!r}, {len(self.labels)} channels, {n} samples at "
            f"{self.sfreq:g} Hz)"
        )


# --------------------------------------------------------------------------------------------
# Dataset root
# --------------------------------------------------------------------------------------------
class BidsIEEG:
    """A BIDS-iEEG dataset root, read with the surface of
    :class:`~mmsites.recordings.braintreebank.BrainTreebank`.

    Subjects are numbered by int: ``sub-01``, ``sub-1`` and ``sub-007`` are subjects 1, 1 and
    7. **Non-numeric subject labels are not supported yet**: such subjects are skipped with a
    warning.

    Parameters
    ----------
    root : path-like
        The dataset root (holding ``dataset_description.json`` and ``sub-*`` folders).
    task : str, optional
        Only recordings of this task; all tasks by default.
    sessions : sequence of str, optional
        Only recordings of these sessions (labels, e.g. ``["01"]``); all by default.
    runs : sequence of int or str, optional
        Only these runs (``1`` matches ``run-1`` and ``run-01``); all by default.
    acquisition : str, optional
        Only recordings of this acquisition; all by default.
    movie_time_column : str
        Column of ``events.tsv`` holding the movie time (s) of each trigger.
    movie_onset : str, optional
        A ``trial_type`` of ``events.tsv`` marking the movie's start, used when
        ``movie_time_column`` is absent: the movie is then assumed to run without pauses to
        the end of the recording (a linear clock).
    """

    def __init__(
        self,
        root,
        *,
        task: str | None = None,
        sessions: Sequence[str] | None = None,
        runs: Sequence[int | str] | None = None,
        acquisition: str | None = None,
        movie_time_column: str = "movie_time",
        movie_onset: str | None = None,
    ):
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(f"BIDS root {self.root} is not a folder")
        if not (self.root / "dataset_description.json").is_file():
            logger.warning("%s has no dataset_description.json; is it a BIDS root?", self.root)
        self.task = task
        self.sessions = None if sessions is None else [str(s) for s in sessions]
        self.runs = None if runs is None else [_natural_key(str(r)) for r in runs]
        self.acquisition = acquisition
        self.movie_time_column = movie_time_column
        self.movie_onset = movie_onset
        self._labels_of: dict[int, str] | None = None
        self._recordings: dict[int, list] = {}
        self._headers: dict[Path, object] = {}

    def __repr__(self) -> str:
        return f"BidsIEEG({str(self.root)!r}, task={self.task!r})"

    # -- subjects and recordings ------------------------------------------------------------
    def _subject_labels(self) -> dict[int, str]:
        if self._labels_of is None:
            from mne_bids import get_entity_vals

            found: dict[int, str] = {}
            for label in get_entity_vals(self.root, "subject"):
                if not (label.isascii() and label.isdigit()):
                    logger.warning(
                        "%s: subject label %r is not a number; non-numeric subject labels are not "
                        "supported yet, so this subject is skipped",
                        self.root / f"sub-{label}",
                        label,
                    )
                    continue
                number = int(label)
                if number in found:
                    raise ValueError(
                        f"subject folders {self.root / f'sub-{found[number]}'} and "
                        f"{self.root / f'sub-{label}'} both map to subject {number}; rename one"
                    )
                found[number] = label
            self._labels_of = found
        return self._labels_of

    def _label(self, subject: int) -> str:
        labels = self._subject_labels()
        if subject not in labels:
            raise FileNotFoundError(f"no subject {subject} in {self.root} (subjects: {sorted(labels)})")
        return labels[subject]

    def subjects(self) -> list[int]:
        """List the subjects with an iEEG recording matching the selection.

        Returns
        -------
        list of int
            Subject numbers (``int`` of the numeric BIDS labels), sorted.

        Raises
        ------
        ValueError
            If two subject folders map to the same number (e.g. ``sub-1`` and ``sub-01``).
        """
        return sorted(s for s in self._subject_labels() if self._recording_paths(s))

    def _selected(self, path) -> bool:
        if self.task is not None and path.task != self.task:
            return False
        if self.sessions is not None and path.session not in self.sessions:
            return False
        if self.runs is not None and _natural_key(path.run) not in self.runs:
            return False
        return self.acquisition is None or path.acquisition == self.acquisition

    def _recording_paths(self, subject: int) -> list[Path]:
        if subject not in self._recordings:
            from mne_bids import find_matching_paths

            label = self._label(subject)
            extensions = list(SIGNAL_EXTENSIONS) + [e.upper() for e in SIGNAL_EXTENSIONS]
            paths = find_matching_paths(
                self.root, subjects=label, datatypes="ieeg", suffixes="ieeg", extensions=extensions
            )
            paths = [p for p in paths if self._selected(p)]
            paths.sort(key=_recording_order)
            seen: dict[tuple, Path] = {}
            for p in paths:
                key = (p.session, p.run, p.acquisition, p.task)
                if key in seen:
                    raise ValueError(
                        f"two signal files for one recording: {seen[key]} and {p.fpath}; keep one format"
                    )
                seen[key] = Path(p.fpath)
            self._recordings[subject] = list(seen.values())
            for trial, path in enumerate(self._recordings[subject]):
                logger.info("sub-%s trial %d = %s", label, trial, path)
        return self._recordings[subject]

    def trials(self, subject: int) -> list[int]:
        """List the trials (recordings) of one subject.

        Parameters
        ----------
        subject : int
            Subject number.

        Returns
        -------
        list of int
            ``0..n-1``: the subject's iEEG recordings matching the selection in (session, run,
            acquisition, task) order; empty when it has none (or is not in the dataset).
        """
        if subject not in self._subject_labels():
            return []
        return list(range(len(self._recording_paths(subject))))

    def signal_path(self, subject: int, trial: int) -> Path:
        """Find the signal file of one trial.

        Parameters
        ----------
        subject : int
            Subject number.
        trial : int
            Trial number (:meth:`trials`).

        Returns
        -------
        pathlib.Path
            The ``_ieeg`` signal file (``.vhdr``, ``.edf``, ``.bdf`` or ``.set``).

        Raises
        ------
        FileNotFoundError
            If the subject or the trial does not exist.
        """
        paths = self._recording_paths(subject)
        if not 0 <= trial < len(paths):
            raise FileNotFoundError(
                f"subject {subject} has no trial {trial} in {self.root}: it has {len(paths)} "
                f"recording(s) matching task={self.task!r}, sessions={self.sessions}, "
                f"acquisition={self.acquisition!r}"
            )
        return paths[trial]

    def _sidecar(self, signal: Path, suffix: str, extension: str, *, required: bool = True) -> Path | None:
        """The recording's sidecar: next to it, else inherited from a folder above (BIDS rule)."""
        stem = signal.name[: signal.name.rindex("_")]
        exact = signal.parent / f"{stem}_{suffix}{extension}"
        if exact.is_file():
            return exact
        mine = _entities(signal)
        folder = signal.parent
        while True:
            candidates = sorted(folder.glob(f"*_{suffix}{extension}")) + sorted(
                folder.glob(f"{suffix}{extension}")
            )
            matching = [c for c in candidates if all(mine.get(k) == v for k, v in _entities(c).items())]
            if matching:
                # the most specific file (most entities) wins
                return max(matching, key=lambda c: len(_entities(c)))
            if folder == self.root or self.root not in folder.parents:
                break
            folder = folder.parent
        if required:
            raise FileNotFoundError(
                f"no {suffix}{extension} for {signal}: expected {exact} (or an inherited one)"
            )
        return None

    def _signal_and_sidecar(self, subject: int, trial: int, suffix: str, extension: str):
        signal = self.signal_path(subject, trial)
        return signal, self._sidecar(signal, suffix, extension)

    def recording_files(self, subject: int, trial: int) -> list[Path]:
        """Every file a trial's results depend on (what a cached result depends on).

        Parameters
        ----------
        subject : int
            Subject number.
        trial : int
            Trial number.

        Returns
        -------
        list of pathlib.Path
            The signal file, its companions (``.eeg`` and ``.vmrk`` of BrainVision, ``.fdt`` of
            EEGLAB) and the sidecars ``_channels.tsv``, ``_events.tsv`` and ``_ieeg.json``
            that exist.
        """
        signal = self.signal_path(subject, trial)
        files = [signal]
        if signal.suffix.lower() == ".vhdr":
            files += [p for p in _vhdr_companions(signal) if p.is_file()]
        elif signal.suffix.lower() == ".set" and signal.with_suffix(".fdt").is_file():
            files.append(signal.with_suffix(".fdt"))
        for suffix, extension in _SIDECARS:
            sidecar = self._sidecar(signal, suffix, extension, required=False)
            if sidecar is not None:
                files.append(sidecar)
        return files

    # -- channels ---------------------------------------------------------------------------
    def _channels(self, subject: int, trial: int) -> tuple[Path, pd.DataFrame]:
        _, path = self._signal_and_sidecar(subject, trial, "channels", ".tsv")
        table = _read_tsv(path, "channel table")
        missing = [c for c in ("name", "type") if c not in table.columns]
        if missing:
            raise ValueError(f"{path} lacks column(s) {missing} (columns: {list(table.columns)})")
        if table["name"].isna().any():
            row = int(np.flatnonzero(table["name"].isna().to_numpy())[0])
            raise ValueError(f"{path}: channel name missing at data row {row} (line {row + 2})")
        return path, table

    def _electrodes(self, subject: int, trial: int) -> tuple[Path, list[str]]:
        path, table = self._channels(subject, trial)
        kind = table["type"].fillna("").str.strip().str.upper()
        return path, [clean_label(name) for name in table.loc[kind.isin(ELECTRODE_TYPES), "name"]]

    def labels(self, subject: int) -> list[str]:
        """The subject's electrodes: its SEEG and ECoG channels, cleaned.

        Parameters
        ----------
        subject : int
            Subject number.

        Returns
        -------
        list of str
            Names of the channels of type SEEG or ECOG (case-insensitive) in the
            ``channels.tsv`` of the subject's first recording, in file order, cleaned
            (:func:`~mmsites.recordings.braintreebank.clean_label`).

        Raises
        ------
        FileNotFoundError
            If the subject has no recording or a recording has no ``channels.tsv``.
        ValueError
            If two recordings have different sets of electrodes (the message names both
            ``channels.tsv`` files and the differing channels).
        """
        trials = self.trials(subject)
        if not trials:
            raise FileNotFoundError(f"subject {subject} has no iEEG recording in {self.root}")
        first_path, first = self._electrodes(subject, trials[0])
        for trial in trials[1:]:
            path, other = self._electrodes(subject, trial)
            if set(other) != set(first):
                only_first = sorted(set(first) - set(other))
                only_other = sorted(set(other) - set(first))
                raise ValueError(
                    f"subject {subject}: the SEEG/ECoG channels of {first_path} and {path} differ: "
                    f"only in the first {only_first[:8]}, only in the second {only_other[:8]}; "
                    "select runs with one montage (data.bids.runs / sessions)"
                )
        return first

    def corrupted(self, subject: int) -> set[str]:
        """The channels marked bad in any selected recording of the subject.

        Parameters
        ----------
        subject : int
            Subject number.

        Returns
        -------
        set of str
            Cleaned names of the channels whose ``status`` is ``bad`` in a ``channels.tsv``;
            their ``status_description`` is logged. Empty when no table has a ``status``.
        """
        bad: set[str] = set()
        for trial in self.trials(subject):
            path, table = self._channels(subject, trial)
            if "status" not in table.columns:
                continue
            rows = table.loc[table["status"].fillna("").str.strip().str.lower() == "bad"]
            for _, row in rows.iterrows():
                name = clean_label(row["name"])
                description = row.get("status_description")
                if isinstance(description, str) and name not in bad:
                    logger.info("%s: channel %s is bad: %s", path, name, description)
                bad.add(name)
        return bad

    # -- sampling rate and signals ------------------------------------------------------------
    def _header(self, signal: Path):
        if signal not in self._headers:
            self._headers[signal] = _open_raw(signal)
        return self._headers[signal]

    def _ieeg_json(self, signal: Path) -> tuple[Path | None, dict]:
        path = self._sidecar(signal, "ieeg", ".json", required=False)
        return path, ({} if path is None else _read_json(path, "iEEG sidecar"))

    def sfreq(self, subject: int, trial: int) -> float:
        """The sampling rate of one recording, from its file header.

        Parameters
        ----------
        subject : int
            Subject number.
        trial : int
            Trial number.

        Returns
        -------
        float
            Sampling rate (Hz).

        Raises
        ------
        ValueError
            If the file is unreadable or its rate disagrees with ``_ieeg.json``
            ``SamplingFrequency`` (the message names both files).
        """
        signal = self.signal_path(subject, trial)
        rate = float(self._header(signal).info["sfreq"])
        sidecar, meta = self._ieeg_json(signal)
        stated = meta.get("SamplingFrequency")
        if stated is not None:
            try:
                stated = float(stated)
            except (TypeError, ValueError) as err:
                raise ValueError(f"{sidecar}: SamplingFrequency must be a number, got {stated!r}") from err
            if not math.isclose(stated, rate, rel_tol=1e-6):
                raise ValueError(
                    f"{signal} is sampled at {rate:g} Hz but {sidecar} says SamplingFrequency "
                    f"{stated:g} Hz; they must agree"
                )
        return rate

    def _expected_samples(self, signal: Path) -> int | None:
        _, meta = self._ieeg_json(signal)
        duration = meta.get("RecordingDuration")
        if not isinstance(duration, (int, float)) or not duration > 0:
            return None
        # mne-bids writes the time of the last sample; allow one sample of rounding
        return int(math.floor(float(duration) * float(self._header(signal).info["sfreq"]) + 1e-6))

    def open_recording(self, subject: int, trial: int, sfreq: float | None = None) -> BidsRecording:
        """Open a recording's signal for lazy reading.

        Parameters
        ----------
        subject : int
            Subject number.
        trial : int
            Trial number.
        sfreq : float, optional
            Expected sampling rate (Hz); by default the file's (:meth:`sfreq`).

        Returns
        -------
        BidsRecording
            The open recording; close it (or use it as a context manager).

        Raises
        ------
        FileNotFoundError
            If the signal file or its ``channels.tsv`` is missing.
        ValueError
            If the file is unreadable or truncated, its channels disagree with
            ``channels.tsv`` (the message names both files and the first differing name), or
            its rate disagrees with ``sfreq`` or ``_ieeg.json``.
        """
        signal = self.signal_path(subject, trial)
        rate = self.sfreq(subject, trial)
        if sfreq is not None and not math.isclose(float(sfreq), rate, rel_tol=1e-6):
            raise ValueError(f"{signal} is sampled at {rate:g} Hz, not at the {float(sfreq):g} Hz asked for")
        raw = self._header(signal)
        tsv, table = self._channels(subject, trial)
        self._check_channels(signal, raw.ch_names, tsv, table["name"].tolist())
        return BidsRecording(signal, raw=raw, n_samples=self._expected_samples(signal))

    @staticmethod
    def _check_channels(signal: Path, header: list[str], tsv: Path, listed: list[str]) -> None:
        if list(header) == list(listed):
            return
        first = next(
            (i for i, (a, b) in enumerate(zip(header, listed)) if a != b), min(len(header), len(listed))
        )
        in_header = header[first] if first < len(header) else "(nothing: the header ends)"
        in_tsv = listed[first] if first < len(listed) else "(nothing: the table ends)"
        raise ValueError(
            f"the channels of {signal} ({len(header)}) and of {tsv} ({len(listed)}) disagree: "
            f"channel {first} is {in_header!r} in the file header but {in_tsv!r} in the table; "
            "channels.tsv must list the file's channels in order"
        )

    # -- timing -------------------------------------------------------------------------------
    def _events(self, subject: int, trial: int) -> tuple[Path, Path, pd.DataFrame]:
        signal, path = self._signal_and_sidecar(subject, trial, "events", ".tsv")
        table = _read_tsv(path, "events table")
        if "onset" not in table.columns:
            raise ValueError(f"{path} has no 'onset' column (columns: {list(table.columns)})")
        return signal, path, table

    def _event_samples(self, table: pd.DataFrame, path: Path, signal: Path) -> pd.Series:
        if "sample" in table.columns and table["sample"].notna().all():
            return _numeric(table, "sample", path)
        rate = float(self._header(signal).info["sfreq"])
        return np.round(_numeric(table, "onset", path) * rate)

    def timings(self, subject: int, trial: int) -> pd.DataFrame:
        """Read a recording's trigger table from its ``events.tsv``, validated.

        With ``movie_time_column`` in the table, the rows where it is a finite number; else,
        with ``movie_onset`` set, two synthetic triggers: movie time 0 at the first event of
        that ``trial_type`` and the end of the recording at movie time
        ``(n_samples - 1 - onset_sample) / sfreq``. That linear clock assumes the movie ran
        without pause to the end of the recording: pauses are then unknown.

        Parameters
        ----------
        subject : int
            Subject number.
        trial : int
            Trial number.

        Returns
        -------
        DataFrame, shape (n_triggers, n_columns)
            Every column of ``events.tsv`` (``onset``, ``duration``, ``sample`` as float64, the
            others as strings, NaN for ``n/a``) plus
            ``movie_time`` (s of movie time, float64) and ``index`` (sample of the recording,
            float64, from ``sample`` or ``round(onset * sfreq)``), ``index`` non-decreasing.

        Raises
        ------
        FileNotFoundError
            If ``events.tsv`` is missing.
        ValueError
            If neither the movie-time column nor ``movie_onset`` is usable (the message says
            which params to set), a value is not numeric, fewer than 2 rows are usable, or
            ``index`` decreases or lies beyond the recording.
        """
        signal, path, table = self._events(subject, trial)
        column = self.movie_time_column
        if column in table.columns:
            movie_time = _numeric(table, column, path)
            finite = np.isfinite(movie_time.to_numpy())
        else:
            finite = np.zeros(len(table), dtype=bool)
        for name in ("onset", "duration", "sample"):
            if name in table.columns:
                table[name] = _numeric(table, name, path)
        if finite.any():
            rows = table.loc[finite].copy()
            rows["movie_time"] = movie_time[finite].to_numpy()
            rows["index"] = self._event_samples(table, path, signal)[finite].to_numpy()
            lines = np.flatnonzero(finite) + 2
        elif self.movie_onset is not None:
            rows = self._linear_clock(signal, path, table)
            lines = None
        else:
            raise ValueError(
                f"{path} has no usable movie time: column {column!r} is "
                f"{'absent' if column not in table.columns else 'empty (all n/a)'} "
                f"(columns: {list(table.columns)}); set data.bids.movie_time_column to the column "
                "holding each trigger's movie time (s), or data.bids.movie_onset to the trial_type "
                "that marks the movie's start (a linear clock: pauses unknown)"
            )
        rows = rows.reset_index(drop=True)
        if len(rows) < 2:
            raise ValueError(f"{path}: fewer than 2 usable trigger rows (column {column!r})")
        steps = np.diff(rows["index"].to_numpy())
        if (steps < 0).any():
            k = int(np.flatnonzero(steps < 0)[0]) + 1
            where = f" (line {lines[k]})" if lines is not None else ""
            raise ValueError(
                f"{path}: the trigger sample index decreases at trigger row {k}{where}: "
                f"{rows['index'].iloc[k - 1]:g} -> {rows['index'].iloc[k]:g}; trigger sample "
                "indices must be non-decreasing"
            )
        n_samples = self._header(signal).n_times
        beyond = rows["index"].to_numpy() >= n_samples
        if beyond.any() or (rows["index"].to_numpy() < 0).any():
            k = int(np.flatnonzero(beyond | (rows["index"].to_numpy() < 0))[0])
            where = f" (line {lines[k]})" if lines is not None else ""
            raise ValueError(
                f"{path}: trigger row {k}{where} is at sample {rows['index'].iloc[k]:g}, outside "
                f"{signal} (samples 0..{n_samples - 1}); is the signal file complete?"
            )
        return rows

    def _linear_clock(self, signal: Path, path: Path, table: pd.DataFrame) -> pd.DataFrame:
        kinds = "trial_type" if "trial_type" in table.columns else "value"
        if kinds not in table.columns:
            raise ValueError(
                f"{path} has neither a 'trial_type' nor a 'value' column to find the movie onset "
                f"{self.movie_onset!r} in (columns: {list(table.columns)})"
            )
        match = table[kinds].fillna("").str.strip() == str(self.movie_onset).strip()
        if not match.any():
            found = sorted(set(table[kinds].dropna()))[:12]
            raise ValueError(
                f"{path}: no event of {kinds} {self.movie_onset!r} (data.bids.movie_onset); "
                f"the table has {found}"
            )
        k = int(np.flatnonzero(match.to_numpy())[0])
        onset_sample = float(self._event_samples(table, path, signal).iloc[k])
        header = self._header(signal)
        last = float(header.n_times - 1)
        rate = float(header.info["sfreq"])
        logger.warning(
            "%s: no %r column; movie time runs linearly from the %r event (sample %d) to the end "
            "of %s: pauses of the movie, if any, are unknown",
            path,
            self.movie_time_column,
            self.movie_onset,
            onset_sample,
            signal.name,
        )
        return pd.DataFrame(
            {
                "onset": [onset_sample / rate, last / rate],
                "duration": [0.0, 0.0],
                "trial_type": [self.movie_onset, "recording end"],
                "movie_time": [0.0, (last - onset_sample) / rate],
                "index": [onset_sample, last],
            }
        )

    def movie_id(self, subject: int, trial: int) -> str:
        """Name the movie a recording shows.

        Parameters
        ----------
        subject : int
            Subject number.
        trial : int
            Trial number.

        Returns
        -------
        str
            The stem of the ``stim_file`` of the first timing row that has one
            (``stimuli/mmsites-demo.mp4`` -> ``mmsites-demo``), else the recording's task.

        Raises
        ------
        ValueError
            If there is neither a ``stim_file`` nor a task label.
        """
        table = self.timings(subject, trial)
        if "stim_file" in table.columns:
            files = table["stim_file"].dropna()
            files = files[files.str.strip() != ""]
            if len(files):
                return Path(files.iloc[0].strip()).stem
        task = _entities(self.signal_path(subject, trial)).get("task")
        if not task:
            raise ValueError(
                f"{self.signal_path(subject, trial)}: no stim_file in its events.tsv and no task "
                "label: cannot name the movie"
            )
        return task

    def transcript(self, movie: str) -> pd.DataFrame:
        """BIDS datasets carry no Brain Treebank transcript: always raises.

        Parameters
        ----------
        movie : str
            Movie id (:meth:`movie_id`).

        Returns
        -------
        pandas.DataFrame
            Never returns.

        Raises
        ------
        FileNotFoundError
            Always: the word table must be mapped with ``data.stimuli.words``.
        """
        raise FileNotFoundError(
            f"no transcript for movie {movie!r}: BIDS datasets carry no Brain Treebank "
            f"transcript; map a word table (e.g. {self.root / 'stimuli' / (movie + '_words.tsv')}) "
            "with data.stimuli.words"
        )

    # -- coordinates ----------------------------------------------------------------------------
    def _coordinate_files(self, subject: int) -> tuple[Path, Path] | None:
        """The electrodes.tsv (and its coordsystem.json) of the subject's first recording."""
        trials = self.trials(subject)
        if not trials:
            raise FileNotFoundError(f"subject {subject} has no iEEG recording in {self.root}")
        signal = self.signal_path(subject, trials[0])
        mine = _entities(signal)
        candidates = []
        folder = signal.parent
        while True:
            for path in sorted(folder.glob("*electrodes.tsv")):
                ent = _entities(path)
                if all(mine.get(k) == v for k, v in ent.items() if k != "space"):
                    candidates.append(path)
            if candidates or folder == self.root or self.root not in folder.parents:
                break
            folder = folder.parent
        if not candidates:
            return None
        # an MNI space first (atlas lookup needs it), then the most specific, then by name
        candidates.sort(
            key=lambda p: (_entities(p).get("space") not in MNI_SPACES, -len(_entities(p)), p.name)
        )
        if len(candidates) > 1:
            logger.info("sub-%s: %d electrodes.tsv files; using %s", subject, len(candidates), candidates[0])
        electrodes = candidates[0]
        stem = electrodes.name[: electrodes.name.rindex("_")]
        return electrodes, electrodes.parent / f"{stem}_coordsystem.json"

    def coordinate_space(self, subject: int) -> str | None:
        """The coordinate system of the subject's electrode positions.

        Parameters
        ----------
        subject : int
            Subject number.

        Returns
        -------
        str or None
            ``iEEGCoordinateSystem`` of the ``coordsystem.json`` next to the subject's
            ``electrodes.tsv`` (e.g. ``"MNI152NLin2009cAsym"``, ``"ACPC"``); None without
            either file.
        """
        files = self._coordinate_files(subject)
        if files is None or not files[1].is_file():
            return None
        return str(_read_json(files[1], "coordinate system").get("iEEGCoordinateSystem") or "") or None

    def localization(self, subject: int) -> pd.DataFrame:
        """Read a subject's electrode positions (``electrodes.tsv`` with ``coordsystem.json``).

        In a RAS space (:data:`RAS_SPACES`: x to the right, y anterior, z superior) the
        Brain Treebank's native columns are derived: ``L, I, P``, what the Population
        Transformer's position encoding reads as row indices of its sinusoid table (so they
        must be non-negative whole numbers): ``L = 128 - x``, ``I = 128 - z``, ``P = 128 - y``
        rounded to whole mm (halves up), the Brain Treebank's convention (a 256-mm volume
        centred on the RAS origin; :data:`LIP_CENTRE_MM`) and the map of
        :func:`mmsites.brainmodels.popt.lip_from_mni` (without its clipping); and
        ``Hemisphere`` (1 left when x < 0, else 0 right, the Brain Treebank's coding).

        Parameters
        ----------
        subject : int
            Subject number.

        Returns
        -------
        pandas.DataFrame, shape (n_electrodes, n_columns)
            Indexed by cleaned electrode name (``Electrode``): ``x, y, z`` (mm; NaN for
            ``n/a``), ``space`` (the coordinate system's name) and, in a RAS space,
            ``L, I, P`` (whole mm, float64; NaN without a coordinate) and ``Hemisphere`` (1
            left, 0 right; NaN without x). Other columns
            of the table are kept. Row order is the table's: join on the index.

        Raises
        ------
        FileNotFoundError
            If the subject has no ``electrodes.tsv`` (the pipeline then has no coordinates) or
            no ``coordsystem.json`` beside it.
        ValueError
            If the table lacks ``name, x, y, z`` or holds a non-numeric coordinate.
        """
        files = self._coordinate_files(subject)
        if files is None:
            raise FileNotFoundError(
                f"no electrodes.tsv for subject {subject} in {self.root} (looked beside its first "
                "recording and in the folders above)"
            )
        electrodes, coordsystem = files
        meta = _read_json(coordsystem, f"coordinate system of {electrodes.name}")
        space = str(meta.get("iEEGCoordinateSystem") or "")
        units = str(meta.get("iEEGCoordinateUnits") or "")
        table = _read_tsv(electrodes, "electrode table")
        missing = [c for c in ("name", "x", "y", "z") if c not in table.columns]
        if missing:
            raise ValueError(f"{electrodes} lacks column(s) {missing} (columns: {list(table.columns)})")
        xyz = np.column_stack([_numeric(table, axis, electrodes).to_numpy() for axis in "xyz"])
        if units in _UNITS_TO_MM:
            xyz = xyz * _UNITS_TO_MM[units]
        else:
            logger.warning(
                "%s: iEEGCoordinateUnits %r is not m, cm or mm; the coordinates of %s are unusable "
                "(set to NaN)",
                coordsystem,
                units,
                electrodes.name,
            )
            xyz = np.full_like(xyz, np.nan)
        out = table.drop(columns=["x", "y", "z"]).copy()
        out.insert(0, "Electrode", table["name"].astype(str).map(clean_label))
        out = out.drop(columns=["name"])
        out["x"], out["y"], out["z"] = xyz[:, 0], xyz[:, 1], xyz[:, 2]
        out["space"] = space
        if space in RAS_SPACES:
            lip = np.floor(LIP_CENTRE_MM - xyz[:, [0, 2, 1]] + 0.5)
            out["L"], out["I"], out["P"] = lip[:, 0], lip[:, 1], lip[:, 2]
            out["Hemisphere"] = np.where(np.isnan(xyz[:, 0]), np.nan, (xyz[:, 0] < 0).astype(float))
        else:
            logger.info(
                "%s: coordinate system %r is not a RAS space; L, I, P and Hemisphere not derived",
                coordsystem,
                space,
            )
        return index_by_electrode(out, electrodes)

    def mni_coordinates(self, subject: int) -> pd.DataFrame:
        """Read a subject's atlas (MNI) coordinates, when its electrodes are in an MNI space.

        Parameters
        ----------
        subject : int
            Subject number.

        Returns
        -------
        coords : DataFrame indexed by cleaned electrode name, shape (n_electrodes, 4)
            ``X, Y, Z`` (mm; NaN for ``n/a``) and ``Hemisphere`` (1 left, 0 right) when the
            coordinate system is one of :data:`MNI_SPACES`; electrodes whose x, y and z are
            all ``n/a`` are left out (as the Brain Treebank leaves them out). Empty, with a warning, when the
            subject has no ``electrodes.tsv`` or its space is not an MNI space (region lookup
            needs MNI coordinates; the coordinates stay in :meth:`localization`).
        """
        empty = pd.DataFrame(columns=["X", "Y", "Z"]).rename_axis("Electrode")
        try:
            loc = self.localization(subject)
        except FileNotFoundError as err:
            logger.warning("subject %d has no atlas coordinates: %s", subject, err)
            return empty
        space = str(loc["space"].iloc[0]) if len(loc) else self.coordinate_space(subject)
        if space not in MNI_SPACES:
            logger.warning(
                "subject %d: electrode coordinates are in %r, not an MNI space %s; region lookup "
                "needs MNI coordinates, so the atlas lookup is skipped (the coordinates are kept "
                "in localization())",
                subject,
                space,
                MNI_SPACES,
            )
            return empty
        out = loc[["x", "y", "z"]].rename(columns={"x": "X", "y": "Y", "z": "Z"})
        out["Hemisphere"] = loc["Hemisphere"]
        unplaced = out[["X", "Y", "Z"]].isna().all(axis=1)
        if unplaced.any():
            logger.info(
                "subject %d: %d electrode(s) without coordinates (n/a) left out of the atlas coordinates: %s",
                subject,
                int(unplaced.sum()),
                list(out.index[unplaced])[:8],
            )
        return out.loc[~unplaced]

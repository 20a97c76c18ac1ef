"""Reader for the Brain Treebank dataset (Wang et al., NeurIPS 2024).

The on-disk layout of the public release (each file is described below, where it is read)::

    ROOT/all_subject_data/sub_<N>_trial<XXX>.h5     (or ROOT/sub_<N>_trial<XXX>.h5)
    ROOT/electrode_labels/sub_<N>/electrode_labels.json
    ROOT/corrupted_elec.json
    ROOT/localization/sub_<N>/depth-wm.csv
    ROOT/subject_metadata/sub_<N>_trial<XXX>_metadata.json
    ROOT/subject_timings/sub_<N>_trial<XXX>_timings.csv
    ROOT/transcripts/<movie>/features.csv

Everything here returns arrays and tables; nothing is cached on disk. Signals are read lazily,
one slice of one channel at a time, because a session is several GB.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Sequence
from pathlib import Path

import h5py
import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

__all__ = [
    "BrainTreebank",
    "Recording",
    "clean_label",
    "estimate_sfreq",
    "is_trigger_label",
    "movie_to_sample",
    "select_electrodes",
    "shaft_and_contact",
]

#: Sampling rates found in the release (sub_9 runs at ~1024 Hz, every other session at 2048 Hz).
KNOWN_SFREQS = (1024.0, 2048.0)
_SFREQ_TOLERANCE = 0.03
_H5_RE = re.compile(r"^sub_(\d+)_trial(\d+)\.h5$")
_CONTACT_RE = re.compile(r"^(.*?)(\d+)$")


# --------------------------------------------------------------------------------------------
# Labels
# --------------------------------------------------------------------------------------------
def clean_label(raw: str) -> str:
    """Remove the marker characters ``*`` and ``#`` and surrounding whitespace from a label.

    ``"F1*0Fa5"`` becomes ``"F10Fa5"``, ``"RT2aA11#"`` becomes ``"RT2aA11"``. Underscores are
    kept (Neuroprobe's rule), so that labels stay unique.

    Parameters
    ----------
    raw : str
        An electrode label as stored in ``electrode_labels.json`` or ``corrupted_elec.json``.

    Returns
    -------
    str
        The cleaned label.

    Raises
    ------
    TypeError
        If ``raw`` is not a string.
    """
    if not isinstance(raw, str):
        raise TypeError(f"electrode label must be a string, got {raw!r} ({type(raw).__name__})")
    return raw.replace("*", "").replace("#", "").strip()


def shaft_and_contact(label: str) -> tuple[str, int]:
    """Split a (cleaned) label into its shaft and its 1-based contact number.

    The shaft is the label minus its trailing integer: ``"F10Fa13"`` -> ``("F10Fa", 13)``.

    Parameters
    ----------
    label : str
        An electrode label, raw or cleaned (it is cleaned first, :func:`clean_label`).

    Returns
    -------
    shaft : str
        The shaft name: the cleaned label without its trailing integer.
    contact : int
        The contact number on the shaft (1-based, the trailing integer).

    Raises
    ------
    ValueError
        If the label does not end in an integer or has nothing before it.
    """
    cleaned = clean_label(label)
    match = _CONTACT_RE.match(cleaned)
    if match is None or not match.group(1):
        raise ValueError(
            f"electrode label {label!r} has no shaft name followed by a trailing contact number "
            "(expected e.g. 'T1aIb4'); it cannot be placed on a shaft"
        )
    return match.group(1), int(match.group(2))


def is_trigger_label(label: str) -> bool:
    """Tell a non-neural (trigger or DC) channel from a neural one by its label.

    Parameters
    ----------
    label : str
        An electrode label, raw or cleaned.

    Returns
    -------
    bool
        True when the cleaned, upper-cased label starts with ``DC`` or ``TRIG``.
    """
    upper = clean_label(label).upper()
    return upper.startswith("DC") or upper.startswith("TRIG")


def select_electrodes(
    labels: Sequence[str], corrupted, rereference: str | None = "laplacian"
) -> tuple[list[str], dict[str, tuple[str, ...]]]:
    """Choose the electrodes that enter the analysis.

    Trigger/DC channels and corrupted channels are dropped. What else depends on the
    re-reference the selection is for:

    * ``"none"`` (or None) and ``"car"`` keep every clean channel (the common average is
      taken over the clean channels that are analysed, so it needs no neighbours);
    * ``"laplacian"`` keeps only electrodes whose two shaft neighbours (contact - 1 and
      contact + 1) are both clean: the BrainBERT/PopT ``get_clean_laplacian_electrodes`` rule;
    * ``"bipolar"`` keeps only electrodes whose next contact on the shaft (contact + 1) is
      clean. The pair keeps the label of its lower contact: ``"A3"`` stands for ``A3 - A4``
      (the last contact of a shaft has no partner and is dropped).

    Laplacian and bipolar place every channel on its shaft by its label
    (:func:`shaft_and_contact`): a clean label without a trailing contact number (a scalp or
    bipolar-montage name such as ``"Fp1-REF"``, or ``"EKG"``) makes the montage unusable for
    them, and is an error rather than a silent drop.

    Parameters
    ----------
    labels : sequence of str, length n_channels
        Every label of the subject (raw or cleaned), in h5 channel order.
    corrupted : iterable of str
        Labels of corrupted channels (raw or cleaned).
    rereference : {"laplacian", "bipolar", "car", "none", None}
        Re-referencing scheme the selection is for.

    Returns
    -------
    kept : list of str
        Cleaned labels of the kept electrodes, in channel order.
    neighbours : dict of str to tuple of str
        The channels each kept label is referenced to: for Laplacian, label -> (label of
        contact - 1, label of contact + 1); for bipolar, label -> (label of contact + 1,);
        empty for ``"car"`` and ``"none"``.

    Raises
    ------
    ValueError
        If the labels are not unique after cleaning, ``rereference`` is unknown, or (Laplacian
        and bipolar) a clean label has no trailing contact number: the message names the
        labels and says to use ``rereference: car`` or ``none``.
    """
    cleaned = [clean_label(label) for label in labels]
    duplicates = sorted({label for label in cleaned if cleaned.count(label) > 1})
    if duplicates:
        raise ValueError(
            f"electrode labels are not unique after cleaning: {duplicates}; "
            "a channel cannot be addressed by its label"
        )
    bad = {clean_label(label) for label in corrupted}
    clean = [label for label in cleaned if not is_trigger_label(label) and label not in bad]
    if rereference in (None, "none", "car"):
        logger.info("selected %d of %d channels (%s)", len(clean), len(cleaned), rereference or "none")
        return clean, {}
    if rereference not in ("laplacian", "bipolar"):
        raise ValueError(f"rereference must be 'laplacian', 'bipolar', 'car' or 'none', got {rereference!r}")
    positions = _shaft_positions(clean, rereference)
    by_position = {position: label for label, position in zip(clean, positions)}
    kept, neighbours = [], {}
    for label, (shaft, contact) in zip(clean, positions):
        upper = by_position.get((shaft, contact + 1))
        if rereference == "bipolar":
            if upper is not None:
                kept.append(label)
                neighbours[label] = (upper,)
            continue
        lower = by_position.get((shaft, contact - 1))
        if lower is not None and upper is not None:
            kept.append(label)
            neighbours[label] = (lower, upper)
    logger.info(
        "selected %d of %d channels (%d clean, %s)",
        len(kept),
        len(cleaned),
        len(clean),
        "Laplacian needs both shaft neighbours"
        if rereference == "laplacian"
        else "bipolar needs the next contact",
    )
    return kept, neighbours


def _shaft_positions(clean: Sequence[str], rereference: str) -> list[tuple[str, int]]:
    """(shaft, contact) of every clean label; a ValueError naming those that have none."""
    positions, unparsable = [], []
    for label in clean:
        try:
            positions.append(shaft_and_contact(label))
        except ValueError:
            unparsable.append(label)
    if unparsable:
        raise ValueError(
            f"rereference={rereference!r} needs every clean channel's shaft and contact number, but "
            f"{len(unparsable)} label(s) have no trailing contact number: {unparsable[:10]}"
            f"{' ...' if len(unparsable) > 10 else ''}; this montage cannot be re-referenced along "
            "shafts: use rereference: car or none (or mark those channels corrupted)"
        )
    return positions


# --------------------------------------------------------------------------------------------
# Timing
# --------------------------------------------------------------------------------------------
def _timing_arrays(timings: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    missing = [c for c in ("movie_time", "index") if c not in timings.columns]
    if missing:
        raise ValueError(
            f"timings table lacks column(s) {missing}; it needs 'movie_time' (s) and 'index' "
            "(neural sample); read it with BrainTreebank.timings()"
        )
    movie_time = timings["movie_time"].to_numpy(dtype=np.float64)
    index = timings["index"].to_numpy(dtype=np.float64)
    if len(movie_time) < 2:
        raise ValueError(f"timings table has {len(movie_time)} trigger row(s); at least 2 needed")
    return movie_time, index


def estimate_sfreq(timings: pd.DataFrame) -> float:
    """Estimate the neural sampling rate of a session from its trigger table.

    The median of Δindex / Δmovie_time over consecutive triggers with Δmovie_time > 0.01 s
    (pauses, where movie time stands still, are skipped), snapped to 1024 or 2048 Hz.

    Parameters
    ----------
    timings : DataFrame
        Columns ``movie_time`` (s) and ``index`` (samples), as from ``BrainTreebank.timings``.

    Returns
    -------
    sfreq : float
        1024.0 or 2048.0 (Hz).
    """
    movie_time, index = _timing_arrays(timings)
    d_time, d_index = np.diff(movie_time), np.diff(index)
    moving = d_time > 0.01
    if not moving.any():
        raise ValueError(
            "cannot estimate the sampling rate: no two consecutive triggers are more than "
            "10 ms of movie time apart"
        )
    rate = float(np.median(d_index[moving] / d_time[moving]))
    for known in KNOWN_SFREQS:
        if abs(rate - known) <= _SFREQ_TOLERANCE * known:
            return known
    raise ValueError(
        f"the trigger table gives a sampling rate of {rate:.1f} Hz, not within "
        f"{_SFREQ_TOLERANCE:.0%} of any known rate {KNOWN_SFREQS}; check the timings file or "
        "pass sfreq explicitly"
    )


def _nearest_trigger(movie_time: np.ndarray, times: np.ndarray, index: np.ndarray) -> np.ndarray:
    """Index of the nearest trigger for each time.

    Where several triggers share one movie time (a pause trigger and its resume trigger), a
    time after it takes the copy of the latest sample ``index`` (the resume) and a time at or
    before it the first copy (the pause): an event shown after the movie resumed never maps
    into the pause.
    """
    if np.all(np.diff(movie_time) >= 0):
        right = np.searchsorted(movie_time, times, side="left").clip(1, len(movie_time) - 1)
        # right - 1 is the last trigger strictly before t: the last copy of its movie time
        left = right - 1
        take_left = np.abs(times - movie_time[left]) <= np.abs(movie_time[right] - times)
        return np.where(take_left, left, right)
    logger.warning("trigger movie times are not sorted: using a brute-force nearest search")
    out = np.empty(len(times), dtype=np.int64)
    for start in range(0, len(times), 256):
        block = times[start : start + 256]
        nearest = np.argmin(np.abs(movie_time[None, :] - block[:, None]), axis=1)
        for row, (k, t) in enumerate(zip(nearest, block)):
            # after a repeated movie time: the copy sent last (the resume); else the first
            copies = np.flatnonzero(movie_time == movie_time[k])
            pick = np.argmax if movie_time[k] < t else np.argmin
            nearest[row] = copies[pick(index[copies])]
        out[start : start + 256] = nearest
    return out


def movie_to_sample(movie_times, timings: pd.DataFrame, sfreq: float) -> np.ndarray:
    """Map movie times to neural sample indices with the nearest trigger.

    For each time t the trigger k minimising ``|movie_time_k - t|`` is found (as the official
    quickstart and PopT do) and the sample is ``round(index_k + (t - movie_time_k) * sfreq)``.
    The movie was paused during recording, so no single linear fit is valid. Where a pause
    trigger and its resume trigger share one movie time, a time after it is measured from the
    resume (the official ``argmin`` takes the first copy, the pause, and so maps an event shown
    just after the resume into the pause); a time at or before it from the pause. This is the
    one alignment function of the project.

    Parameters
    ----------
    movie_times : array-like of float, shape (n_times,)
        Movie times (s).
    timings : DataFrame
        Trigger table with ``movie_time`` (s) and ``index`` (samples).
    sfreq : float
        Sampling rate (Hz), e.g. from :func:`estimate_sfreq`.

    Returns
    -------
    samples : ndarray of float64, shape (n_times,)
        Neural sample indices (whole numbers), NaN for times outside
        [first trigger, last trigger] and for NaN times.
    """
    movie_time, index = _timing_arrays(timings)
    times = np.atleast_1d(np.asarray(movie_times, dtype=np.float64))
    out = np.full(times.shape, np.nan)
    inside = np.isfinite(times) & (times >= movie_time.min()) & (times <= movie_time.max())
    k = _nearest_trigger(movie_time, times[inside], index)
    out[inside] = np.round(index[k] + (times[inside] - movie_time[k]) * sfreq)
    return out


# --------------------------------------------------------------------------------------------
# Signals
# --------------------------------------------------------------------------------------------
class Recording:
    """One session's h5 file, opened read-only; a context manager.

    Parameters
    ----------
    path : path-like
        The ``sub_<N>_trial<XXX>.h5`` file.
    labels : sequence of str, length n_channels
        The subject's electrode labels (raw or cleaned) in channel order; label i is
        dataset ``data/electrode_i``.
    sfreq : float
        Sampling rate (Hz).
    labels_source : path-like, optional
        Where ``labels`` were read from, named in the error when they disagree with the file.

    Attributes
    ----------
    labels : list of str
        Cleaned label per channel index.
    n_samples : int
        Length of every channel (samples).
    sfreq : float
        Sampling rate (Hz).
    """

    def __init__(self, path, labels: Sequence[str], sfreq: float, labels_source=None):
        self.path = Path(path)
        self.labels_source = labels_source
        self.labels = [clean_label(label) for label in labels]
        self.sfreq = float(sfreq)
        if not self.sfreq > 0:
            raise ValueError(f"{self.path}: sampling rate must be positive, got {sfreq!r}")
        if not self.path.is_file():
            raise FileNotFoundError(f"no recording file at {self.path}")
        try:
            self._file = h5py.File(self.path, "r")
        except OSError as err:
            raise OSError(f"{self.path} is not a readable HDF5 file: {err}") from err
        try:
            self._datasets = self._validate()
        except Exception:
            self._file.close()
            raise
        self._index = {}
        for i, label in enumerate(self.labels):
            self._index.setdefault(label, []).append(i)

    def _validate(self) -> list:
        group = self._file.get("data")
        if not isinstance(group, h5py.Group):
            raise ValueError(f"{self.path} has no group 'data' (expected data/electrode_0..K-1)")
        n_labels = len(self.labels)
        n_channels = sum(1 for key in group if re.fullmatch(r"electrode_\d+", key))
        expected = {f"electrode_{i}" for i in range(n_channels)}
        if not expected <= set(group):
            missing = sorted(expected - set(group), key=lambda k: int(k.split("_")[1]))
            raise ValueError(f"{self.path}: datasets {missing[:5]} missing from group 'data'")
        if n_channels == n_labels + 1:
            # sub_1 quirk: one trailing channel beyond the label list; the dataset authors say
            # it is to be ignored.
            logger.info("%s: ignoring the extra channel electrode_%d (no label)", self.path, n_labels)
        elif n_channels != n_labels:
            source = f" {self.labels_source}" if self.labels_source is not None else ""
            raise ValueError(
                f"{self.path} holds {n_channels} channels (data/electrode_*) but the label list"
                f"{source} has {n_labels} labels; they must agree (one extra channel is tolerated)"
            )
        datasets = [group[f"electrode_{i}"] for i in range(n_labels)]
        lengths = {ds.shape for ds in datasets}
        if len(lengths) != 1 or len(next(iter(lengths))) != 1:
            raise ValueError(
                f"{self.path}: channels must be 1-D datasets of equal length, found shapes "
                f"{sorted(lengths)[:4]}"
            )
        return datasets

    @property
    def n_samples(self) -> int:
        """Length of every channel of the recording.

        Returns
        -------
        int
            Number of samples of each channel; 0 when the file holds no labelled channel.
        """
        return int(self._datasets[0].shape[0]) if self._datasets else 0

    def channel_index(self, label: str) -> int:
        """Find the channel of an electrode label.

        Parameters
        ----------
        label : str
            The electrode label, raw or cleaned.

        Returns
        -------
        int
            Its channel index: ``i`` of the h5 dataset ``data/electrode_i``.

        Raises
        ------
        KeyError
            If the label is not in the label list, or appears in it more than once.
        """
        found = self._index.get(clean_label(label), [])
        if len(found) != 1:
            what = "is not in" if not found else "appears more than once in"
            raise KeyError(f"electrode {label!r} {what} the label list of {self.path}")
        return found[0]

    def read(
        self, channels: Sequence[int], start: int, stop: int, *, allow_nonfinite: bool = False
    ) -> np.ndarray:
        """Read samples ``start:stop`` of the given channels.

        Parameters
        ----------
        channels : sequence of int
            Channel indices (positions in the label list).
        start, stop : int
            Sample range, 0 <= start <= stop <= n_samples.
        allow_nonfinite : bool
            Return NaN and inf samples as they are (the caller excludes what they touch)
            instead of raising.

        Returns
        -------
        data : ndarray of float32, shape (n_channels, stop - start)
            Voltage (µV).

        Raises
        ------
        ValueError
            If the range is outside the recording, or the signal holds NaN or inf (unless
            ``allow_nonfinite``).
        """
        start, stop = int(start), int(stop)
        if not 0 <= start <= stop <= self.n_samples:
            raise ValueError(
                f"{self.path}: sample range [{start}, {stop}) is outside the recording [0, {self.n_samples})"
            )
        out = np.empty((len(channels), stop - start), dtype=np.float32)
        for row, channel in enumerate(channels):
            if not 0 <= channel < len(self._datasets):
                raise IndexError(f"{self.path}: channel {channel} not in 0..{len(self._datasets) - 1}")
            if stop > start:
                self._datasets[channel].read_direct(out[row], np.s_[start:stop])
        if not allow_nonfinite:

            def name(row: int) -> str:
                return f"electrode {self.labels[channels[row]]!r} (electrode_{channels[row]})"

            require_finite(out, start, self.path, name, "mark the electrode corrupted to skip it")
        return out

    def close(self) -> None:
        """Close the h5 file; reading afterwards fails."""
        self._file.close()

    def __enter__(self) -> Recording:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"Recording({str(self.path)!r}, {len(self.labels)} channels, "
            f"{self.n_samples} samples at {self.sfreq:g} Hz)"
        )


# --------------------------------------------------------------------------------------------
# Dataset root
# --------------------------------------------------------------------------------------------
def require_finite(data: np.ndarray, start: int, source, name: Callable[[int], str], remedy: str) -> None:
    """Raise at the first NaN or inf of a block of samples, naming the channel and the sample.

    Parameters
    ----------
    data : ndarray, shape (n_channels, n_times)
        Samples read from ``source``.
    start : int
        Sample index of ``data``'s first column in the recording.
    source : path-like
        The file, named in the message.
    name : callable
        ``name(row)``: how a row is named in the message (called only on a fault, so the
        hot path builds no strings).
    remedy : str
        What to do, appended to the message.

    Raises
    ------
    ValueError
        If ``data`` holds NaN or ±inf.
    """
    # one summing pass finds NaN/inf (they make the float64 sum non-finite) without a mask
    if not np.isfinite(data.sum(dtype=np.float64)):
        row, col = np.argwhere(~np.isfinite(data))[0]
        raise ValueError(
            f"{source}: {name(int(row))} holds {data[row, col]} at sample {start + col}; the signal must be "
            f"finite ({remedy})"
        )


def index_by_electrode(table: pd.DataFrame, source) -> pd.DataFrame:
    """A per-electrode table indexed by its ``Electrode`` column, one row per electrode.

    Parameters
    ----------
    table : pandas.DataFrame
        With an ``Electrode`` column of cleaned labels.
    source : path-like
        The file it came from, named in the warning.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``Electrode``; where a label repeats, its first row is kept (with a warning).
    """
    duplicated = table["Electrode"].duplicated()
    if duplicated.any():
        logger.warning(
            "%s: electrodes %s appear more than once; keeping the first row",
            source,
            sorted(set(table.loc[duplicated, "Electrode"])),
        )
        table = table.loc[~duplicated]
    return table.set_index("Electrode")


def _read_csv(path: Path, what: str, **kwargs) -> pd.DataFrame:
    """``pandas.read_csv`` with one error that names the file when it cannot be parsed."""
    try:
        return pd.read_csv(path, **kwargs)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as err:
        raise ValueError(f"{path} ({what}) cannot be read as CSV: {err}") from err


def _read_json(path: Path, what: str):
    if not path.is_file():
        raise FileNotFoundError(f"no {what} at {path}")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path} ({what}) is not valid JSON: {err}") from err


class BrainTreebank:
    """A Brain Treebank dataset root (the real release or a synthetic copy of its layout).

    Parameters
    ----------
    root : path-like
        Folder holding ``electrode_labels/``, ``subject_timings/``, ... and the h5 files
        (in ``all_subject_data/`` or directly in the root).
    """

    def __init__(self, root):
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(f"Brain Treebank root {self.root} is not a folder")

    def __repr__(self) -> str:
        return f"BrainTreebank({str(self.root)!r})"

    # -- files ------------------------------------------------------------------------------
    def _h5_files(self) -> dict[tuple[int, int], Path]:
        found: dict[tuple[int, int], Path] = {}
        for folder in (self.root / "all_subject_data", self.root):
            if not folder.is_dir():
                continue
            for path in sorted(folder.iterdir()):
                match = _H5_RE.match(path.name)
                if match:
                    found.setdefault((int(match.group(1)), int(match.group(2))), path)
        return found

    def subjects(self) -> list[int]:
        """List the subjects with a recording.

        Returns
        -------
        list of int
            Subject numbers with at least one h5 file, sorted.
        """
        return sorted({subject for subject, _ in self._h5_files()})

    def trials(self, subject: int) -> list[int]:
        """List the trials (sessions) of one subject.

        Parameters
        ----------
        subject : int
            Subject number.

        Returns
        -------
        list of int
            Trial numbers of the subject's h5 files, sorted; empty when it has none.
        """
        return sorted(trial for s, trial in self._h5_files() if s == subject)

    def h5_path(self, subject: int, trial: int) -> Path:
        """Find the h5 file of one session, ``sub_<subject>_trial<trial:03d>.h5``.

        Looked for in ``root/all_subject_data/`` then ``root/``; a folder of that name holding
        the file (as some unzip tools leave it) is looked into.

        Parameters
        ----------
        subject : int
            Subject number.
        trial : int
            Trial number.

        Returns
        -------
        pathlib.Path
            The h5 file.

        Raises
        ------
        FileNotFoundError
            If no such file exists in either place.
        """
        name = f"sub_{subject}_trial{trial:03d}.h5"
        tried = []
        for folder in (self.root / "all_subject_data", self.root):
            candidate = folder / name
            if candidate.is_dir():
                candidate = candidate / name
            tried.append(str(candidate))
            if candidate.is_file():
                return candidate
        raise FileNotFoundError(f"no recording {name} for subject {subject}; looked at {tried}")

    # -- electrodes -------------------------------------------------------------------------
    def _labels_path(self, subject: int) -> Path:
        return self.root / "electrode_labels" / f"sub_{subject}" / "electrode_labels.json"

    def raw_labels(self, subject: int) -> list[str]:
        """Read a subject's electrode labels as stored (``electrode_labels.json``).

        Parameters
        ----------
        subject : int
            Subject number.

        Returns
        -------
        list of str
            The raw labels in channel order: label ``i`` is h5 dataset ``data/electrode_i``.

        Raises
        ------
        FileNotFoundError
            If the label file is missing.
        ValueError
            If it is not a JSON list of strings.
        """
        path = self._labels_path(subject)
        labels = _read_json(path, f"electrode label list of subject {subject}")
        if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
            raise ValueError(f"{path} must hold a JSON list of label strings")
        return labels

    def labels(self, subject: int) -> list[str]:
        """Read a subject's electrode labels, cleaned (:func:`clean_label`).

        Parameters
        ----------
        subject : int
            Subject number.

        Returns
        -------
        list of str
            The cleaned labels in channel order.
        """
        return [clean_label(label) for label in self.raw_labels(subject)]

    def corrupted(self, subject: int) -> set[str]:
        """Read the corrupted electrodes of a subject from ``corrupted_elec.json``.

        A missing file gives a warning and an empty set; a missing key an empty set.

        Parameters
        ----------
        subject : int
            Subject number.

        Returns
        -------
        set of str
            Cleaned labels listed for ``sub_<subject>``.

        Raises
        ------
        ValueError
            If the file is not a JSON object of label lists.
        """
        path = self.root / "corrupted_elec.json"
        if not path.is_file():
            logger.warning("no %s: no electrode is treated as corrupted", path)
            return set()
        table = _read_json(path, "corrupted electrode list")
        if not isinstance(table, dict):
            raise ValueError(f"{path} must hold a JSON object {{'sub_N': [labels]}}")
        entries = table.get(f"sub_{subject}", [])
        if not isinstance(entries, list):
            raise ValueError(f"{path}: entry 'sub_{subject}' must be a list of labels")
        return {clean_label(label) for label in entries}

    def localization(self, subject: int) -> pd.DataFrame:
        """Read a subject's localization table, ``localization/sub_<s>/depth-wm.csv``.

        Parameters
        ----------
        subject : int
            Subject number.

        Returns
        -------
        pandas.DataFrame
            Indexed by cleaned ``Electrode`` (the first row kept where a label repeats, with a
            warning), all columns kept: among them ``L, P, I`` (native-space mm),
            ``DesikanKilliany``, ``Destrieux``, ``Hemisphere``. Row order is not channel
            order: join on the index.

        Raises
        ------
        FileNotFoundError
            If the table is missing.
        ValueError
            If it has no ``Electrode`` column.
        """
        path = self.root / "localization" / f"sub_{subject}" / "depth-wm.csv"
        if not path.is_file():
            raise FileNotFoundError(f"no localization table for subject {subject} at {path}")
        table = _read_csv(path, "localization table")
        if "Electrode" not in table.columns:
            raise ValueError(f"{path} has no 'Electrode' column (columns: {list(table.columns)})")
        table["Electrode"] = table["Electrode"].astype(str).map(clean_label)
        return index_by_electrode(table, path)

    def coordinate_space(self, subject: int) -> str:
        """The coordinate system of :meth:`mni_coordinates` (as ``BidsIEEG.coordinate_space``).

        Parameters
        ----------
        subject : int
            Subject number (every subject shares the release's space).

        Returns
        -------
        str
            ``"MNI"``: the release's ``elec_coords_full.csv`` is in MNI space.
        """
        return "MNI"

    def mni_coordinates(self, subject: int) -> pd.DataFrame:
        """Read a subject's atlas-space electrode coordinates (``localization/elec_coords_full.csv``).

        Parameters
        ----------
        subject : int
            Subject number; rows of other subjects are left out.

        Returns
        -------
        coords : DataFrame indexed by cleaned electrode label
            ``X, Y, Z`` (mm, the dataset's cortical-projection / atlas coordinates; NaN where a
            value is not a finite number), plus ``Hemisphere`` and ``Region`` when present. Empty
            (with a warning) when the file is absent; rows of other subjects are left out.

        Raises
        ------
        ValueError
            If the table lacks ``X, Y, Z``, or both ``Subject``/``Electrode`` and ``ID``.
        """
        path = self.root / "localization" / "elec_coords_full.csv"
        if not path.is_file():
            logger.warning("no %s: electrodes of subject %d have no atlas coordinates", path, subject)
            return pd.DataFrame(columns=["X", "Y", "Z"]).rename_axis("Electrode")
        table = _read_csv(path, "electrode coordinates")
        lacking = [c for c in ("X", "Y", "Z") if c not in table.columns]
        if lacking:
            raise ValueError(
                f"{path} lacks the coordinate columns {lacking} (columns: {list(table.columns)})"
            )
        if "Subject" in table.columns and "Electrode" in table.columns:
            mine = table["Subject"].astype(str) == f"sub_{subject}"
            labels = table["Electrode"]
        elif "ID" in table.columns:
            # IDs look like "sub_1-F3aOFa2": subject, then the label.
            parts = table["ID"].astype(str).str.split("-", n=1, expand=True)
            mine = parts[0] == f"sub_{subject}"
            labels = parts[1]
        else:
            raise ValueError(
                f"{path} needs 'Subject' and 'Electrode' columns or an 'ID' column "
                f"(columns: {list(table.columns)})"
            )
        table = table.loc[mine].copy()
        table["Electrode"] = labels.loc[mine].astype(str).map(clean_label)
        for col in ("X", "Y", "Z"):
            values = pd.to_numeric(table[col], errors="coerce")
            table[col] = values.where(np.isfinite(values))
        table = table.drop_duplicates("Electrode")
        keep = [c for c in ("Electrode", "X", "Y", "Z", "Hemisphere", "Region") if c in table.columns]
        return table[keep].set_index("Electrode")

    # -- session tables ---------------------------------------------------------------------
    def timings(self, subject: int, trial: int) -> pd.DataFrame:
        """Read a session's trigger table, validated.

        Parameters
        ----------
        subject : int
            Subject number.
        trial : int
            Trial number.

        Returns
        -------
        DataFrame
            All columns of ``subject_timings/sub_<s>_trial<t>_timings.csv``; ``movie_time``
            (s, float) and ``index`` (sample, float) numeric and complete, ``index``
            non-decreasing. Rows with NaN in either are dropped (and counted in the log).

        Raises
        ------
        FileNotFoundError
            If the table is missing.
        ValueError
            If ``movie_time`` or ``index`` is missing or not numeric, fewer than 2 rows are
            usable, or ``index`` decreases.
        """
        path = self.root / "subject_timings" / f"sub_{subject}_trial{trial:03d}_timings.csv"
        if not path.is_file():
            raise FileNotFoundError(f"no trigger table for subject {subject} trial {trial} at {path}")
        table = _read_csv(path, "trigger table")
        missing = [c for c in ("movie_time", "index") if c not in table.columns]
        if missing:
            raise ValueError(f"{path} lacks column(s) {missing} (columns: {list(table.columns)})")
        for column in ("movie_time", "index"):
            numeric = pd.to_numeric(table[column], errors="coerce")
            bad = numeric.isna() & table[column].notna()
            if bad.any():
                row = int(np.flatnonzero(bad.to_numpy())[0])
                raise ValueError(
                    f"{path}: column {column!r} is not numeric at data row {row} "
                    f"(line {row + 2}): {table[column].iloc[row]!r}"
                )
            table[column] = numeric.astype(np.float64)
        incomplete = table[["movie_time", "index"]].isna().any(axis=1)
        if incomplete.any():
            logger.warning("%s: dropped %d row(s) with NaN movie_time or index", path, int(incomplete.sum()))
            table = table.loc[~incomplete].reset_index(drop=True)
        if len(table) < 2:
            raise ValueError(f"{path}: fewer than 2 usable trigger rows")
        steps = np.diff(table["index"].to_numpy())
        if (steps < 0).any():
            row = int(np.flatnonzero(steps < 0)[0]) + 1
            raise ValueError(
                f"{path}: 'index' decreases at data row {row} (line {row + 2}): "
                f"{table['index'].iloc[row - 1]:g} -> {table['index'].iloc[row]:g}; trigger "
                "sample indices must be non-decreasing"
            )
        return table

    def metadata(self, subject: int, trial: int) -> dict:
        """Read a session's metadata, ``subject_metadata/sub_<s>_trial<t>_metadata.json``.

        Parameters
        ----------
        subject : int
            Subject number.
        trial : int
            Trial number.

        Returns
        -------
        dict
            The JSON object (``filename``: the movie id, ``title``, ...).

        Raises
        ------
        FileNotFoundError
            If the file is missing.
        ValueError
            If it does not hold a JSON object.
        """
        path = self.root / "subject_metadata" / f"sub_{subject}_trial{trial:03d}_metadata.json"
        meta = _read_json(path, f"metadata of subject {subject} trial {trial}")
        if not isinstance(meta, dict):
            raise ValueError(f"{path} must hold a JSON object")
        return meta

    def movie_id(self, subject: int, trial: int) -> str:
        """Name the movie a session shows.

        Parameters
        ----------
        subject : int
            Subject number.
        trial : int
            Trial number.

        Returns
        -------
        str
            The movie id: the metadata's ``filename``, also the ``transcripts/`` folder name.

        Raises
        ------
        ValueError
            If the metadata has no non-empty ``filename``.
        """
        meta = self.metadata(subject, trial)
        movie = meta.get("filename")
        if not isinstance(movie, str) or not movie:
            raise ValueError(
                f"metadata of subject {subject} trial {trial} has no 'filename' (the movie id); "
                f"keys: {sorted(meta)}"
            )
        return movie

    def transcript(self, movie: str) -> pd.DataFrame:
        """Read the word table of a movie, ``transcripts/<movie>/features.csv``.

        Parameters
        ----------
        movie : str
            Movie id (:meth:`movie_id`).

        Returns
        -------
        pandas.DataFrame
            One row per timed word, every column of the file; the unnamed first column is the
            index. Rows whose ``start`` (s of movie time) is NaN or infinite (word particles)
            are dropped and counted in the log; NaN and ±inf in other columns are kept.

        Raises
        ------
        FileNotFoundError
            If the table is missing.
        ValueError
            If it has no ``start`` column or a non-numeric ``start``.
        """
        path = self.root / "transcripts" / movie / "features.csv"
        if not path.is_file():
            raise FileNotFoundError(f"no transcript for movie {movie!r}: {path} does not exist")
        table = _read_csv(path, "transcript", index_col=0)
        if "start" not in table.columns:
            raise ValueError(f"{path} has no 'start' column (columns: {list(table.columns)[:12]})")
        start = pd.to_numeric(table["start"], errors="coerce")
        if (start.isna() & table["start"].notna()).any():
            row = int(np.flatnonzero((start.isna() & table["start"].notna()).to_numpy())[0])
            raise ValueError(
                f"{path}: 'start' is not numeric at data row {row}: {table['start'].iloc[row]!r}"
            )
        table["start"] = start
        unusable = ~np.isfinite(start.to_numpy(dtype=np.float64))
        if unusable.any():
            logger.info("%s: dropped %d word(s) without a finite start time", path, int(unusable.sum()))
            table = table.loc[~unusable]
        return table

    # -- signals ----------------------------------------------------------------------------
    def open_recording(self, subject: int, trial: int, sfreq: float | None = None) -> Recording:
        """Open a session's signal for reading.

        Parameters
        ----------
        subject : int
            Subject number.
        trial : int
            Trial number.
        sfreq : float, optional
            Sampling rate (Hz); by default :func:`estimate_sfreq` of the session's trigger table.

        Returns
        -------
        Recording
            The open recording, labelled with the subject's labels; close it (or use it as a
            context manager).
        """
        if sfreq is None:
            sfreq = self.sfreq(subject, trial)
        labels = self.raw_labels(subject)
        source = self._labels_path(subject)
        return Recording(self.h5_path(subject, trial), labels, sfreq, labels_source=source)

    def sfreq(self, subject: int, trial: int) -> float:
        """The sampling rate of one session, from its trigger table (:func:`estimate_sfreq`).

        Parameters
        ----------
        subject : int
            Subject number.
        trial : int
            Trial number.

        Returns
        -------
        float
            Sampling rate (Hz): 1024.0 or 2048.0.
        """
        return estimate_sfreq(self.timings(subject, trial))

    def recording_files(self, subject: int, trial: int) -> list[Path]:
        """Every file a session's signal is read from (what a cached result depends on).

        Parameters
        ----------
        subject : int
            Subject number.
        trial : int
            Trial number.

        Returns
        -------
        list of pathlib.Path
            The session's h5 file (:meth:`h5_path`).
        """
        return [self.h5_path(subject, trial)]

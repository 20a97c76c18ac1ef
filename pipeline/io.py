"""Reading and writing the pipeline's files: the one way to write outputs atomically.

Every output goes through :func:`atomic_path`: it is written under a temporary name in the same
folder and renamed into place only when complete, so an interrupted run leaves nothing half
written and a rerun can trust any file that exists. The readers here check the file contracts of
docs/architecture.md and say which file and which field is wrong.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import socket
import uuid
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import h5py
import numpy as np
import pandas as pd

from mmsites.constants import EVENT_COLUMNS

log = logging.getLogger(__name__)

SCORE_COLUMNS = ("electrode", "bin", "time_s", "test_r", "val_r", "alpha")


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary sibling of ``path``; rename it onto ``path`` when the block succeeds.

    Works for files and for directories (the block creates whichever it needs). On an exception
    the temporary is removed and ``path`` is left as it was.

    Parameters
    ----------
    path : str or Path
        The final file or directory; its folder is created when missing.

    Yields
    ------
    Path
        A hidden temporary path in the same folder (``.<name>.tmp-<pid>-<random>-<host>``) for the block
        to write.

    Raises
    ------
    RuntimeError
        If the block wrote nothing at the temporary path.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temporary(path, "tmp")
    try:
        yield tmp
        if not tmp.exists():
            raise RuntimeError(f"nothing was written for {path}")
        if tmp.is_dir() and path.exists():
            # Directories cannot be replaced in one rename: move the old one aside first.
            old = _temporary(path, "old")
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    finally:
        if tmp.exists():
            if tmp.is_dir():
                shutil.rmtree(tmp, ignore_errors=True)
            else:
                tmp.unlink()


def _temporary(path: Path, role: str) -> Path:
    # The writer's pid and host are in the name so that a later run can tell a temporary left
    # by a killed process (sweep_stale_temporaries) from one another process is still writing.
    return path.with_name(f".{path.name}.{role}-{os.getpid()}-{uuid.uuid4().hex[:8]}-{socket.gethostname()}")


_TEMPORARY = re.compile(r"^\..+\.(?:tmp|old)-(?P<pid>\d+)-[0-9a-f]{8}-(?P<host>.+)$")


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def sweep_stale_temporaries(folder: str | Path) -> list[Path]:
    """Delete the temporaries of :func:`atomic_path` whose writer was killed.

    A process killed inside :func:`atomic_path` (SIGKILL, out of memory, a cluster's time limit)
    cannot remove its temporary, which may be as large as the output (a frame cache, a
    responses file). A temporary is deleted when it was written on this host by a process that
    no longer exists; one of another host (a shared cluster filesystem) or of a live process is
    left alone.

    Parameters
    ----------
    folder : str or Path
        Searched recursively (symbolic links are not followed); a missing folder is skipped.

    Returns
    -------
    list of Path
        The temporaries deleted (each logged as a warning).
    """
    host, removed = socket.gethostname(), []
    for parent, dirs, files in os.walk(folder):
        for name in [*dirs, *files]:
            match = _TEMPORARY.match(name)
            if not match or match["host"] != host or _process_exists(int(match["pid"])):
                continue
            stale = Path(parent) / name
            if name in dirs:
                dirs.remove(name)  # not walked into
                shutil.rmtree(stale, ignore_errors=True)
            else:
                stale.unlink(missing_ok=True)
            log.warning("removed %s, left by a process that was killed while writing it", stale)
            removed.append(stale)
    return removed


def write_parquet(df: pd.DataFrame, path: str | Path) -> Path:
    """Write a table to a parquet file atomically, without its index.

    Parameters
    ----------
    df : DataFrame
        The table.
    path : str or Path
        Destination; its folder is created when missing.

    Returns
    -------
    Path
        ``path``, as a Path.
    """
    with atomic_path(path) as tmp:
        df.to_parquet(tmp, index=False)
    log.info("wrote %s (%d rows)", path, len(df))
    return Path(path)


def write_csv(df: pd.DataFrame, path: str | Path) -> Path:
    """Write a table to a CSV file atomically, without its index.

    Parameters
    ----------
    df : DataFrame
        The table.
    path : str or Path
        Destination; its folder is created when missing.

    Returns
    -------
    Path
        ``path``, as a Path.
    """
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False)
    log.info("wrote %s (%d rows)", path, len(df))
    return Path(path)


def write_json(obj, path: str | Path) -> Path:
    """Write an object as indented JSON with sorted keys, atomically.

    Parameters
    ----------
    obj : dict, list or scalar
        JSON-able data; numpy scalars and arrays and paths are converted, non-finite numpy
        floats become ``null``.
    path : str or Path
        Destination; its folder is created when missing.

    Returns
    -------
    Path
        ``path``, as a Path.

    Raises
    ------
    TypeError
        If ``obj`` holds a value that cannot be written to JSON.
    """
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")
    log.info("wrote %s", path)
    return Path(path)


def write_npy(array: np.ndarray, path: str | Path) -> Path:
    """Write an array to a ``.npy`` file atomically.

    Parameters
    ----------
    array : ndarray
        The array; its dtype and shape are kept.
    path : str or Path
        Destination; its folder is created when missing.

    Returns
    -------
    Path
        ``path``, as a Path.
    """
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.save(fh, array)
    log.info("wrote %s %s %s", path, array.shape, array.dtype)
    return Path(path)


def write_npz(path: str | Path, **arrays: np.ndarray) -> Path:
    """Write named arrays to an uncompressed ``.npz`` file atomically.

    Parameters
    ----------
    path : str or Path
        Destination; its folder is created when missing.
    **arrays : ndarray
        The arrays, stored under their keyword names.

    Returns
    -------
    Path
        ``path``, as a Path.
    """
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)
    log.info("wrote %s (%s)", path, ", ".join(arrays))
    return Path(path)


def write_text(text: str, path: str | Path) -> Path:
    """Write a text file atomically.

    Parameters
    ----------
    text : str
        The content.
    path : str or Path
        Destination; its folder is created when missing.

    Returns
    -------
    Path
        ``path``, as a Path.
    """
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    log.info("wrote %s", path)
    return Path(path)


def write_bytes(data: bytes, path: str | Path) -> Path:
    """Write a binary file atomically.

    Parameters
    ----------
    data : bytes
        The content.
    path : str or Path
        Destination; its folder is created when missing.

    Returns
    -------
    Path
        ``path``, as a Path.
    """
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    log.info("wrote %s", path)
    return Path(path)


def _json_default(obj):
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        return None if not np.isfinite(obj) else float(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot write {type(obj).__name__} to JSON")


# ----------------------------------------------------------------------------------------------
# Reading
@contextmanager
def reading(path: str | Path, what: str) -> Iterator[None]:
    """Turn a library's failure to parse a file into one error that names the file.

    A file that exists but cannot be parsed (truncated, overwritten, another format) makes
    numpy, h5py and pyarrow raise messages that rarely say which file or what to do; inside this
    block they become a ``ValueError`` that does both. Our own contract errors (``"<what>
    <path> ..."``) pass unchanged.

    Parameters
    ----------
    path : str or Path
        The file being read.
    what : str
        What it is, for the message (``"features file"``).

    Yields
    ------
    None
        Nothing; read the file inside the block.

    Raises
    ------
    ValueError
        When the block raises ``OSError`` (but not ``FileNotFoundError``), ``ValueError``,
        ``EOFError``, ``KeyError`` or ``zipfile.BadZipFile``.
    """
    try:
        yield
    except FileNotFoundError:
        raise
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as err:
        if str(err).startswith(f"{what} {path}"):  # our own contract checks: already clear
            raise
        raise ValueError(
            f"{what} {path} cannot be read ({type(err).__name__}: {err}); it may be truncated or "
            "overwritten: delete it and rerun the stage that writes it"
        ) from err


def load_array(path: str | Path, what: str = "array file", *, mmap_mode: str | None = None):
    """``numpy.load`` of a pipeline file, with one clear error when it cannot be read.

    Parameters
    ----------
    path : str or Path
        A ``.npy`` or ``.npz`` file.
    what : str
        What it is, for the message.
    mmap_mode : {None, "r"}
        As :func:`numpy.load` (``.npy`` only).

    Returns
    -------
    numpy.ndarray or numpy.lib.npyio.NpzFile
        The array, or the archive (read its members inside the caller's own check).

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If it cannot be parsed (:func:`reading`).
    """
    return _read_existing(path, what, lambda p: np.load(p, mmap_mode=mmap_mode))


def _read_existing(path: str | Path, what: str, read):
    """``read(path)`` inside :func:`reading`, after a clear error if ``path`` is not a file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} {path} is missing: run the stage that writes it first")
    with reading(path, what):
        return read(path)


def read_csv(path: str | Path, what: str = "table") -> pd.DataFrame:
    """Read a CSV table the pipeline wrote (:func:`write_csv`), keeping names such as ``null``.

    pandas' defaults read the strings ``null``, ``NA``, ``None`` and ``nan`` as missing, so a
    model, electrode or region with such a name would come back as NaN. Only an empty field
    (how :func:`write_csv` writes a missing value) is read as missing here.

    Parameters
    ----------
    path : str or Path
        A ``.csv`` file.
    what : str
        What it is, for the message (``"sites table"``).

    Returns
    -------
    DataFrame
        The table.

    Raises
    ------
    FileNotFoundError
        If ``path`` is missing (the stage that writes it has not run).
    ValueError
        If the table cannot be parsed (:func:`reading`).
    """
    return _read_existing(path, what, lambda p: pd.read_csv(p, keep_default_na=False, na_values=[""]))


# ----------------------------------------------------------------------------------------------
# Events
def read_events(path: str | Path) -> pd.DataFrame:
    """Read an events table and check its contract columns and order.

    Parameters
    ----------
    path : str or Path
        A ``work/events/<movie>_<alignment>.parquet`` file.

    Returns
    -------
    DataFrame
        The table, with at least the columns ``mmsites.constants.EVENT_COLUMNS``, one row per
        event in increasing ``movie_time`` (seconds).

    Raises
    ------
    FileNotFoundError
        If the file does not exist (the events stage has not run).
    ValueError
        If a contract column is missing or ``movie_time`` is not strictly increasing.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"events file {path} is missing: run the events stage first")
    with reading(path, "events file"):
        df = pd.read_parquet(path)
    missing = [c for c in EVENT_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"events file {path} lacks the columns {missing} (expected {list(EVENT_COLUMNS)})")
    times = df["movie_time"].to_numpy()
    if len(times) > 1 and np.any(np.diff(times) <= 0):
        raise ValueError(f"events file {path}: movie_time is not strictly increasing")
    return df


# ----------------------------------------------------------------------------------------------
# Responses
def write_responses(
    path: str | Path,
    *,
    responses: np.ndarray,
    electrodes: list[str],
    bin_times: np.ndarray | None,
    event_movie_time: np.ndarray,
    event_sample: np.ndarray,
    event_movie: list[str],
    sfreq: float,
    event_session: np.ndarray | None = None,
    attrs: dict | None = None,
) -> Path:
    """Write ``work/responses/sub-<s>_<alignment>.h5`` (the contract of docs/architecture.md).

    Parameters
    ----------
    path : str or Path
        Destination, ``Layout.responses(subject, alignment)``.
    responses : ndarray, float32, shape (n_events, n_electrodes, n_bins)
        Mean voltage (µV) or mean band power (µV²) in each bin window around each event;
        or (n_events, n_electrodes, n_bands, n_bins) mean power per band for the
        ``spectrogram`` kind, or (n_events, n_electrodes, hidden_dim) embeddings for the
        ``brainbert`` kind. The attribute ``kind`` says which.
    electrodes : list of str, length n_electrodes
        Cleaned electrode labels.
    bin_times : ndarray, shape (n_bins,), or None
        Bin centres in seconds from event onset; None when the third axis is not time (the
        embeddings of ``brainbert``): no ``bin_times`` dataset is written.
    event_movie_time, event_sample, event_movie : arrays of length n_events
        Onset of each event in movie seconds, in neural samples (int64), and its movie id.
    sfreq : float
        Sampling rate in Hz (of the first trial when several are pooled).
    event_session : ndarray of int, length n_events, optional
        The trial (session) number of each event; written as ``event_session`` (int64), zeros
        when not given.
    attrs : dict, optional
        Extra file attributes (the preprocessing: ``rereference``, ``notch_hz``, ...; the
        response kind: ``kind``, ``band_hz``, ``band_delay_s``); dict and list values are
        stored as JSON strings.

    Returns
    -------
    Path
        ``path``, as a Path.

    Raises
    ------
    ValueError
        If the lengths of ``electrodes``, ``bin_times``, ``event_movie_time`` or
        ``event_session`` disagree with the shape of ``responses``.
    """
    if responses.ndim not in (3, 4):
        raise ValueError(
            f"responses must be (events, electrodes, bins) or (events, electrodes, bands, bins), "
            f"got shape {responses.shape}"
        )
    n_events, n_elec, n_bins = responses.shape[0], responses.shape[1], responses.shape[-1]
    n_times = n_bins if bin_times is None else len(bin_times)
    if len(electrodes) != n_elec or n_times != n_bins or len(event_movie_time) != n_events:
        raise ValueError(
            f"responses {responses.shape} disagree with {len(electrodes)} electrodes, "
            f"{len(bin_times)} bins, {len(event_movie_time)} events"
        )
    if event_session is None:
        event_session = np.zeros(n_events, dtype=np.int64)
    if len(event_session) != n_events:
        raise ValueError(f"event_session has {len(event_session)} entries for {n_events} events")
    str_dt = h5py.string_dtype("utf-8")
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            f.create_dataset("responses", data=responses.astype(np.float32), chunks=True)
            f.create_dataset("electrodes", data=np.array(electrodes, dtype=object), dtype=str_dt)
            if bin_times is not None:
                f.create_dataset("bin_times", data=np.asarray(bin_times, dtype=np.float64))
            f.create_dataset("event_movie_time", data=np.asarray(event_movie_time, dtype=np.float64))
            f.create_dataset("event_sample", data=np.asarray(event_sample, dtype=np.int64))
            f.create_dataset("event_movie", data=np.array(list(event_movie), dtype=object), dtype=str_dt)
            f.create_dataset("event_session", data=np.asarray(event_session, dtype=np.int64))
            f.attrs["sfreq"] = float(sfreq)
            for key, value in (attrs or {}).items():
                f.attrs[key] = (
                    json.dumps(value, default=_json_default) if isinstance(value, (dict, list)) else value
                )
    log.info("wrote %s: responses of shape %s", path, responses.shape)
    return Path(path)


def read_responses(path: str | Path, *, data: bool = True) -> dict:
    """Read a responses file into a dict of arrays (keys as in :func:`write_responses`).

    Parameters
    ----------
    path : str or Path
        A ``work/responses/sub-<s>_<alignment>.h5`` file.
    data : bool
        Whether to read the (large) ``responses`` array; with False only ``shape`` and the
        event, electrode and bin tables are read.

    Returns
    -------
    dict
        ``shape`` (tuple: n_events, n_electrodes, n_bins; n_bands before n_bins for
        ``spectrogram``; hidden_dim for ``brainbert``), ``responses`` (float32 ndarray of
        that shape, µV or µV² as ``kind`` says, or None when ``data`` is False),
        ``electrodes`` (list of str), ``bin_times`` (seconds from event onset; None when the
        file has none: ``brainbert`` embeddings),
        ``event_movie_time`` (seconds),
        ``event_sample`` (int64 neural samples), ``event_movie`` (list of str),
        ``event_session`` (int64 trial of each event; zeros for files written before it
        existed), ``sfreq`` (Hz), ``kind`` (``"voltage"``, ``"band_power"``,
        ``"spectrogram"`` or ``"brainbert"``; voltage for files written before the attribute
        existed) and ``attrs`` (every file attribute).

    Raises
    ------
    FileNotFoundError
        If the file does not exist (the responses stage has not run).
    ValueError
        If a contract dataset is missing.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"responses file {path} is missing: run the responses stage first")
    with reading(path, "responses file"), h5py.File(path, "r") as f:
        for key in (
            "responses",
            "electrodes",
            "event_movie_time",
            "event_sample",
            "event_movie",
        ):
            if key not in f:
                raise ValueError(f"responses file {path} lacks the dataset {key!r}")
        if "bin_times" not in f and str(f.attrs.get("kind", "voltage")) not in ("brainbert", "popt"):
            raise ValueError(f"responses file {path} lacks the dataset 'bin_times'")
        out = {
            "shape": tuple(f["responses"].shape),
            "responses": f["responses"][()] if data else None,
            "electrodes": [s.decode() if isinstance(s, bytes) else str(s) for s in f["electrodes"][()]],
            "bin_times": f["bin_times"][()] if "bin_times" in f else None,
            "event_movie_time": f["event_movie_time"][()],
            "event_sample": f["event_sample"][()],
            "event_movie": [s.decode() if isinstance(s, bytes) else str(s) for s in f["event_movie"][()]],
            "event_session": (
                f["event_session"][()].astype(np.int64)
                if "event_session" in f
                else np.zeros(f["responses"].shape[0], dtype=np.int64)
            ),
            "sfreq": float(f.attrs["sfreq"]),
            "kind": str(f.attrs.get("kind", "voltage")),
            "attrs": {k: f.attrs[k] for k in f.attrs},
        }
    return out


# ----------------------------------------------------------------------------------------------
# Fingerprints
def file_fingerprint(paths, *, max_bytes: int = 1 << 20) -> str:
    """A short fingerprint of files: size, and the sha256 of the first and last ``max_bytes``.

    Cheap on multi-gigabyte recordings, and it changes whenever a file is replaced.

    Parameters
    ----------
    paths : iterable of str or Path
        The files, in any order (they are sorted); a missing file is fingerprinted as missing.
    max_bytes : int
        Bytes hashed at the start and at the end of each file.

    Returns
    -------
    str
        16 hexadecimal digits of a sha256 over the files' names, sizes and hashed bytes.
    """
    h = hashlib.sha256()
    for p in sorted(Path(p) for p in paths):
        h.update(str(p.name).encode())
        if not p.is_file():
            h.update(b"<missing>")
            continue
        size = p.stat().st_size
        h.update(str(size).encode())
        with open(p, "rb") as fh:
            h.update(fh.read(max_bytes))
            if size > 2 * max_bytes:
                fh.seek(size - max_bytes)
                h.update(fh.read(max_bytes))
    return h.hexdigest()[:16]


def content_key(settings: dict, files) -> str:
    """A short key of everything an output depends on: settings (JSON-able) and input files.

    Outputs store it in a ``.json`` stamp beside them; a rerun whose key is unchanged skips the
    work (:func:`is_up_to_date`), so an interrupted or extended run picks up where it stopped.

    Parameters
    ----------
    settings : dict
        Every setting that changes the output (JSON-able; other values are written with
        ``str``).
    files : iterable of str or Path
        The input files, fingerprinted by :func:`file_fingerprint`.

    Returns
    -------
    str
        16 hexadecimal digits.
    """
    blob = json.dumps({"settings": settings, "files": file_fingerprint(files)}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def is_up_to_date(output: str | Path, stamp: str | Path, key: str) -> bool:
    """Whether ``output`` exists and its ``stamp`` (a JSON file with a ``key``) carries ``key``.

    Parameters
    ----------
    output : str or Path
        The output file.
    stamp : str or Path
        Its JSON stamp (the ``.json`` beside it).
    key : str
        The current :func:`content_key` of the output.

    Returns
    -------
    bool
        True when both files exist and the stamp's ``key`` equals ``key``; False otherwise,
        also when the stamp is not a JSON object.
    """
    output, stamp = Path(output), Path(stamp)
    if not (output.is_file() and stamp.is_file()):
        return False
    try:
        return json.loads(stamp.read_text()).get("key") == key
    except (json.JSONDecodeError, AttributeError):
        return False

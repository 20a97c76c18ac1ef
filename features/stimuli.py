"""Generic stimulus tables: word timings and scene cuts from any CSV/TSV, mapped by column name.

Datasets other than the Brain Treebank ship their annotations in their own tables (a BIDS
dataset's ``stimuli/`` folder, a lab's word alignment, an ELAN export). The user names the
columns that hold each field, and these readers return the two tables the rest of the
pipeline consumes:

* **words**, shaped like the Brain Treebank's ``transcripts/<movie>/features.csv``: ``text``
  (the word), ``start`` and ``end`` (s of movie time), ``sentence`` (the sentence's full text),
  ``is_onset`` (1 on a sentence's first word) and ``idx_in_sentence`` (0-based position), plus
  every other column of the file, as it is (a decoding task may read them);
* **scene cuts**: a sorted array of cut times (s of movie time).

Sentences come from the mapped ``sentence`` column: either a sentence id (numbers or codes;
consecutive rows with one id form a sentence, and the sentence text is their words joined by
spaces) or the sentence text itself (consecutive rows with one text form a sentence). Without a
sentence column, a sentence ends after a word ending in ``.``, ``!`` or ``?``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

__all__ = ["read_scene_table", "read_table", "read_word_table"]

#: Seconds per unit of the time columns.
TIME_UNITS = {"s": 1.0, "ms": 1e-3}
_SENTENCE_END = (".", "!", "?", '."', '!"', '?"')


def read_table(path) -> pd.DataFrame:
    """Read a CSV or TSV file (tab-separated for ``.tsv``/``.tab``, else comma-separated).

    BIDS writes missing values as ``n/a``; they are read as NaN.

    Parameters
    ----------
    path : path-like
        The file.

    Returns
    -------
    pandas.DataFrame
        Every column of the file, as pandas infers it.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If it cannot be parsed, or holds no rows.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"stimulus table {path} does not exist")
    sep = "\t" if path.suffix.lower() in (".tsv", ".tab") else ","
    try:
        table = pd.read_csv(path, sep=sep, na_values=["n/a"], keep_default_na=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        kind = "TSV" if sep == "\t" else "CSV"
        raise ValueError(f"cannot read stimulus table {path} as {kind}: {err}") from err
    if table.empty:
        raise ValueError(f"stimulus table {path} has no rows")
    return table


def _column(table: pd.DataFrame, name: str, field: str, path: Path) -> pd.Series:
    if name not in table.columns:
        raise ValueError(
            f"{path} has no column {name!r} for the {field} (columns: {list(table.columns)[:16]}); "
            f"map the {field} to one of them"
        )
    return table[name]


def _times(table: pd.DataFrame, name: str, field: str, path: Path, scale: float) -> np.ndarray:
    raw = _column(table, name, field, path)
    values = pd.to_numeric(raw, errors="coerce")
    bad = values.isna() & raw.notna()
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise ValueError(
            f"{path}: column {name!r} ({field}) is not a number at data row {row} "
            f"(line {row + 2}): {raw.iloc[row]!r}"
        )
    return values.to_numpy(np.float64) * scale


def _sentence_starts(table: pd.DataFrame, sentence: str | None, path: Path) -> np.ndarray:
    """Which rows start a sentence (bool, one per row)."""
    if sentence is None:
        words = table["text"].astype(str).str.strip()
        ends = words.str.endswith(_SENTENCE_END).to_numpy()
        return np.r_[True, ends[:-1]]
    keys = _column(table, sentence, "sentence", path)
    keys = keys.astype(object).where(keys.notna(), None)
    changed = (keys != keys.shift()).to_numpy(dtype=bool, copy=True)
    changed[0] = True
    return changed


def read_word_table(
    path,
    *,
    onset: str = "onset",
    word: str = "word",
    offset: str | None = "offset",
    sentence: str | None = "sentence",
    time_unit: str = "s",
) -> pd.DataFrame:
    """Read a table of timed words into the transcript form the events stage reads.

    Parameters
    ----------
    path : path-like
        A CSV or TSV file (:func:`read_table`), one row per word in movie order.
    onset : str
        Column of each word's onset (``time_unit`` of movie time).
    word : str
        Column of the word (what a model reads).
    offset : str or None
        Column of each word's offset; None: a word lasts until the next one starts (the last
        word gets its onset).
    sentence : str or None
        Column of a sentence id or of the sentence text; None: sentences end at ``.!?``.
    time_unit : {"s", "ms"}
        Unit of the onset and offset columns.

    Returns
    -------
    pandas.DataFrame
        One row per word with a finite onset, in file order: ``text`` (str), ``start``,
        ``end`` (float64 s), ``sentence`` (str: the sentence's words joined by spaces, or the
        sentence text given), ``is_onset`` (int 0/1), ``idx_in_sentence`` (int), then the
        file's other columns unchanged.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If a mapped column is missing or not numeric, onsets decrease, an offset precedes its
        onset, or ``time_unit`` is unknown.
    """
    path = Path(path)
    if time_unit not in TIME_UNITS:
        raise ValueError(f"time_unit must be one of {sorted(TIME_UNITS)}, got {time_unit!r}")
    scale = TIME_UNITS[time_unit]
    table = read_table(path)
    start = _times(table, onset, "word onsets", path, scale)
    text = _column(table, word, "words", path)
    keep = np.isfinite(start) & text.notna().to_numpy()
    if not keep.all():
        log.info("%s: dropped %d row(s) without a finite onset or a word", path, int((~keep).sum()))
    mapped = {onset, word} | ({offset} if offset else set()) | ({sentence} if sentence else set())
    rest = table.drop(columns=[c for c in mapped if c in table.columns])
    ours = ("text", "start", "end", "is_onset", "idx_in_sentence")
    rest = rest.drop(columns=[c for c in ours if c in rest])
    out = pd.DataFrame({"text": text.astype(str).str.strip(), "start": start})
    if offset is not None:
        out["end"] = _times(table, offset, "word offsets", path, scale)
    if sentence is not None:
        out["sentence"] = _column(table, sentence, "sentence", path)
    out = pd.concat([out, rest], axis=1).loc[keep].reset_index(drop=True)
    if len(out) == 0:
        raise ValueError(f"{path}: no word has a finite onset in column {onset!r}")
    steps = np.diff(out["start"].to_numpy())
    if (steps < 0).any():
        row = int(np.flatnonzero(steps < 0)[0]) + 1
        raise ValueError(
            f"{path}: word onsets must not decrease; {onset!r} goes from {out['start'].iloc[row - 1]:g} "
            f"to {out['start'].iloc[row]:g} s at word {row} ({out['text'].iloc[row]!r})"
        )
    if offset is None:
        out["end"] = np.r_[out["start"].to_numpy()[1:], out["start"].to_numpy()[-1]]
    else:
        ends = out["end"].to_numpy()
        ends = np.where(np.isfinite(ends), ends, out["start"].to_numpy())
        early = ends < out["start"].to_numpy()
        if early.any():
            row = int(np.flatnonzero(early)[0])
            raise ValueError(
                f"{path}: word {row} ({out['text'].iloc[row]!r}) ends at {ends[row]:g} s, before it "
                f"starts ({out['start'].iloc[row]:g} s); check the {offset!r} column and time_unit"
            )
        out["end"] = ends
    starts = _sentence_starts(out, "sentence" if sentence is not None else None, path)
    sentence_id = np.cumsum(starts) - 1
    joined = out.groupby(sentence_id, sort=False)["text"].transform(" ".join)
    if sentence is None or pd.api.types.is_numeric_dtype(out["sentence"]) or _looks_like_ids(out["sentence"]):
        out["sentence"] = joined
    else:
        out["sentence"] = out["sentence"].astype(str)
    out["is_onset"] = starts.astype(np.int64)
    out["idx_in_sentence"] = out.groupby(sentence_id, sort=False).cumcount().to_numpy(np.int64)
    columns = ["text", "start", "end", "sentence", "is_onset", "idx_in_sentence"]
    return out[columns + [c for c in out.columns if c not in columns]]


def _looks_like_ids(values: pd.Series) -> bool:
    """True when a sentence column holds codes (one token each, e.g. ``s12``), not sentences."""
    text = values.dropna().astype(str)
    return bool(len(text)) and not text.str.contains(r"\s").any()


def read_scene_table(path, *, onset: str = "onset", time_unit: str = "s") -> np.ndarray:
    """Read scene-cut times from a CSV or TSV table.

    Parameters
    ----------
    path : path-like
        A CSV or TSV file (:func:`read_table`), one row per cut.
    onset : str
        Column of the cut times (``time_unit`` of movie time).
    time_unit : {"s", "ms"}
        Unit of that column.

    Returns
    -------
    numpy.ndarray of float64, shape (n_cuts,)
        Cut times (s), sorted, unique, finite and non-negative; a cut at 0 s (the movie's
        start) is left out.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If the column is missing, not numeric, negative, or no cut is left.
    """
    path = Path(path)
    if time_unit not in TIME_UNITS:
        raise ValueError(f"time_unit must be one of {sorted(TIME_UNITS)}, got {time_unit!r}")
    table = read_table(path)
    times = _times(table, onset, "scene cuts", path, TIME_UNITS[time_unit])
    times = times[np.isfinite(times)]
    if (times < 0).any():
        raise ValueError(f"{path}: column {onset!r} holds negative cut times ({times.min():g} s)")
    cuts = np.unique(times[times > 0])
    if len(cuts) == 0:
        raise ValueError(f"{path}: no scene cut after 0 s in column {onset!r}")
    return cuts

"""Precomputed features read from parquet files (e.g. the demo's ground-truth features).

``spec.path`` is a directory of ``<movie>_<alignment>.parquet`` files, each with a
``movie_time`` column (seconds) and one numeric column per feature. Each event is matched to
the file row whose ``movie_time`` is within 1 ms of the event's ``movie_time``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from mmsites.timing import TABLE_TIME_TOL_S, match_times

from . import register_family
from .base import Extractor

logger = logging.getLogger(__name__)

__all__ = ["PrecomputedExtractor"]


@register_family("precomputed")
class PrecomputedExtractor(Extractor):
    """Features looked up by movie time in ``<spec.path>/<movie>_<alignment>.parquet``.

    Parameters
    ----------
    spec : ModelSpec
        The model (``path``: the directory of parquet files).
    device : str
        Torch device the network is moved to, e.g. ``"cpu"`` or ``"cuda"``.

    Raises
    ------
    ValueError
        When ``spec.path`` is not given.
    FileNotFoundError
        When the directory does not exist.
    """

    def __init__(self, spec, device="cpu"):
        super().__init__(spec, device)
        if not spec.path:
            raise ValueError(
                f"model {spec.id!r}: family 'precomputed' needs 'path' (a directory of "
                "<movie>_<alignment>.parquet files)"
            )
        self.path = Path(spec.path)
        if not self.path.is_dir():
            raise FileNotFoundError(
                f"model {spec.id!r}: precomputed feature directory {str(self.path)!r} does not exist"
            )

    def _read(self, movie, alignment) -> tuple[Path, np.ndarray, np.ndarray, list[str]]:
        f = self.path / f"{movie}_{alignment}.parquet"
        if not f.is_file():
            raise FileNotFoundError(
                f"model {self.spec.id!r}: no precomputed features for movie {movie!r}, alignment "
                f"{alignment!r}: expected the file {str(f)!r}"
            )
        table = pd.read_parquet(f)
        if "movie_time" not in table.columns:
            raise ValueError(f"model {self.spec.id!r}: {str(f)!r} has no 'movie_time' column (seconds)")
        cols = [c for c in table.columns if c != "movie_time"]
        if not cols:
            raise ValueError(
                f"model {self.spec.id!r}: {str(f)!r} has no feature columns besides 'movie_time'"
            )
        for c in cols:
            if not pd.api.types.is_numeric_dtype(table[c]) or pd.api.types.is_bool_dtype(table[c]):
                raise ValueError(
                    f"model {self.spec.id!r}: column {c!r} of {str(f)!r} is {table[c].dtype}, not numeric"
                )
        values = table[cols].to_numpy(dtype=np.float64)
        bad = ~np.isfinite(values)
        if bad.any():
            j = int(np.flatnonzero(bad.any(axis=0))[0])
            raise ValueError(
                f"model {self.spec.id!r}: column {cols[j]!r} of {str(f)!r} has "
                f"{int(bad[:, j].sum())} non-finite value(s) (NaN or inf)"
            )
        times = table["movie_time"].to_numpy(dtype=np.float64)
        if not np.isfinite(times).all():
            raise ValueError(
                f"model {self.spec.id!r}: column 'movie_time' of {str(f)!r} has non-finite values"
            )
        return f, times, values.astype(np.float32), cols

    def extract(self, events, frames=None, frame_index=None, *, batch_size=32, progress=True):
        """One row of the precomputed table per event.

        Every (movie, alignment) file must have the same feature columns, in the same order.

        Parameters
        ----------
        events : DataFrame, n_events rows
            The events table; ``movie``, ``alignment`` and ``movie_time`` (seconds) choose
            the file and its row (within ``TABLE_TIME_TOL_S``, 1 ms).
        frames : ndarray, optional
            Not used.
        frame_index : ndarray, optional
            Not used.
        batch_size : int
            Not used.
        progress : bool
            Not used.

        Returns
        -------
        ndarray of float32, shape (n_events, n_columns)
            The files' feature columns (every column but ``movie_time``) at each event;
            shape (0, 0) for an empty table.

        Raises
        ------
        ValueError
            When a column the lookup needs is missing, a file's columns differ from the first
            file's, or an event has no row within the tolerance.
        FileNotFoundError
            When a (movie, alignment) has no file.
        """
        missing = [c for c in ("movie", "alignment", "movie_time") if c not in events.columns]
        if missing:
            raise ValueError(
                f"model {self.spec.id!r}: the events table lacks column(s) {missing} needed to look "
                f"up precomputed features (columns: {list(events.columns)})"
            )
        out = None
        columns = None
        groups = events.groupby(["movie", "alignment"], sort=False).indices
        for (movie, alignment), pos in groups.items():
            f, times, values, cols = self._read(movie, alignment)
            if columns is None:
                columns = cols
                out = np.empty((len(events), len(cols)), dtype=np.float32)
            elif cols != columns:
                raise ValueError(
                    f"model {self.spec.id!r}: {str(f)!r} has feature columns {cols[:5]}... "
                    f"({len(cols)}), unlike the first file's {columns[:5]}... ({len(columns)})"
                )
            et = events["movie_time"].to_numpy(dtype=np.float64)[pos]
            rows = match_times(et, times, tol=TABLE_TIME_TOL_S)
            if (rows < 0).any():
                k = int(np.flatnonzero(rows < 0)[0])
                raise ValueError(
                    f"model {self.spec.id!r}: {int((rows < 0).sum())} event(s) of movie {movie!r}, "
                    f"alignment {alignment!r} have no row within {TABLE_TIME_TOL_S * 1e3:g} ms in "
                    f"{str(f)!r}; the first is at movie_time {float(et[k])!r} s"
                )
            out[pos] = values[rows]
            logger.info(
                "model %s: %d events of %s/%s matched in %s", self.spec.id, len(pos), movie, alignment, f
            )
        if out is None:
            return np.empty((0, 0), dtype=np.float32)
        return out

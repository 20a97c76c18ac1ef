"""The decoding result table (what the pipeline writes as ``results/decoding.csv``).

One row per (subject, task, split kind, representation), columns :data:`TABLE_COLUMNS`:

``subject``
    Subject the test events come from (as given in the key).
``task``
    Task name (:data:`mmsites.decoding.tasks.TASKS`).
``split``
    Split kind: ``within_session``, ``cross_session`` or ``cross_subject``
    (:mod:`mmsites.decoding.splits`); any string is accepted.
``representation``
    What the probe read (``voltage``, ``band_power``, ``brainbert``, ``popt_cls``, ...).
``auc``
    Test ROC-AUC, averaged over the folds (splits) of the kind.
``auc_lo``, ``auc_hi``
    Percentile interval (level of the :class:`~mmsites.decoding.probes.DecodeResult`, 95 % by
    default) of that mean, from moving-block bootstrap replicates of each fold's test events
    (:mod:`mmsites.decoding.probes`).
``n_train``
    Training events per fold (mean over folds, rounded).
``n_test``
    Test events, summed over folds (within a session each event is tested once).
``n_folds``
    Number of folds (splits) averaged.
``chance``
    0.5: the AUC of a probe that knows nothing (the tasks are binary; AUC does not depend on
    the class balance).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import pandas as pd

from .probes import DecodeResult

__all__ = ["TABLE_COLUMNS", "KEY_COLUMNS", "CHANCE_AUC", "decoding_table"]

#: The columns that identify a row.
KEY_COLUMNS = ("subject", "task", "split", "representation")
#: Every column of the table, in order.
TABLE_COLUMNS = (*KEY_COLUMNS, "auc", "auc_lo", "auc_hi", "n_train", "n_test", "n_folds", "chance")
#: Chance level of the ROC-AUC of a binary task.
CHANCE_AUC = 0.5


def decoding_table(results: Mapping | Iterable) -> pd.DataFrame:
    """Summarise decoding results into the result table, one row per key.

    Parameters
    ----------
    results : mapping or iterable of pairs
        ``(subject, task, split, representation) -> DecodeResult`` (a dict, or an iterable
        of ``(key, result)`` pairs), e.g. ``{(1, "speech", "within_session", "voltage"):
        decode(...)}``.

    Returns
    -------
    table : pandas.DataFrame
        Columns :data:`TABLE_COLUMNS` (module docstring), rows in the order given.

    Raises
    ------
    ValueError
        If a key is not a 4-tuple, a key occurs twice, or a value is not a
        :class:`~mmsites.decoding.probes.DecodeResult`.
    """
    items = results.items() if isinstance(results, Mapping) else results
    rows, seen = [], set()
    for key, result in items:
        if not isinstance(key, tuple) or len(key) != len(KEY_COLUMNS):
            raise ValueError(f"each key must be a tuple {KEY_COLUMNS}, got {key!r}")
        if key in seen:
            raise ValueError(f"duplicate decoding result for {dict(zip(KEY_COLUMNS, key))}")
        if not isinstance(result, DecodeResult):
            raise ValueError(f"the result for {key!r} is a {type(result).__name__}, expected a DecodeResult")
        seen.add(key)
        rows.append({**dict(zip(KEY_COLUMNS, key)), **result.summary(), "chance": CHANCE_AUC})
    return pd.DataFrame(rows, columns=list(TABLE_COLUMNS))

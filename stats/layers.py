"""Layer sweeps: each electrode's best layer, chosen on validation r, reported with its test r.

A model with a layer sweep is encoded once per layer (the same folds, penalties and targets).
For every electrode and layer, the bin (or component, or band x bin) with the highest
**validation** r is that layer's pick, and the **test** r at that pick is its score; the
electrode's best layer is the one whose pick has the highest validation r. No test r enters a
choice, so the reported test r of the best layer is an honest held-out score (the maximum of the
test r over layers would not be).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["layer_profile"]

#: Columns a layer sweep's scores table must have.
REQUIRED = ("layer", "depth", "electrode", "bin", "val_r", "test_r")


def layer_profile(scores: pd.DataFrame) -> pd.DataFrame:
    """Per (electrode, layer): the pick made on validation r and its test r; the best layer marked.

    Parameters
    ----------
    scores : DataFrame
        One row per (layer, target): ``layer`` (str), ``depth`` (float in [0, 1]),
        ``electrode`` (str), ``bin`` (int), ``val_r`` and ``test_r`` (float, NaN where the
        target could not be scored); optional ``type``, ``time_s``.

    Returns
    -------
    DataFrame
        One row per (electrode, layer), in electrode then depth order: ``electrode, layer,
        depth, bin`` (the bin of the highest validation r), ``time_s`` (if given), ``val_r``,
        ``test_r`` (at that bin) and ``best`` (True on the electrode's layer of highest
        validation r; ties go to the shallower layer). An electrode whose validation r is NaN in
        every bin of a layer gets that layer's row with NaN scores and ``best`` False.

    Raises
    ------
    ValueError
        When a required column is missing.

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"layer": ["a", "a", "b", "b"], "depth": [0.0, 0.0, 1.0, 1.0],
    ...                   "electrode": ["e1"] * 4, "bin": [0, 1, 0, 1],
    ...                   "val_r": [0.1, 0.3, 0.2, 0.25], "test_r": [0.5, 0.2, 0.1, 0.9]})
    >>> layer_profile(t)[["layer", "bin", "test_r", "best"]].values.tolist()
    [['a', 1, 0.2, True], ['b', 1, 0.9, False]]
    """
    missing = [c for c in REQUIRED if c not in scores.columns]
    if missing:
        raise ValueError(f"layer sweep scores lack columns {missing}; have {list(scores.columns)}")
    keys = ["electrode", "layer"]
    ranked = scores.assign(_v=scores["val_r"].fillna(-np.inf))
    # Highest validation r first; among equals the first bin (a stable sort keeps the order).
    ranked = ranked.sort_values(keys + ["_v"], ascending=[True, True, False], kind="stable")
    picks = ranked.drop_duplicates(keys, keep="first").drop(columns="_v")
    picks = picks.sort_values(["electrode", "depth"], kind="stable").reset_index(drop=True)
    v = picks["val_r"].fillna(-np.inf).to_numpy()
    best = np.zeros(len(picks), dtype=bool)
    for _, rows in picks.groupby("electrode", sort=False).indices.items():
        if np.isfinite(v[rows]).any():
            best[rows[int(np.argmax(v[rows]))]] = True  # argmax: first of equals = shallower
    keep = [
        c
        for c in ("electrode", "layer", "type", "depth", "bin", "time_s", "band", "val_r", "test_r")
        if c in picks
    ]
    return picks[keep].assign(best=best)

"""Reductions of the result tables: the numbers the figures draw and the pages list.

Every function here turns result tables (the contracts of ``docs/architecture.md``: scores
tables, ``results/sites.csv``, ``results/comparisons.csv``, ``data/demo/truth.csv``) into
smaller tables, with pandas only: no plotting, no files, no statistics. Whether a bin carries
signal is decided once, by :func:`mmsites.stats.signal.signal_bins` in the encode stage, and
arrives here as the scores table's boolean ``signal`` column.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from mmsites.constants import ALIGNMENTS, ELECTRODE_KINDS

__all__ = [
    "ALIGNMENTS",
    "COMPARISON_TESTS",
    "SITE_CALLS",
    "SITE_TESTS",
    "as_bool",
    "called_sites",
    "localised",
    "multimodal_any",
    "planted_kinds",
    "planted_vs_found",
    "region_fractions",
    "require_columns",
    "top_sites",
]

#: ``results/sites.csv`` flags -> display name: ``multimodal_<alignment>`` (the best
#: multimodal model beats the unimodal families, the site rule) and ``slip_<alignment>``
#: (SLIP-Combo beats SLIP-SimCLR).
SITE_TESTS = {"multimodal": "multimodal site", "slip": "SLIP-Combo site"}
#: ``results/comparisons.csv`` tests against the linear baselines -> display name.
COMPARISON_TESTS = {
    "multimodal_vs_multiconcat": "multimodal vs MultiConcat",
    "multimodal_vs_multilin": "multimodal vs MultiLin",
}
#: The calls the pipeline makes about an electrode (:func:`called_sites`), in order.
SITE_CALLS = ("not a site", "multimodal, one alignment", "multimodal, both (strict)")
#: The column of :func:`planted_vs_found` for truth rows that have no row in the sites table.
NOT_ANALYSED = "not analysed"


def require_columns(table: pd.DataFrame, columns: Iterable[str], what: str) -> None:
    """Raise a clear error when a table lacks columns its contract promises.

    Parameters
    ----------
    table : DataFrame
        The table to check.
    columns : iterable of str
        Column names the caller needs.
    what : str
        What the table is, for the message (e.g. ``"scores table"``).

    Raises
    ------
    ValueError
        Naming the missing columns and the ones the table has.
    """
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ValueError(
            f"{what} lacks column(s) {missing}; it has {list(table.columns)}. "
            "See the table contracts in docs/architecture.md."
        )


def as_bool(values) -> pd.Series:
    """Read a column of booleans as written to CSV.

    Parameters
    ----------
    values : array-like or Series
        ``True``/``False`` (any case, as strings), ``1``/``0`` (also ``1.0``/``0.0``), bools;
        missing values (``None``, NaN, ``pd.NA``, empty strings) read as False.

    Returns
    -------
    Series of bool
        Same length (and name, for a Series) as ``values``.

    Raises
    ------
    ValueError
        When an entry is none of the above (e.g. ``"yes"``), naming up to five of them.
    """
    s = pd.Series(values)
    if s.dtype == bool:
        return s
    text = s.map(lambda v: "" if v is None or v is pd.NA or v != v else str(v).strip().lower())
    bad = ~text.isin(["true", "false", "1", "0", "1.0", "0.0", "nan", "none", "", "<na>"])
    if bad.any():
        raise ValueError(f"column {s.name!r}: expected booleans true/false, got {sorted(set(text[bad]))[:5]}")
    return text.isin(["true", "1", "1.0"])


def multimodal_any(sites: pd.DataFrame, alignments: Sequence[str] = ALIGNMENTS) -> np.ndarray:
    """Flag the electrodes that are multimodal sites under any of ``alignments``.

    Parameters
    ----------
    sites : DataFrame
        Rows with ``multimodal_<alignment>`` columns (``results/sites.csv`` or a subset);
        a missing column counts as False for every row.
    alignments : sequence of str
        Alignments to consider, by default both (``language``, ``vision``).

    Returns
    -------
    ndarray of bool, shape (n_rows,)
        True where any ``multimodal_<alignment>`` flag of the row is true.
    """
    mask = np.zeros(len(sites), dtype=bool)
    for al in alignments:
        if f"multimodal_{al}" in sites.columns:
            mask |= as_bool(sites[f"multimodal_{al}"]).to_numpy()
    return mask


def localised(table: pd.DataFrame) -> pd.DataFrame:
    """Keep the rows whose MNI coordinates are all finite numbers.

    Parameters
    ----------
    table : DataFrame
        Rows with ``x, y, z`` columns (MNI mm; numbers or numeric strings).

    Returns
    -------
    DataFrame
        The rows of ``table`` (same columns and index) with finite ``x``, ``y`` and ``z``.
    """
    coords = table[["x", "y", "z"]].apply(pd.to_numeric, errors="coerce")
    return table[np.isfinite(coords.to_numpy(dtype=float)).all(axis=1)]


def top_sites(per_electrode: pd.DataFrame, *, n_top: int = 3) -> pd.DataFrame:
    """Pick the electrodes with the highest score, per model (and alignment).

    Parameters
    ----------
    per_electrode : DataFrame
        Electrode scores (the report stage's, :func:`mmsites.stats.compare.electrode_scores`):
        ``score`` and optionally ``alignment``, ``model``.
    n_top : int
        Electrodes kept per (alignment, model) group.

    Returns
    -------
    DataFrame
        At most ``n_top`` rows of ``per_electrode`` per group, NaN scores dropped, highest
        score first within each group.
    """
    keys = [k for k in ("alignment", "model") if k in per_electrode.columns]
    ranked = per_electrode.dropna(subset=["score"]).sort_values("score", ascending=False)
    return ranked.groupby(keys, sort=True).head(n_top) if keys else ranked.head(n_top)


def region_fractions(sites: pd.DataFrame, comparisons: pd.DataFrame | None = None) -> pd.DataFrame:
    """Count the multimodal electrodes per Desikan-Killiany region, test and alignment.

    Parameters
    ----------
    sites : DataFrame
        ``results/sites.csv``: ``subject, electrode, region, multimodal_strict`` and the
        ``multimodal_<alignment>``, ``slip_<alignment>`` flags present. A missing region
        counts as ``unlocalised``.
    comparisons : DataFrame, optional
        ``results/comparisons.csv``; adds the tests against MultiConcat and MultiLin. An
        electrode counts where model a wins every row of the test (``a_wins`` if present,
        else ``significant``); an electrode without rows for the test counts as not called.

    Returns
    -------
    DataFrame, one row per (region, test, alignment)
        ``region``, ``test`` (display name, :data:`SITE_TESTS` then
        :data:`COMPARISON_TESTS` order), ``alignment``, ``n_electrodes``, ``n_multimodal``,
        ``fraction`` (``n_multimodal / n_electrodes``, 0-1) and ``strict`` (bool: the region
        holds an electrode multimodal under both alignments); regions A-Z within a test and
        alignment. Empty (with these columns) when no test can be counted.
    """
    require_columns(sites, ["subject", "electrode", "region", "multimodal_strict"], "sites table")
    base = sites[["subject", "electrode", "region"]].copy()
    base["region"] = base["region"].fillna("unlocalised").astype(str)
    strict = (
        sites.assign(_s=as_bool(sites["multimodal_strict"]).to_numpy()).groupby(base["region"])["_s"].any()
    )
    calls = []
    for prefix, test in SITE_TESTS.items():
        for al in ALIGNMENTS:
            col = f"{prefix}_{al}"
            if col in sites.columns:
                calls.append(base.assign(test=test, alignment=al, called=as_bool(sites[col]).to_numpy()))
    if comparisons is not None and len(comparisons):
        require_columns(
            comparisons, ["subject", "electrode", "alignment", "test", "significant"], "comparisons table"
        )
        # a_wins (stats.sites) also counts wins by default (b without signal); else FDR only.
        won = comparisons["a_wins"] if "a_wins" in comparisons.columns else comparisons["significant"]
        comp = comparisons.assign(_sig=as_bool(won).to_numpy())
        comp["subject"] = comp["subject"].astype(str)
        comp["electrode"] = comp["electrode"].astype(str)
        key = base.assign(subject=base["subject"].astype(str), electrode=base["electrode"].astype(str))
        for name, test in COMPARISON_TESTS.items():
            for al in ALIGNMENTS:
                sel = comp[(comp["test"] == name) & (comp["alignment"] == al)]
                if sel.empty:
                    continue
                sig = sel.groupby(["subject", "electrode"])["_sig"].all()
                idx = pd.MultiIndex.from_frame(key[["subject", "electrode"]])
                called = sig.reindex(idx, fill_value=False).to_numpy(dtype=bool)
                calls.append(base.assign(test=test, alignment=al, called=called))
    if not calls:
        return pd.DataFrame(
            columns=["region", "test", "alignment", "n_electrodes", "n_multimodal", "fraction", "strict"]
        )
    long = pd.concat(calls, ignore_index=True)
    out = (
        long.groupby(["region", "test", "alignment"], sort=False)
        .agg(n_electrodes=("called", "size"), n_multimodal=("called", "sum"))
        .reset_index()
    )
    # Tests in the study's order (unimodal, SLIP, linear baselines), then regions A-Z.
    rank = {t: k for k, t in enumerate([*SITE_TESTS.values(), *COMPARISON_TESTS.values()])}
    out = out.sort_values(
        ["test", "alignment", "region"], key=lambda c: c.map(rank) if c.name == "test" else c, kind="stable"
    )
    out = out.reset_index(drop=True)
    out["fraction"] = out["n_multimodal"] / out["n_electrodes"]
    out["strict"] = out["region"].map(strict).fillna(False).astype(bool)
    return out


def called_sites(sites: pd.DataFrame) -> pd.Series:
    """Name what the pipeline called each electrode: one of :data:`SITE_CALLS`.

    The pipeline makes one claim about an electrode, multimodal or not (the site rule of
    :mod:`mmsites.stats.sites`), under each alignment; it makes no claim that an electrode is
    a unimodal site (the best model of a non-site is only a description). So the demo's
    planted kinds are checked against exactly that claim.

    Parameters
    ----------
    sites : DataFrame
        ``results/sites.csv``: the ``multimodal_<alignment>`` and ``multimodal_strict`` flags
        (missing ones count as False).

    Returns
    -------
    Series of str, named ``called``, with the index of ``sites``
        ``SITE_CALLS[2]`` where ``multimodal_strict``, else ``SITE_CALLS[1]`` where multimodal
        under one alignment, else ``SITE_CALLS[0]``.
    """
    strict = (
        as_bool(sites["multimodal_strict"]).to_numpy()
        if "multimodal_strict" in sites.columns
        else np.zeros(len(sites), dtype=bool)
    )
    weak = multimodal_any(sites)
    calls = np.where(strict, SITE_CALLS[2], np.where(weak, SITE_CALLS[1], SITE_CALLS[0]))
    return pd.Series(calls, index=sites.index, name="called")


def planted_kinds(truth: pd.DataFrame) -> list[str]:
    """List the electrode kinds a truth table holds, known kinds first.

    Parameters
    ----------
    truth : DataFrame
        ``data/demo/truth.csv``: a ``kind`` column.

    Returns
    -------
    list of str
        The distinct kinds of ``truth``: those of :data:`mmsites.constants.ELECTRODE_KINDS` in
        that order (``none, vision, language, multimodal, linear``), then any other A-Z.
    """
    present = set(truth["kind"].dropna().astype(str))
    return [k for k in ELECTRODE_KINDS if k in present] + sorted(present - set(ELECTRODE_KINDS))


def planted_vs_found(truth: pd.DataFrame, sites: pd.DataFrame) -> pd.DataFrame:
    """Cross-tabulate the demo's planted kinds against the pipeline's site calls.

    Parameters
    ----------
    truth : DataFrame
        ``data/demo/truth.csv``: ``subject, electrode, kind``.
    sites : DataFrame
        ``results/sites.csv`` (see :func:`called_sites`); rows are matched to ``truth`` on
        ``subject`` and ``electrode`` (compared as strings).

    Returns
    -------
    DataFrame of int
        Electrode counts. Index: the kinds of :func:`planted_kinds` (named ``kind``); columns:
        :data:`SITE_CALLS`, then ``"not analysed"`` when a truth electrode has no row in
        ``sites``. Every row of ``truth`` with a kind is counted once.
    """
    require_columns(truth, ["subject", "electrode", "kind"], "truth table")
    called = sites[["subject", "electrode"]].assign(called=called_sites(sites).to_numpy())
    left = truth.assign(subject=truth["subject"].astype(str), electrode=truth["electrode"].astype(str))
    right = called.assign(subject=called["subject"].astype(str), electrode=called["electrode"].astype(str))
    merged = left.merge(right, on=["subject", "electrode"], how="left")
    merged["called"] = merged["called"].fillna(NOT_ANALYSED)
    cols = list(SITE_CALLS) + ([NOT_ANALYSED] if (merged["called"] == NOT_ANALYSED).any() else [])
    mat = pd.crosstab(merged["kind"], merged["called"])
    return mat.reindex(index=planted_kinds(left), columns=cols, fill_value=0).rename_axis(
        index="kind", columns="called"
    )

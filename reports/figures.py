"""Figures of the study: coverage, trained vs random, regions, best models, time courses.

Every ``plot_*`` function takes tables (the contracts of ``DESIGN.md``) and returns a
:class:`matplotlib.figure.Figure`; the caller saves it, or inlines it with
:func:`figure_to_png`. Glass brains come from nilearn, whose MNI template ships inside the
package (no network).
"""

from __future__ import annotations

import io
import logging

import matplotlib

matplotlib.use("Agg")  # headless: figures are rendered to files / bytes only
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

logger = logging.getLogger(__name__)

ALIGNMENTS = ("language", "vision")
KINDS = ("none", "vision", "language", "multimodal")
TRAINED_COLOR, RANDOM_COLOR = "#4C72B0", "#DD8452"  # the study's violin colours
# sites.csv flags: multimodal_<al> (best multimodal beats the unimodal families, the site
# rule) and slip_<al> (SLIP-Combo beats SLIP-SimCLR).
SITE_TESTS = {"multimodal": "multimodal site", "slip": "SLIP-Combo site"}
COMPARISON_TESTS = {
    "multimodal_vs_multiconcat": "multimodal vs MultiConcat",
    "multimodal_vs_multilin": "multimodal vs MultiLin",
}


def figure_to_png(fig: Figure, *, dpi: int = 100, close: bool = True) -> bytes:
    """Render a figure to PNG bytes (for inlining in HTML).

    Parameters
    ----------
    fig : Figure
    dpi : int
        Resolution.
    close : bool
        Close the figure afterwards to free its memory.

    Returns
    -------
    png : bytes
    """
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight", facecolor="white")
    if close:
        plt.close(fig)
    return buf.getvalue()


def as_bool(values) -> pd.Series:
    """Booleans from a CSV column (``true``/``false`` strings, 0/1, bools, NaN -> False)."""
    s = pd.Series(values)
    if s.dtype == bool:
        return s
    text = s.map(lambda v: "" if v is None or v is pd.NA or v != v else str(v).strip().lower())
    bad = ~text.isin(["true", "false", "1", "0", "1.0", "0.0", "nan", "none", "", "<na>"])
    if bad.any():
        raise ValueError(f"column {s.name!r}: expected booleans true/false, got {sorted(set(text[bad]))[:5]}")
    return text.isin(["true", "1", "1.0"])


def multimodal_any(sites: pd.DataFrame, alignments=ALIGNMENTS) -> np.ndarray:
    """Whether each electrode is multimodal under any of ``alignments``.

    Parameters
    ----------
    sites : DataFrame
        Rows with ``multimodal_<alignment>`` columns (missing columns count as False).
    alignments : sequence of str

    Returns
    -------
    mask : ndarray of bool, shape (n_rows,)
    """
    mask = np.zeros(len(sites), dtype=bool)
    for al in alignments:
        if f"multimodal_{al}" in sites.columns:
            mask |= as_bool(sites[f"multimodal_{al}"]).to_numpy()
    return mask


def _require(table: pd.DataFrame, columns, what: str) -> None:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ValueError(
            f"{what} lacks column(s) {missing}; it has {list(table.columns)}. See the contracts in DESIGN.md."
        )


def model_colors(models) -> dict:
    """Stable colour per model name (sorted, tab20 palette)."""
    names = sorted({str(m) for m in models if isinstance(m, str) and m})
    cmap = plt.get_cmap("tab20" if len(names) > 10 else "tab10")
    return {m: cmap(i % cmap.N) for i, m in enumerate(names)}


def _empty(title: str, message: str) -> Figure:
    fig, ax = plt.subplots(figsize=(6, 2))
    ax.axis("off")
    ax.set_title(title)
    ax.text(0.5, 0.5, message, ha="center", va="center", wrap=True)
    return fig


def _glass_brain(fig: Figure, rect, title: str | None = None):
    from nilearn import plotting

    ax = fig.add_axes(rect)
    return plotting.plot_glass_brain(None, figure=fig, axes=ax, display_mode="lzr", title=title)


def _localised(table: pd.DataFrame) -> pd.DataFrame:
    coords = table[["x", "y", "z"]].apply(pd.to_numeric, errors="coerce")
    return table[np.isfinite(coords.to_numpy(dtype=float)).all(axis=1)]


def electrode_scores(scores: pd.DataFrame, *, p_threshold: float = 0.05) -> pd.DataFrame:
    """Per-electrode score: mean test r over the electrode's signal bins.

    Signal bins are, in order of preference: the boolean ``signal`` column the encode stage
    writes, ``p_value < p_threshold`` (the study's permutation rule), or ``val_lo > 0`` (the
    released code's rule), both through :func:`stats.signal.signal_bins`; without any of
    these every bin counts (logged). The same mean as :func:`stats.compare.electrode_scores`,
    over a long table with any number of subjects, alignments and models.

    Parameters
    ----------
    scores : DataFrame, one row per (electrode, bin)
        The scores-table contract (``electrode, bin, time_s, test_r, ...``) with extra key
        columns such as ``subject``, ``alignment``, ``model`` when several tables are stacked.
    p_threshold : float
        Significance level for ``p_value``.

    Returns
    -------
    per_electrode : DataFrame
        Key columns present among ``subject, alignment, model, electrode``, then ``score``
        (Pearson r; NaN where there are no signal bins) and ``n_signal_bins``.
    """
    _require(scores, ["electrode", "test_r"], "scores table")
    if "signal" in scores.columns:
        signal = as_bool(scores["signal"]).to_numpy()
    elif "p_value" in scores.columns or "val_lo" in scores.columns:
        from mmsites.stats.signal import signal_bins  # imports torch: only when needed

        if "p_value" in scores.columns:
            signal = signal_bins("permutation", pvalues=scores["p_value"], alpha=p_threshold)
        else:
            signal = signal_bins("bootstrap_ci", val_lo=scores["val_lo"])
    else:
        logger.info("scores carry no signal/p_value/val_lo column: averaging every bin")
        signal = np.ones(len(scores), dtype=bool)
    keys = [k for k in ("subject", "alignment", "model", "electrode") if k in scores.columns]
    df = scores[keys].copy()
    df["_r"] = np.where(signal, scores["test_r"].to_numpy(dtype=float), np.nan)
    df["_s"] = signal.astype(int)
    out = df.groupby(keys, sort=False, dropna=False).agg(score=("_r", "mean"), n_signal_bins=("_s", "sum"))
    return out.reset_index()


def plot_trained_vs_random(scores: pd.DataFrame, twins: dict, *, labels: dict | None = None) -> Figure:
    """Violins of per-electrode r, each trained model beside its random twin.

    Parameters
    ----------
    scores : DataFrame
        Either per-bin scores (with ``bin``; reduced by :func:`electrode_scores`) or
        per-electrode scores with ``model`` and ``score`` (Pearson r).
    twins : dict of str to str
        Trained model id -> its randomly initialised twin's id.
    labels : dict of str to str, optional
        Display names for model ids.

    Returns
    -------
    fig : Figure
    """
    if "score" not in scores.columns:
        scores = electrode_scores(scores)
    _require(scores, ["model", "score"], "per-electrode scores")
    labels = labels or {}
    by_model = {m: g["score"].dropna().to_numpy() for m, g in scores.groupby("model")}
    pairs = [(t, r) for t, r in twins.items() if t in by_model or r in by_model]
    if not pairs:
        return _empty("Trained vs randomly initialised", "No scores for any trained/random pair.")
    fig, ax = plt.subplots(figsize=(max(6, 1.2 * len(pairs) + 2), 4.5))
    for k, (trained, random) in enumerate(pairs):
        for offset, model, color in ((-0.2, trained, TRAINED_COLOR), (0.2, random, RANDOM_COLOR)):
            values = by_model.get(model, np.array([]))
            if len(values) == 0:
                continue
            if len(values) > 1 and np.ptp(values) > 0:
                parts = ax.violinplot(
                    values, positions=[k + offset], widths=0.38, showextrema=False, showmedians=True
                )
                for body in parts["bodies"]:
                    body.set_facecolor(color)
                    body.set_edgecolor("0.3")
                    body.set_alpha(0.9)
                parts["cmedians"].set_color("white")
            else:
                ax.plot([k + offset], [np.median(values)], "o", color=color)
    ax.axhline(0, color="0.6", lw=0.8, zorder=0)
    ax.set_xticks(range(len(pairs)))
    ax.set_xticklabels([labels.get(t, t) for t, _ in pairs], rotation=35, ha="right")
    ax.set_ylabel("Pearson r (mean over signal bins)")
    ax.set_title("Pretrained versus randomly initialised models")
    ax.legend(
        handles=[
            plt.Rectangle((0, 0), 1, 1, color=TRAINED_COLOR),
            plt.Rectangle((0, 0), 1, 1, color=RANDOM_COLOR),
        ],
        labels=["Pretrained", "Randomly initialised"],
        frameon=False,
        loc="upper right",
    )
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    return fig


def plot_coverage(electrodes: pd.DataFrame, *, subject=None) -> Figure:
    """Electrode positions on a glass brain, coloured by subject.

    Parameters
    ----------
    electrodes : DataFrame
        ``results/electrodes.csv``: ``subject, electrode, x, y, z`` (MNI mm) at least.
    subject : optional
        Show only this subject.

    Returns
    -------
    fig : Figure
    """
    _require(electrodes, ["subject", "electrode", "x", "y", "z"], "electrode table")
    table = electrodes
    if subject is not None:
        table = table[table["subject"].astype(str) == str(subject)]
    placed = _localised(table)
    n_missing = len(table) - len(placed)
    who = f"sub-{subject}" if subject is not None else "all subjects"
    title = f"Electrode coverage, {who}: {len(placed)} electrodes"
    if n_missing:
        title += f" ({n_missing} without coordinates not shown)"
    fig = plt.figure(figsize=(9, 3.4))
    display = _glass_brain(fig, [0, 0, 1, 0.88])
    fig.suptitle(title, fontsize=10)
    subjects = sorted(placed["subject"].astype(str).unique())
    colors = model_colors(subjects)
    for s in subjects:
        xyz = placed[placed["subject"].astype(str) == s][["x", "y", "z"]].to_numpy(dtype=float)
        display.add_markers(xyz, marker_color=[colors[s]], marker_size=14, alpha=0.8)
    if subject is None and len(subjects) > 1:
        fig.legend(
            handles=[Line2D([], [], marker="o", ls="", color=colors[s]) for s in subjects],
            labels=[f"sub-{s}" for s in subjects],
            loc="lower center",
            ncol=min(len(subjects), 10),
            frameon=False,
            fontsize=8,
        )
    return fig


def region_fractions(sites: pd.DataFrame, comparisons: pd.DataFrame | None = None) -> pd.DataFrame:
    """Fraction of multimodal electrodes per Desikan-Killiany region, test and alignment.

    Parameters
    ----------
    sites : DataFrame
        ``results/sites.csv`` (``subject, electrode, region, multimodal_<alignment>,
        slip_<alignment>, multimodal_strict``).
    comparisons : DataFrame, optional
        ``results/comparisons.csv``; adds the tests against MultiConcat and MultiLin (an
        electrode counts where model a wins: ``a_wins`` if present, else ``significant``).

    Returns
    -------
    fractions : DataFrame
        ``region, test, alignment, n_electrodes, n_multimodal, fraction`` (0-1) and ``strict``
        (the region holds an electrode multimodal under both alignments).
    """
    _require(sites, ["subject", "electrode", "region", "multimodal_strict"], "sites table")
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
        _require(
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


def plot_region_fractions(fractions: pd.DataFrame) -> Figure:
    """Bar charts of :func:`region_fractions`: one panel per test and alignment, side by side.

    Regions (rows, with their electrode count) are shared by all panels and sorted by their
    mean fraction; regions holding a strict site (multimodal under both alignments) carry a
    star, as in the study's figure. Bars are coloured like the study's maps (red 0, green 1).

    Returns
    -------
    fig : Figure
    """
    if fractions.empty:
        return _empty("Multimodal electrodes per region", "No site calls to show.")
    panels = list(dict.fromkeys(zip(fractions["test"], fractions["alignment"])))
    order = fractions.groupby("region")["fraction"].mean().sort_values().index.tolist()
    n_el = fractions.groupby("region")["n_electrodes"].max().reindex(order).fillna(0).astype(int)
    strict = fractions.groupby("region")["strict"].any().reindex(order).fillna(False)
    y = np.arange(len(order))
    fig, axes = plt.subplots(
        1,
        len(panels),
        figsize=(2.5 + 1.8 * len(panels), 1.4 + 0.2 * len(order)),
        squeeze=False,
        sharey=True,
    )
    for ax, (test, al) in zip(axes[0], panels):
        sel = fractions[(fractions["test"] == test) & (fractions["alignment"] == al)]
        frac = sel.set_index("region")["fraction"].reindex(order).fillna(0.0).to_numpy()
        ax.barh(y, frac, color=plt.cm.RdYlGn(frac), edgecolor="0.3", lw=0.4)
        stars = np.flatnonzero(strict.to_numpy(dtype=bool))
        ax.plot(frac[stars] + 0.06, y[stars], ls="", marker="*", color="#1b4f72", ms=7)
        ax.set_xlim(0, 1.1)
        ax.set_xticks([0, 0.5, 1])
        ax.set_title(f"{test}\n{al}-aligned", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(axis="x", color="0.9", lw=0.5)
        ax.set_axisbelow(True)
    axes[0, 0].set_yticks(y)
    axes[0, 0].set_yticklabels([f"{r} ({n})" for r, n in zip(order, n_el)], fontsize=7)
    axes[0, 0].set_ylim(-0.7, len(order) - 0.3)
    fig.supxlabel(
        "fraction of multimodal electrodes (region (n electrodes); \u2605 = region "
        "with a strict site: multimodal under both alignments)",
        fontsize=8,
    )
    fig.tight_layout()
    return fig


def plot_best_models(sites: pd.DataFrame, *, labels: dict | None = None) -> Figure:
    """Glass brains of multimodal sites coloured by their best multimodal model.

    One row per alignment; strict sites (multimodal under both alignments) get a bold outline.

    Parameters
    ----------
    sites : DataFrame
        ``results/sites.csv``.
    labels : dict, optional
        Display names for model ids.

    Returns
    -------
    fig : Figure
    """
    _require(sites, ["x", "y", "z", "multimodal_strict"], "sites table")
    labels = labels or {}
    placed = _localised(sites)
    strict = as_bool(placed["multimodal_strict"]).to_numpy()
    models = []
    for al in ALIGNMENTS:
        if f"best_model_{al}" in placed.columns:
            models += placed[f"best_model_{al}"].dropna().astype(str).tolist()
    colors = model_colors(models)
    fig = plt.figure(figsize=(9, 6.4))
    shown = set()
    for row, al in enumerate(ALIGNMENTS):
        rect = [0, 0.53 - 0.46 * row, 1, 0.4]
        display = _glass_brain(fig, rect)
        fig.text(0.5, rect[1] + rect[3] + 0.01, f"{al.capitalize()}-aligned", ha="center", fontsize=12)
        col_mm, col_best = f"multimodal_{al}", f"best_model_{al}"
        if col_mm not in placed.columns or col_best not in placed.columns:
            continue
        is_mm = as_bool(placed[col_mm]).to_numpy()
        for k in np.flatnonzero(is_mm):
            model = str(placed[col_best].iat[k])
            shown.add(model)
            display.add_markers(
                placed[["x", "y", "z"]].iloc[[k]].to_numpy(dtype=float),
                marker_color=[colors.get(model, "0.5")],
                marker_size=60 if strict[k] else 35,
                edgecolors="black",
                linewidths=2.5 if strict[k] else 0.4,
            )
    handles = [Line2D([], [], marker="o", ls="", color=colors[m], markeredgecolor="k") for m in sorted(shown)]
    handles.append(Line2D([], [], marker="o", ls="", color="white", markeredgecolor="k", markeredgewidth=2.5))
    fig.legend(
        handles=handles,
        labels=[labels.get(m, m) for m in sorted(shown)] + ["strict site"],
        loc="lower center",
        ncol=min(len(handles), 5),
        frameon=False,
        fontsize=8,
    )
    if not shown:
        fig.text(0.5, 0.5, "no multimodal sites", ha="center", fontsize=12, color="0.4")
    return fig


def top_sites(per_electrode: pd.DataFrame, *, n_top: int = 3) -> pd.DataFrame:
    """The ``n_top`` electrodes with the highest score for each model (and alignment)."""
    keys = [k for k in ("alignment", "model") if k in per_electrode.columns]
    ranked = per_electrode.dropna(subset=["score"]).sort_values("score", ascending=False)
    return ranked.groupby(keys, sort=True).head(n_top) if keys else ranked.head(n_top)


def plot_site_timecourses(
    scores: pd.DataFrame,
    *,
    alignment: str | None = None,
    sites: pd.DataFrame | None = None,
    n_top: int = 3,
    models=None,
    labels: dict | None = None,
) -> Figure:
    """Test r over time of the best electrodes of each model, with bootstrap bands.

    Parameters
    ----------
    scores : DataFrame, one row per (subject, model, electrode, bin)
        Stacked scores tables: ``subject, model, electrode, time_s`` (s from event onset),
        ``test_r`` and optionally ``boot_lo, boot_hi`` (95 % bootstrap interval) and
        ``alignment``.
    alignment : str, optional
        Keep only this alignment (required when ``scores`` holds several).
    sites : DataFrame, optional
        ``results/sites.csv``; when given, only multimodal sites under ``alignment`` (or either
        alignment) are candidates.
    n_top : int
        Electrodes per model.
    models : sequence of str, optional
        Show only these models (default: every model in ``scores``).
    labels : dict, optional
        Display names for model ids.

    Returns
    -------
    fig : Figure
    """
    _require(scores, ["model", "electrode", "time_s", "test_r"], "scores table")
    if models is not None:
        scores = scores[scores["model"].isin(list(models))]
    labels = labels or {}
    if "alignment" in scores.columns:
        present = sorted(scores["alignment"].dropna().unique())
        if alignment is None and len(present) > 1:
            raise ValueError(f"plot_site_timecourses: scores hold alignments {present}; pass alignment=.")
        if alignment is not None:
            scores = scores[scores["alignment"] == alignment]
    if "subject" not in scores.columns:
        scores = scores.assign(subject="")
    scores = scores.assign(subject=scores["subject"].astype(str), electrode=scores["electrode"].astype(str))
    if sites is not None:
        mm = multimodal_any(sites, [alignment] if alignment else ALIGNMENTS)
        keep = set(zip(sites["subject"].astype(str)[mm], sites["electrode"].astype(str)[mm]))
        scores = scores[[k in keep for k in zip(scores["subject"], scores["electrode"])]]
    title = "Test r over time, top sites per model" + (f" ({alignment}-aligned)" if alignment else "")
    if scores.empty:
        return _empty(title, "No sites with scores to show.")
    best = top_sites(electrode_scores(scores), n_top=n_top)
    models = sorted(best["model"].unique())
    ncol = min(4, len(models))
    nrow = int(np.ceil(len(models) / ncol))
    fig, axes = plt.subplots(
        nrow, ncol, figsize=(4 * ncol, 2.8 * nrow), squeeze=False, sharex=True, sharey=True
    )
    for ax in axes.flat[len(models) :]:
        ax.axis("off")
    for ax, model in zip(axes.flat, models):
        chosen = best[best["model"] == model]
        for k, (_, site) in enumerate(chosen.iterrows()):
            trace = scores[
                (scores["model"] == model)
                & (scores["subject"] == site["subject"])
                & (scores["electrode"] == site["electrode"])
            ].sort_values("time_s")
            color = plt.cm.tab10(k)
            name = f"sub-{site['subject']} {site['electrode']}" if site["subject"] else site["electrode"]
            ax.plot(
                trace["time_s"], trace["test_r"], color=color, lw=1.2, label=f"{name} (r={site['score']:.2f})"
            )
            if {"boot_lo", "boot_hi"} <= set(trace.columns):
                ax.fill_between(
                    trace["time_s"], trace["boot_lo"], trace["boot_hi"], color=color, alpha=0.2, lw=0
                )
        ax.axhline(0, color="0.6", lw=0.6)
        ax.axvline(0, color="0.6", lw=0.6, ls=":")
        ax.set_title(labels.get(model, model), fontsize=9)
        ax.legend(fontsize=6, frameon=False, loc="upper left")
    for ax in axes[-1]:
        ax.set_xlabel("time from event onset (s)")
    for ax in axes[:, 0]:
        ax.set_ylabel("test r")
    fig.suptitle(title + " (bands: 95 % bootstrap interval)", fontsize=10)
    fig.tight_layout()
    return fig


#: The calls the pipeline makes about an electrode, in the planted-vs-found figure.
SITE_CALLS = ("not a site", "multimodal, one alignment", "multimodal, both (strict)")


def called_sites(sites: pd.DataFrame) -> pd.Series:
    """What the pipeline called each electrode: one of :data:`SITE_CALLS`.

    The pipeline makes one claim about an electrode, multimodal or not (the site rule of
    :mod:`stats.sites`), under each alignment; it makes no claim that an electrode is a
    unimodal site (the best model of a non-site is only a description). So the demo's
    planted kinds are checked against exactly that claim.

    Parameters
    ----------
    sites : DataFrame
        ``results/sites.csv``.

    Returns
    -------
    calls : Series of str, aligned with ``sites``
    """
    strict = (
        as_bool(sites["multimodal_strict"]).to_numpy()
        if "multimodal_strict" in sites.columns
        else np.zeros(len(sites), dtype=bool)
    )
    weak = multimodal_any(sites)
    calls = np.where(strict, SITE_CALLS[2], np.where(weak, SITE_CALLS[1], SITE_CALLS[0]))
    return pd.Series(calls, index=sites.index, name="called")


def plot_planted_vs_found(truth: pd.DataFrame, sites: pd.DataFrame) -> Figure:
    """Demo check: the planted kind (truth.csv) against what the pipeline called the electrode.

    Parameters
    ----------
    truth : DataFrame
        ``data/demo/truth.csv``: ``subject, electrode, kind``.
    sites : DataFrame
        ``results/sites.csv``.

    Returns
    -------
    fig : Figure
    """
    _require(truth, ["subject", "electrode", "kind"], "truth table")
    called = sites[["subject", "electrode"]].assign(called=called_sites(sites).to_numpy())
    left = truth.assign(subject=truth["subject"].astype(str), electrode=truth["electrode"].astype(str))
    right = called.assign(subject=called["subject"].astype(str), electrode=called["electrode"].astype(str))
    merged = left.merge(right, on=["subject", "electrode"], how="left")
    merged["called"] = merged["called"].fillna("not analysed")
    cols = list(SITE_CALLS) + (["not analysed"] if (merged["called"] == "not analysed").any() else [])
    mat = pd.crosstab(merged["kind"], merged["called"]).reindex(index=list(KINDS), columns=cols, fill_value=0)
    fig, ax = plt.subplots(figsize=(1.6 * len(cols) + 2, 4))
    ax.imshow(
        mat.to_numpy() / np.maximum(mat.to_numpy().sum(1, keepdims=True), 1), cmap="Blues", vmin=0, vmax=1
    )
    for (i, j), v in np.ndenumerate(mat.to_numpy()):
        ax.text(j, i, str(v), ha="center", va="center", fontsize=10)
    ax.set_xticks(range(len(cols)), [c.replace(", ", ",\n") for c in cols])
    ax.set_yticks(range(len(KINDS)), KINDS)
    ax.set_xlabel("called by the pipeline")
    ax.set_ylabel("planted kind")
    ax.set_title("Demo: planted vs found (counts; shade = row fraction)")
    fig.tight_layout()
    return fig


def study_figures(
    sites: pd.DataFrame,
    comparisons: pd.DataFrame,
    electrodes: pd.DataFrame,
    scores: pd.DataFrame | None = None,
    *,
    twins: dict | None = None,
    truth: pd.DataFrame | None = None,
    labels: dict | None = None,
    dpi: int | None = 100,
) -> dict:
    """Every figure of the study page, rendered to PNG.

    Parameters
    ----------
    sites, comparisons, electrodes : DataFrame
        ``results/sites.csv``, ``results/comparisons.csv``, ``results/electrodes.csv``.
    scores : DataFrame, optional
        Stacked scores tables with ``subject, alignment, model`` columns added; without it the
        violins and time courses are left out.
    twins : dict, optional
        Trained model -> random twin (for the violins).
    truth : DataFrame, optional
        ``data/demo/truth.csv``: adds the demo's planted-vs-found figure.
    labels : dict, optional
        Display names for model ids.
    dpi : int or None
        Resolution; None returns the Figures themselves instead of PNG bytes.

    Returns
    -------
    figures : dict of str to bytes
        Name -> PNG bytes, in the order the page shows them (file stems for
        ``reports/figures/<name>.png``).
    """
    figs = {"coverage": plot_coverage(electrodes)}
    if scores is not None and twins:
        figs["trained_vs_random"] = plot_trained_vs_random(scores, twins, labels=labels)
    figs["multimodal_by_region"] = plot_region_fractions(region_fractions(sites, comparisons))
    figs["best_multimodal_model"] = plot_best_models(sites, labels=labels)
    if scores is not None:
        present = set(scores["alignment"]) if "alignment" in scores.columns else {None}
        # random twins have no sites worth showing; they are in the violins
        shown = [m for m in dict.fromkeys(scores["model"]) if m not in set((twins or {}).values())]
        for al in [a for a in ALIGNMENTS if a in present] or [None]:
            name = f"timecourses_{al}" if al else "timecourses"
            figs[name] = plot_site_timecourses(scores, alignment=al, sites=sites, models=shown, labels=labels)
    if truth is not None:
        figs["planted_vs_found"] = plot_planted_vs_found(truth, sites)
    if dpi is None:
        return figs
    return {name: figure_to_png(fig, dpi=dpi) for name, fig in figs.items()}


def subject_figures(
    subject,
    sites: pd.DataFrame,
    electrodes: pd.DataFrame,
    scores: pd.DataFrame | None = None,
    *,
    labels: dict | None = None,
    dpi: int = 100,
) -> dict:
    """The figures of one subject's page, rendered to PNG.

    Parameters
    ----------
    subject : int or str
    sites, electrodes : DataFrame
        Study-wide tables (other subjects' rows are ignored).
    scores : DataFrame, optional
        Stacked scores tables (``subject, alignment, model, electrode, time_s, test_r, ...``).
    labels : dict, optional
    dpi : int

    Returns
    -------
    figures : dict of str to bytes
        ``coverage`` and, with scores, ``timecourses_<alignment>`` of the subject's sites.
    """
    sid = str(subject)
    figs = {"coverage": plot_coverage(electrodes, subject=subject)}
    if scores is not None and "subject" in scores.columns:
        mine = scores[scores["subject"].astype(str) == sid]
        own_sites = sites[sites["subject"].astype(str) == sid]
        present = set(mine["alignment"]) if "alignment" in mine.columns else {None}
        for al in [a for a in ALIGNMENTS if a in present]:
            figs[f"timecourses_{al}"] = plot_site_timecourses(
                mine, alignment=al, sites=own_sites, labels=labels
            )
    return {name: figure_to_png(fig, dpi=dpi) for name, fig in figs.items()}

"""Figures of the study: coverage, trained vs random, regions, best models, time courses, and
the comparison of the response kinds.

Every ``plot_*`` function takes result tables (the contracts of ``docs/architecture.md``),
reduces them with :mod:`mmsites.reports.tables` and returns a
:class:`matplotlib.figure.Figure`; the caller saves it, or inlines it with
:func:`figure_to_png`. Glass brains come from nilearn, whose MNI template ships inside the
package (no network).
"""

from __future__ import annotations

import io
import itertools
import logging
from collections.abc import Iterable, Sequence

import matplotlib

matplotlib.use("Agg")  # headless: figures are rendered to files / bytes only
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

from mmsites.constants import ALIGNMENTS  # noqa: E402
from mmsites.reports.tables import (  # noqa: E402
    as_bool,
    localised,
    multimodal_any,
    planted_vs_found,
    region_fractions,
    require_columns,
    top_sites,
)

logger = logging.getLogger(__name__)

TRAINED_COLOR, RANDOM_COLOR = "#4C72B0", "#DD8452"  # the study's violin colours

#: Display names of the response kinds (``responses.kinds``).
KIND_LABELS = {
    "voltage": "voltage",
    "band_power": "high-gamma power",
    "spectrogram": "spectrogram",
    "brainbert": "BrainBERT",
    "popt": "PopT (frozen)",
    "popt_finetuned": "PopT (fine-tuned)",
}
#: Colours of the response kinds in :func:`plot_response_kinds` (others: tab10, in order).
KIND_COLORS = {
    "voltage": "#4C72B0",
    "band_power": "#DD8452",
    "spectrogram": "#8172B3",
    "brainbert": "#55A868",
    "popt": "#C44E52",
    "popt_finetuned": "#937860",
}
#: Marker of each decoding split scheme (:func:`plot_decoding`).
SPLIT_MARKERS = {"within_session": "o", "cross_session": "s", "cross_subject": "^"}


def figure_to_png(fig: Figure, *, dpi: int = 100, close: bool = True) -> bytes:
    """Render a figure to PNG bytes (for a file, or inlined in HTML).

    Parameters
    ----------
    fig : Figure
        The figure to render, cropped to its content on a white background.
    dpi : int
        Resolution in dots per inch.
    close : bool
        Close the figure afterwards to free its memory.

    Returns
    -------
    bytes
        The PNG file's bytes (they start with ``b"\\x89PNG"``).
    """
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight", facecolor="white")
    if close:
        plt.close(fig)
    return buf.getvalue()


def model_colors(models: Iterable) -> dict:
    """Give each name a stable colour, by its rank among the sorted distinct names.

    Parameters
    ----------
    models : iterable
        Model ids (or other labels, e.g. subjects as str); non-strings and empty strings are
        ignored, repeats count once.

    Returns
    -------
    dict of str to tuple
        Name -> RGBA colour, from the tab10 palette (tab20 beyond 10 names, cycling beyond 20).
    """
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


def plot_trained_vs_random(
    per_electrode: pd.DataFrame, twins: dict, *, labels: dict | None = None, unit: str = "bins"
) -> Figure:
    """Draw violins of per-electrode r, each trained model beside its random twin.

    Parameters
    ----------
    per_electrode : DataFrame
        One row per (subject, alignment, model, electrode): ``model`` and ``score`` (the
        electrode score of :func:`mmsites.stats.compare.electrode_scores`, mean test r over
        the signal bins, computed by the report stage). Electrodes with a NaN score are left
        out.
    twins : dict of str to str
        Trained model id -> its randomly initialised twin's id; pairs with no scores at all
        are left out.
    labels : dict of str to str, optional
        Display names for model ids (default: the ids).
    unit : str
        What an electrode's targets are, for the axis label: ``"bins"`` (time-resolved
        responses) or ``"components"`` (BrainBERT embeddings).

    Returns
    -------
    Figure
        One pair of violins per trained model (a dot where a model has one distinct value),
        or a figure saying that no pair has scores.
    """
    scores = per_electrode
    require_columns(scores, ["model", "score"], "per-electrode scores")
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
    ax.set_ylabel(f"Pearson r (mean over signal {unit})")
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
    """Draw the electrode positions on a glass brain, coloured by subject.

    Parameters
    ----------
    electrodes : DataFrame
        ``results/electrodes.csv``: ``subject, electrode, x, y, z`` (MNI mm) at least.
        Electrodes without finite coordinates are counted in the title, not drawn.
    subject : int or str, optional
        Show only this subject (compared as str with the ``subject`` column).

    Returns
    -------
    Figure
        Left, frontal and right views (nilearn ``lzr``), one marker per electrode.
    """
    require_columns(electrodes, ["subject", "electrode", "x", "y", "z"], "electrode table")
    table = electrodes
    if subject is not None:
        table = table[table["subject"].astype(str) == str(subject)]
    placed = localised(table)
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


def plot_region_fractions(fractions: pd.DataFrame) -> Figure:
    """Draw bar charts of region fractions: one panel per test and alignment, side by side.

    Regions (rows, with their electrode count) are shared by all panels and sorted by their
    mean fraction; regions holding a strict site (multimodal under both alignments) carry a
    star, as in the study's figure. Bars are coloured like the study's maps (red 0, green 1).

    Parameters
    ----------
    fractions : DataFrame
        :func:`mmsites.reports.tables.region_fractions` output: ``region, test, alignment,
        n_electrodes, fraction, strict``.

    Returns
    -------
    Figure
        The bar charts, or a figure saying there are no site calls when ``fractions`` is empty.
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
    """Draw the multimodal sites on glass brains, coloured by their best multimodal model.

    One row per alignment; strict sites (multimodal under both alignments) get a bold outline.

    Parameters
    ----------
    sites : DataFrame
        ``results/sites.csv``: ``x, y, z`` (MNI mm), ``multimodal_strict`` and, per
        alignment, ``multimodal_<alignment>`` and ``best_model_<alignment>``. Sites without
        finite coordinates are not drawn.
    labels : dict of str to str, optional
        Display names for model ids (default: the ids).

    Returns
    -------
    Figure
        Two rows of glass brains (language-, then vision-aligned) with a legend of the models
        shown.
    """
    require_columns(sites, ["x", "y", "z", "multimodal_strict"], "sites table")
    labels = labels or {}
    placed = localised(sites)
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


def plot_site_timecourses(
    scores: pd.DataFrame,
    per_electrode: pd.DataFrame,
    *,
    alignment: str | None = None,
    sites: pd.DataFrame | None = None,
    n_top: int = 3,
    models: Sequence[str] | None = None,
    labels: dict | None = None,
) -> Figure:
    """Draw test r over time of the best electrodes of each model, with bootstrap bands.

    Electrodes are ranked by their electrode score (``per_electrode``).

    Parameters
    ----------
    scores : DataFrame, one row per (subject, model, electrode, bin)
        Stacked scores tables: ``subject, model, electrode, time_s`` (s from event onset),
        ``test_r``, ``signal`` and optionally ``boot_lo, boot_hi`` (95 % bootstrap interval
        of test r) and ``alignment``.
    per_electrode : DataFrame, one row per (subject, model, electrode)
        The same keys (and ``alignment`` when ``scores`` has it) with ``score``, the
        electrode score of :func:`mmsites.stats.compare.electrode_scores` (mean test r over
        the signal bins), computed by the report stage.
    alignment : str, optional
        Keep only this alignment (required when ``scores`` holds several).
    sites : DataFrame, optional
        ``results/sites.csv``; when given, only multimodal sites under ``alignment`` (or either
        alignment) are candidates.
    n_top : int
        Electrodes per model: the ``n_top`` highest scores.
    models : sequence of str, optional
        Show only these models (default: every model in ``scores``).
    labels : dict of str to str, optional
        Display names for model ids (default: the ids).

    Returns
    -------
    Figure
        One panel per model (up to 4 per row), one line per chosen electrode; or a figure
        saying there is nothing to show.

    Raises
    ------
    ValueError
        When ``scores`` holds several alignments and ``alignment`` is not given, or lacks a
        needed column.
    """
    require_columns(scores, ["model", "electrode", "time_s", "test_r"], "scores table")
    require_columns(per_electrode, ["model", "electrode", "score"], "per-electrode scores")
    labels = labels or {}
    if "alignment" in scores.columns:
        present = sorted(scores["alignment"].dropna().unique())
        if alignment is None and len(present) > 1:
            raise ValueError(f"plot_site_timecourses: scores hold alignments {present}; pass alignment=.")
    keep = None
    if sites is not None:
        mm = multimodal_any(sites, [alignment] if alignment else ALIGNMENTS)
        keep = set(zip(sites["subject"].astype(str)[mm], sites["electrode"].astype(str)[mm]))

    def _select(table: pd.DataFrame) -> pd.DataFrame:
        # the same rows of both tables: models, alignment, candidate sites
        if models is not None:
            table = table[table["model"].isin(list(models))]
        if alignment is not None and "alignment" in table.columns:
            table = table[table["alignment"] == alignment]
        if "subject" not in table.columns:
            table = table.assign(subject="")
        table = table.assign(subject=table["subject"].astype(str), electrode=table["electrode"].astype(str))
        if keep is not None:
            table = table[[k in keep for k in zip(table["subject"], table["electrode"])]]
        return table

    scores = _select(scores)
    title = "Test r over time, top sites per model" + (f" ({alignment}-aligned)" if alignment else "")
    if scores.empty:
        return _empty(title, "No sites with scores to show.")
    best = top_sites(_select(per_electrode), n_top=n_top)
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


def plot_planted_vs_found(truth: pd.DataFrame, sites: pd.DataFrame) -> Figure:
    """Draw the demo check: each planted kind against what the pipeline called the electrode.

    Parameters
    ----------
    truth : DataFrame
        ``data/demo/truth.csv``: ``subject, electrode, kind``; every kind it holds gets a row
        (``linear`` included), in the order of
        :func:`mmsites.reports.tables.planted_kinds`.
    sites : DataFrame
        ``results/sites.csv``: the ``multimodal_<alignment>`` and ``multimodal_strict`` flags.

    Returns
    -------
    Figure
        The counts of :func:`mmsites.reports.tables.planted_vs_found` as a matrix (planted
        kind × call), shaded by row fraction.
    """
    mat = planted_vs_found(truth, sites)
    kinds, cols = list(mat.index), list(mat.columns)
    counts = mat.to_numpy()
    fig, ax = plt.subplots(figsize=(1.6 * len(cols) + 2, max(4.0, 0.7 * len(kinds) + 1.2)))
    shade = counts / np.maximum(counts.sum(1, keepdims=True), 1)
    ax.imshow(shade, cmap="Blues", vmin=0, vmax=1, aspect="auto")
    for (i, j), v in np.ndenumerate(counts):
        color = "white" if shade[i, j] > 0.6 else "black"
        ax.text(j, i, str(v), ha="center", va="center", fontsize=10, color=color)
    ax.set_xticks(range(len(cols)), [c.replace(", ", ",\n") for c in cols])
    ax.set_yticks(range(len(kinds)), kinds)
    ax.set_xlabel("called by the pipeline")
    ax.set_ylabel("planted kind")
    ax.set_title("Demo: planted vs found (counts; shade = row fraction)")
    fig.tight_layout()
    return fig


def kind_label(kind: str) -> str:
    """Display name of a response kind.

    Parameters
    ----------
    kind : str
        A response kind of ``responses.kinds`` (``voltage``, ``band_power``, ``spectrogram``,
        ``brainbert``).

    Returns
    -------
    str
        Its name in figures and pages (:data:`KIND_LABELS`: ``"high-gamma power"`` for
        ``band_power``, ``"BrainBERT"`` for ``brainbert``); an unknown kind as it is spelled.
    """
    return KIND_LABELS.get(kind, str(kind))


def response_kind_bars(
    per_electrode: pd.DataFrame, *, n_models: int = 6, kinds: Sequence[str] | None = None
) -> pd.DataFrame:
    """The numbers :func:`plot_response_kinds` draws: per alignment, model and kind.

    Parameters
    ----------
    per_electrode : DataFrame, one row per (response kind, subject, alignment, model, electrode)
        The report stage's electrode scores of every kind: ``response_kind, alignment, model,
        score`` (mean test r over the electrode's signal targets, NaN without any) and
        optionally ``n_signal_bins`` (signal targets; without it, a finite ``score`` means
        signal).
    n_models : int
        How many models to keep: those with the highest mean electrode score over every
        kind, alignment and electrode, NaN counted as 0 (no signal: no prediction); ties
        keep the table's order.
    kinds : sequence of str, optional
        The kinds, in order (default: the order of appearance in ``per_electrode``).

    Returns
    -------
    DataFrame, one row per (alignment, model, kind)
        ``alignment`` (language, vision, then any other, in order of appearance), ``model``
        (best first), ``response_kind``, ``n_electrodes``, ``mean_score`` (mean over the
        electrodes of ``score`` with NaN as 0; NaN when the kind has no rows for the model)
        and ``fraction_signal`` (fraction of those electrodes with any signal target).

    Raises
    ------
    ValueError
        When ``per_electrode`` lacks a needed column.
    """
    require_columns(per_electrode, ["response_kind", "alignment", "model", "score"], "per-electrode scores")
    columns = ["alignment", "model", "response_kind", "n_electrodes", "mean_score", "fraction_signal"]
    if per_electrode.empty:
        return pd.DataFrame(columns=columns)
    table = per_electrode.assign(
        filled=pd.to_numeric(per_electrode["score"], errors="coerce").fillna(0.0),
        has_signal=(
            per_electrode["n_signal_bins"].fillna(0).to_numpy() > 0
            if "n_signal_bins" in per_electrode.columns
            else per_electrode["score"].notna().to_numpy()
        ),
    )
    overall = table.groupby("model", sort=False)["filled"].mean()
    ranked = sorted(overall.index, key=lambda m: -overall[m])  # stable: ties keep their order
    models = ranked[:n_models]
    kinds = list(kinds) if kinds is not None else list(dict.fromkeys(table["response_kind"]))
    present = list(dict.fromkeys(table["alignment"]))
    alignments = [a for a in ALIGNMENTS if a in present] + [a for a in present if a not in ALIGNMENTS]
    groups = table.groupby(["alignment", "model", "response_kind"], sort=False)
    stats = groups.agg(
        n_electrodes=("filled", "size"), mean_score=("filled", "mean"), fraction_signal=("has_signal", "mean")
    )
    rows = []
    for al in alignments:
        for model in models:
            for kind in kinds:
                key = (al, model, kind)
                if key in stats.index:
                    got = stats.loc[key]
                    rows.append((*key, int(got["n_electrodes"]), got["mean_score"], got["fraction_signal"]))
                else:
                    rows.append((*key, 0, np.nan, np.nan))
    return pd.DataFrame(rows, columns=columns)


def plot_response_kinds(
    per_electrode: pd.DataFrame,
    *,
    n_models: int = 6,
    kinds: Sequence[str] | None = None,
    subject=None,
    labels: dict | None = None,
) -> Figure:
    """Compare the response kinds for the best models: grouped bars, one panel per alignment.

    Each bar is the mean electrode score of one model and kind, an electrode without signal
    counting as 0 (no prediction); the percentage above it is the fraction of electrodes that
    have any signal target (bin or component). The numbers are
    :func:`response_kind_bars`'s.

    Parameters
    ----------
    per_electrode : DataFrame, one row per (response kind, subject, alignment, model, electrode)
        The report stage's electrode scores (``electrode_table`` output) of every kind,
        concatenated with a ``response_kind`` column: ``response_kind, subject, alignment,
        model, electrode, score, n_signal_bins``.
    n_models : int
        Models shown: those with the highest mean electrode score over every kind (NaN as 0),
        baselines included.
    kinds : sequence of str, optional
        The kinds, in the order of the bars (default: the order of appearance).
    subject : int or str, optional
        Show only this subject's electrodes (compared as str with the ``subject`` column).
    labels : dict of str to str, optional
        Display names for model ids (default: the ids).

    Returns
    -------
    Figure
        One panel per alignment: x = model, one bar per kind (a kind without scores for a
        model gets no bar, marked "n/a"), legend of the kinds (:func:`kind_label`); or a figure
        saying there are no scores.

    Raises
    ------
    ValueError
        When ``per_electrode`` lacks a needed column.
    """
    require_columns(per_electrode, ["response_kind", "alignment", "model", "score"], "per-electrode scores")
    labels = labels or {}
    table = per_electrode
    who = ""
    if subject is not None:
        require_columns(table, ["subject"], "per-electrode scores")
        table = table[table["subject"].astype(str) == str(subject)]
        who = f", sub-{subject}"
    title = "Response kinds compared: mean electrode r of the best models" + who
    bars = response_kind_bars(table, n_models=n_models, kinds=kinds)
    if bars.empty:
        return _empty(title, "No electrode scores to compare.")
    kinds = list(dict.fromkeys(bars["response_kind"]))
    models = list(dict.fromkeys(bars["model"]))
    alignments = list(dict.fromkeys(bars["alignment"]))
    palette = itertools.cycle(plt.cm.tab10.colors[3:])
    colors = {k: KIND_COLORS.get(k) or next(palette) for k in kinds}
    width = 0.8 / len(kinds)
    fig, axes = plt.subplots(
        1,
        len(alignments),
        figsize=(max(6.0, (0.35 + 0.3 * len(kinds)) * len(models) * len(alignments) + 3), 4.6),
        squeeze=False,
        sharey=True,
    )
    x = np.arange(len(models))
    rotation = 90 if len(kinds) > 2 else 0  # narrow bars: the percentages stand upright
    for ax, al in zip(axes[0], alignments):
        for j, kind in enumerate(kinds):
            sel = bars[(bars["alignment"] == al) & (bars["response_kind"] == kind)].set_index("model")
            sel = sel.reindex(models)
            heights = sel["mean_score"].to_numpy(dtype=float)
            pos = x + (j - (len(kinds) - 1) / 2) * width
            ax.bar(
                pos,
                np.nan_to_num(heights),
                width=width * 0.95,
                color=colors[kind],
                edgecolor="0.3",
                lw=0.4,
                label=kind_label(kind),
            )
            for p, h, f in zip(pos, heights, sel["fraction_signal"].to_numpy(dtype=float)):
                text = "n/a" if np.isnan(h) else f"{100 * f:.0f}%"
                top = max(float(np.nan_to_num(h)), 0.0)
                ax.text(p, top, text, ha="center", va="bottom", fontsize=7, rotation=rotation)
        ax.axhline(0, color="0.5", lw=0.6)
        ax.set_xticks(x)
        ax.set_xticklabels([labels.get(m, m) for m in models], rotation=30, ha="right", fontsize=8)
        ax.set_title(f"{al.capitalize()}-aligned", fontsize=10)
        ax.margins(y=0.2)
        ax.spines[["top", "right"]].set_visible(False)
    axes[0, 0].set_ylabel("mean electrode r (no signal = 0)")
    axes[0, -1].legend(
        title="responses",
        frameon=False,
        fontsize=8,
        title_fontsize=8,
        loc="upper left",
        bbox_to_anchor=(1.0, 1.0),
    )
    fig.suptitle(title, fontsize=10)
    fig.text(
        0.5,
        -0.02,
        "above each bar: % of electrodes with any signal bin"
        + (" (signal component for BrainBERT)" if "brainbert" in kinds else ""),
        ha="center",
        fontsize=8,
        color="0.3",
    )
    fig.tight_layout()
    return fig


def _require_per_electrode(scores, per_electrode) -> None:
    if scores is not None and per_electrode is None:
        raise ValueError("scores given without per_electrode: pass the electrode scores of the scores table")


def study_figures(
    sites: pd.DataFrame,
    comparisons: pd.DataFrame,
    electrodes: pd.DataFrame,
    scores: pd.DataFrame | None = None,
    per_electrode: pd.DataFrame | None = None,
    *,
    twins: dict | None = None,
    truth: pd.DataFrame | None = None,
    labels: dict | None = None,
    dpi: int | None = 100,
    timecourses: bool = True,
    unit: str = "bins",
) -> dict:
    """Draw every figure of the study page, rendered to PNG.

    Parameters
    ----------
    sites : DataFrame
        ``results/sites.csv``.
    comparisons : DataFrame
        ``results/comparisons.csv`` (for the region fractions of the baseline tests).
    electrodes : DataFrame
        ``results/electrodes.csv``.
    scores : DataFrame, optional
        Stacked scores tables, one row per (subject, alignment, model, electrode, bin), with
        ``signal``; without it the violins and time courses are left out.
    per_electrode : DataFrame, optional
        The electrode scores of ``scores`` (one row per subject, alignment, model, electrode;
        ``score``), required with ``scores``.
    twins : dict of str to str, optional
        Trained model id -> its random twin's id: adds the violins; twins get no time courses.
    truth : DataFrame, optional
        ``data/demo/truth.csv``: adds the demo's planted-vs-found figure.
    labels : dict of str to str, optional
        Display names for model ids.
    dpi : int or None
        Resolution in dots per inch; None returns the Figures themselves instead of PNG
        bytes.
    timecourses : bool
        Draw the time courses (with ``scores``); False for responses without one target per
        time bin (the BrainBERT embeddings' components, a spectrogram's band x bin targets).
    unit : str
        What an electrode's targets are (``"bins"`` or ``"components"``), for the labels.

    Returns
    -------
    dict of str to bytes (or to Figure when ``dpi`` is None)
        Name -> PNG bytes, in the order the page shows them: ``coverage``,
        ``trained_vs_random``, ``multimodal_by_region``, ``best_multimodal_model``,
        ``timecourses_<alignment>``, ``planted_vs_found`` (those that apply). The names are
        the file stems the report stage writes (``results/report/figures/<name>.png``).
    """
    _require_per_electrode(scores, per_electrode)
    figs = {"coverage": plot_coverage(electrodes)}
    if scores is not None and twins:
        figs["trained_vs_random"] = plot_trained_vs_random(per_electrode, twins, labels=labels, unit=unit)
    figs["multimodal_by_region"] = plot_region_fractions(region_fractions(sites, comparisons))
    figs["best_multimodal_model"] = plot_best_models(sites, labels=labels)
    if scores is not None and timecourses:
        present = set(scores["alignment"]) if "alignment" in scores.columns else {None}
        # random twins have no sites worth showing; they are in the violins
        shown = [m for m in dict.fromkeys(scores["model"]) if m not in set((twins or {}).values())]
        for al in [a for a in ALIGNMENTS if a in present] or [None]:
            name = f"timecourses_{al}" if al else "timecourses"
            figs[name] = plot_site_timecourses(
                scores, per_electrode, alignment=al, sites=sites, models=shown, labels=labels
            )
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
    per_electrode: pd.DataFrame | None = None,
    *,
    labels: dict | None = None,
    dpi: int = 100,
    timecourses: bool = True,
) -> dict:
    """Draw the figures of one subject's page, rendered to PNG.

    Parameters
    ----------
    subject : int or str
        Subject id as in the tables' ``subject`` column (compared as str).
    sites : DataFrame
        Study-wide ``results/sites.csv`` (other subjects' rows are ignored).
    electrodes : DataFrame
        Study-wide ``results/electrodes.csv`` (other subjects' rows are ignored).
    scores : DataFrame, optional
        Stacked scores tables (``subject, alignment, model, electrode, time_s, test_r,
        signal, ...``); without it, or without a ``subject`` column, no time courses.
    per_electrode : DataFrame, optional
        The electrode scores of ``scores`` (``score`` per subject, alignment, model,
        electrode), required with ``scores``.
    labels : dict of str to str, optional
        Display names for model ids.
    dpi : int
        Resolution in dots per inch.
    timecourses : bool
        Draw the time courses (with ``scores``); False for responses without one target per
        time bin (the BrainBERT embeddings' components, a spectrogram's band x bin targets).

    Returns
    -------
    dict of str to bytes
        Name -> PNG bytes: ``coverage`` and, with scores and ``timecourses``,
        ``timecourses_<alignment>`` of the subject's multimodal sites, one per alignment
        present.
    """
    _require_per_electrode(scores, per_electrode)
    sid = str(subject)
    figs = {"coverage": plot_coverage(electrodes, subject=subject)}
    if scores is not None and timecourses and "subject" in scores.columns:
        mine = scores[scores["subject"].astype(str) == sid]
        own_sites = sites[sites["subject"].astype(str) == sid]
        present = set(mine["alignment"]) if "alignment" in mine.columns else {None}
        for al in [a for a in ALIGNMENTS if a in present]:
            figs[f"timecourses_{al}"] = plot_site_timecourses(
                mine, per_electrode, alignment=al, sites=own_sites, labels=labels
            )
    return {name: figure_to_png(fig, dpi=dpi) for name, fig in figs.items()}


#: Columns :func:`plot_decoding` reads (``results/decoding.csv``).
DECODING_COLUMNS = ("subject", "task", "representation", "auc", "auc_lo", "auc_hi")


def plot_decoding(table: pd.DataFrame, *, subject=None) -> Figure:
    """Decoding AUC with its interval, per task and representation (``results/decoding.csv``).

    Parameters
    ----------
    table : DataFrame
        One row per (subject, task, split, representation) with ``auc``, ``auc_lo``,
        ``auc_hi`` (:func:`mmsites.decoding.decoding_table`).
    subject : int or str, optional
        Draw this subject only (compared as str); default one panel per subject.

    Returns
    -------
    Figure
        Per subject a panel: one row per task, a point (AUC) and bar (interval) per
        representation and split scheme (colour: the representation, marker: the scheme,
        :data:`SPLIT_MARKERS`; a cross-subject row sits under its test subject); a dashed line
        at chance (0.5). A row whose interval lies above 0.5 is decoded above chance.
    """
    if table is None or table.empty:
        return _empty("Decoding", "no decoding results (results/decoding.csv is empty)")
    require_columns(table, DECODING_COLUMNS, "the decoding table")
    if subject is not None:
        table = table[table["subject"].astype(str) == str(subject)]
        if table.empty:
            return _empty("Decoding", f"no decoding results for sub-{subject}")
    subjects = list(dict.fromkeys(table["subject"].astype(str)))
    tasks = list(dict.fromkeys(table["task"]))
    reps = list(dict.fromkeys(table["representation"]))
    split_of = table["split"] if "split" in table else pd.Series("within_session", index=table.index)
    series = list(dict.fromkeys(zip(table["representation"], split_of)))
    fig, axes = plt.subplots(
        1,
        len(subjects),
        figsize=(4.5 * len(subjects) + 2.5, 0.45 * len(tasks) * len(series) ** 0.5 + 1.8),
        sharey=True,
        squeeze=False,
    )
    colors = {r: KIND_COLORS.get(r, f"C{k}") for k, r in enumerate(reps)}
    step = 0.7 / max(1, len(series))
    for ax, sid in zip(axes[0], subjects):
        mine = table["subject"].astype(str) == sid
        for k, (rep, split) in enumerate(series):
            part = table[mine & (table["representation"] == rep) & (split_of == split)]
            y = np.array([tasks.index(t) for t in part["task"]]) + (k - (len(series) - 1) / 2) * step
            auc = part["auc"].to_numpy(float)
            err = np.vstack([auc - part["auc_lo"].to_numpy(float), part["auc_hi"].to_numpy(float) - auc])
            label = kind_label(rep) + ("" if split == "within_session" else f" ({split.replace('_', '-')})")
            ax.errorbar(
                auc,
                y,
                xerr=np.clip(err, 0, None),
                fmt=SPLIT_MARKERS.get(split, "D"),
                ms=4,
                capsize=2,
                color=colors[rep],
                label=label,
            )
        ax.axvline(0.5, color="0.4", ls="--", lw=1)
        ax.set_title(f"sub-{sid}")
        ax.set_xlabel("test ROC-AUC (95 % interval)")
        ax.set_xlim(0.2, 1.0)
    axes[0][0].set_yticks(range(len(tasks)), tasks)
    axes[0][0].invert_yaxis()
    axes[0][-1].legend(title="representation", loc="upper left", bbox_to_anchor=(1.02, 1), frameon=False)
    fig.suptitle("Decoding from the recordings (dashed: chance)")
    fig.tight_layout()
    return fig

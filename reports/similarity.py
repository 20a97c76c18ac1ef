"""The similarity page: model x model and model x brain CKA/RSA, and layer profiles.

Figures take the tables of the ``similarity`` stage (``results/similarity_models.csv``:
``alignment, model_a, layer_a, depth_a, model_b, layer_b, depth_b, measure, value, n_events``;
``results/similarity_brain.csv``: ``response_kind, subject, alignment, region,
window_start_s, window_end_s, n_electrodes, model, layer, depth, measure, value, p_value,
q_value, n_permutations, n_events``) and return matplotlib figures;
:func:`render_similarity` writes the page with the conventions of :mod:`mmsites.reports.html`.
Nothing is read from files here.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # headless: figures are rendered to bytes only
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from mmsites.reports.figures import _empty, kind_label, model_colors  # noqa: E402
from mmsites.reports.html import _esc, _figures_html, _page, html_table  # noqa: E402
from mmsites.reports.tables import require_columns  # noqa: E402

__all__ = [
    "MODEL_TABLE_COLUMNS",
    "BRAIN_TABLE_COLUMNS",
    "plot_model_similarity",
    "plot_brain_similarity",
    "plot_layer_profiles",
    "similarity_figures",
    "render_similarity",
]

MODEL_TABLE_COLUMNS = (
    "alignment",
    "model_a",
    "layer_a",
    "depth_a",
    "model_b",
    "layer_b",
    "depth_b",
    "measure",
    "value",
)
BRAIN_TABLE_COLUMNS = (
    "response_kind",
    "subject",
    "alignment",
    "region",
    "window_start_s",
    "window_end_s",
    "model",
    "layer",
    "depth",
    "measure",
    "value",
    "q_value",
)


def _rep_order(table: pd.DataFrame, model: str, layer: str, depth: str) -> list[tuple]:
    """(model, layer) pairs: models in order of appearance, each model's layers by depth."""
    reps = table[[model, layer, depth]].drop_duplicates([model, layer])
    models = list(dict.fromkeys(reps[model]))
    reps = reps.assign(_m=reps[model].map(models.index), _d=reps[depth].fillna(1.0))
    return list(zip(*reps.sort_values(["_m", "_d"], kind="stable")[[model, layer]].T.to_numpy()))


def _rep_label(model: str, layer: str) -> str:
    short = layer if len(layer) <= 28 else "…" + layer[-27:]
    return model if layer == "output" else f"{model} / {short}"


def _first(table: pd.DataFrame, column: str, value=None):
    return value if value is not None else next(iter(dict.fromkeys(table[column])))


def plot_model_similarity(table: pd.DataFrame, *, measure: str | None = None) -> Figure:
    """Model x model similarity heat map, one panel per alignment.

    Parameters
    ----------
    table : DataFrame
        ``results/similarity_models.csv``.
    measure : str, optional
        Which measure (``cka_debiased``, ``rsa_correlation_spearman``, ...); default the
        first in the table.

    Returns
    -------
    Figure
        Rows and columns are the (model, layer)s, each model's layers in depth order; colour
        is the value (1 on the diagonal), the value printed in each cell when they are few.
    """
    if table is None or table.empty:
        return _empty("Model x model similarity", "no model x model results (similarity stage off or empty)")
    require_columns(table, MODEL_TABLE_COLUMNS, "the model x model similarity table")
    measure = _first(table, "measure", measure)
    table = table[table["measure"] == measure]
    alignments = list(dict.fromkeys(table["alignment"]))
    reps = _rep_order(table, "model_a", "layer_a", "depth_a")
    size = 0.45 * len(reps) + 2.5
    fig, axes = plt.subplots(1, len(alignments), figsize=(size * len(alignments) + 1, size), squeeze=False)
    for ax, alignment in zip(axes[0], alignments):
        part = table[table["alignment"] == alignment]
        values = part.set_index(["model_a", "layer_a", "model_b", "layer_b"])["value"]
        M = np.array([[values.get((*a, *b), np.nan) for b in reps] for a in reps], dtype=float)
        image = ax.imshow(M, cmap="viridis", vmin=min(0.0, np.nanmin(M)), vmax=1.0)
        labels = [_rep_label(*r) for r in reps]
        ax.set_xticks(range(len(reps)), labels, rotation=90, fontsize=7)
        ax.set_yticks(range(len(reps)), labels, fontsize=7)
        if len(reps) <= 12:
            for i in range(len(reps)):
                for j in range(len(reps)):
                    if np.isfinite(M[i, j]):
                        ax.text(
                            j,
                            i,
                            f"{M[i, j]:.2f}",
                            ha="center",
                            va="center",
                            fontsize=6,
                            color="w" if M[i, j] < 0.6 else "k",
                        )
        ax.set_title(f"{alignment} events")
        fig.colorbar(image, ax=ax, shrink=0.7, label=measure)
    fig.suptitle(f"Model x model similarity ({measure}; layers in depth order)")
    fig.tight_layout()
    return fig


def plot_brain_similarity(
    table: pd.DataFrame,
    subject,
    *,
    measure: str | None = None,
    window: tuple | None = None,
    fdr_q: float = 0.05,
) -> Figure:
    """Model x brain similarity of one subject: (model, layer) x region heat maps.

    Parameters
    ----------
    table : DataFrame
        ``results/similarity_brain.csv``.
    subject : int or str
        The subject (compared as str).
    measure : str, optional
        Which measure; default the first in the table.
    window : (float, float), optional
        Which response window (s); default the first in the table.
    fdr_q : float
        Cells with ``q_value < fdr_q`` are marked with a star.

    Returns
    -------
    Figure
        One panel per (response kind, alignment): rows the (model, layer)s (layers in depth
        order), columns the electrode groups (``all`` first); colour the value, a star where
        significant after Benjamini-Hochberg.
    """
    if table is None or table.empty:
        return _empty("Model x brain similarity", "no model x brain results (similarity stage off or empty)")
    require_columns(table, BRAIN_TABLE_COLUMNS, "the model x brain similarity table")
    table = table[table["subject"].astype(str) == str(subject)]
    if table.empty:
        return _empty("Model x brain similarity", f"no model x brain results for sub-{subject}")
    measure = _first(table, "measure", measure)
    table = table[table["measure"] == measure]
    windows = list(dict.fromkeys(zip(table["window_start_s"], table["window_end_s"])))
    window = tuple(window) if window is not None else windows[0]
    table = table[(table["window_start_s"] == window[0]) & (table["window_end_s"] == window[1])]
    panels = list(dict.fromkeys(zip(table["response_kind"], table["alignment"])))
    reps = _rep_order(table, "model", "layer", "depth")
    regions = list(dict.fromkeys(table["region"]))
    vmax = max(0.05, float(np.nanmax(np.abs(table["value"]))))
    fig, axes = plt.subplots(
        1,
        len(panels),
        figsize=((0.45 * len(regions) + 2.5) * len(panels) + 2, 0.32 * len(reps) + 2.5),
        squeeze=False,
        sharey=True,
    )
    for ax, (kind, alignment) in zip(axes[0], panels):
        part = table[(table["response_kind"] == kind) & (table["alignment"] == alignment)]
        idx = part.set_index(["model", "layer", "region"])
        M = np.array([[idx["value"].get((*r, g), np.nan) for g in regions] for r in reps], dtype=float)
        Q = np.array([[idx["q_value"].get((*r, g), np.nan) for g in regions] for r in reps], dtype=float)
        image = ax.imshow(M, cmap="RdBu_r", vmin=-vmax, vmax=vmax, aspect="auto")
        for i, j in zip(*np.nonzero(Q < fdr_q)):
            ax.text(j, i, "*", ha="center", va="center", fontsize=10, color="k")
        ax.set_xticks(range(len(regions)), regions, rotation=90, fontsize=7)
        ax.set_title(f"{kind_label(kind)}, {alignment}")
        fig.colorbar(image, ax=ax, shrink=0.7, label=measure)
    axes[0][0].set_yticks(range(len(reps)), [_rep_label(*r) for r in reps], fontsize=7)
    fig.suptitle(
        f"sub-{subject}: model x brain {measure}, responses {window[0]:g}-{window[1]:g} s "
        f"(* q < {fdr_q:g}: permutation p, BH)"
    )
    fig.tight_layout()
    return fig


def plot_layer_profiles(
    table: pd.DataFrame, *, region: str = "all", measure: str | None = None, window: tuple | None = None
) -> Figure:
    """Layer profiles: model x brain similarity against layer depth, one line per model.

    Parameters
    ----------
    table : DataFrame
        ``results/similarity_brain.csv``.
    region : str
        The electrode group (default ``all``).
    measure : str, optional
        Which measure; default the first in the table.
    window : (float, float), optional
        Which response window (s); default the first in the table.

    Returns
    -------
    Figure
        One panel per (response kind, alignment): per model, the mean over subjects of the
        value at each layer's depth (0 first layer, 1 output); a model without a sweep is one
        point at its depth.
    """
    if table is None or table.empty:
        return _empty("Layer profiles", "no model x brain results (similarity stage off or empty)")
    require_columns(table, BRAIN_TABLE_COLUMNS, "the model x brain similarity table")
    measure = _first(table, "measure", measure)
    table = table[(table["measure"] == measure) & (table["region"] == region)]
    if table.empty:
        return _empty("Layer profiles", f"no model x brain results for the group {region!r}")
    windows = list(dict.fromkeys(zip(table["window_start_s"], table["window_end_s"])))
    window = tuple(window) if window is not None else windows[0]
    table = table[(table["window_start_s"] == window[0]) & (table["window_end_s"] == window[1])]
    panels = list(dict.fromkeys(zip(table["response_kind"], table["alignment"])))
    colors = model_colors(table["model"])
    fig, axes = plt.subplots(
        1, len(panels), figsize=(4.2 * len(panels) + 2.5, 3.6), squeeze=False, sharey=True
    )
    for ax, (kind, alignment) in zip(axes[0], panels):
        part = table[(table["response_kind"] == kind) & (table["alignment"] == alignment)]
        mean = part.groupby(["model", "layer", "depth"], sort=False)["value"].mean().reset_index()
        for model, rows in mean.groupby("model", sort=False):
            rows = rows.sort_values("depth")
            ax.plot(rows["depth"], rows["value"], marker="o", ms=4, color=colors[model], label=model)
        ax.axhline(0, color="0.6", lw=0.8)
        ax.set_xlabel("layer depth (0 first, 1 output)")
        ax.set_title(f"{kind_label(kind)}, {alignment}")
    axes[0][0].set_ylabel(f"{measure} with the brain (mean over subjects)")
    axes[0][-1].legend(loc="upper left", bbox_to_anchor=(1.02, 1), frameon=False, fontsize=7)
    fig.suptitle(f"Layer profiles, electrodes: {region}, responses {window[0]:g}-{window[1]:g} s")
    fig.tight_layout()
    return fig


def similarity_figures(models: pd.DataFrame, brain: pd.DataFrame, subjects, *, fdr_q: float = 0.05) -> dict:
    """Every figure of the similarity page, as PNG bytes.

    Parameters
    ----------
    models, brain : DataFrame
        The two tables of the similarity stage.
    subjects : iterable
        Subjects with a model x brain heat map each.
    fdr_q : float
        The significance mark of the heat maps.

    Returns
    -------
    dict of str to bytes
        ``model_x_model_<measure>`` per model x model measure, ``model_x_brain_sub-<s>`` per
        subject, ``layer_profiles`` (names are the figure files' stems).
    """
    from mmsites.reports.figures import figure_to_png

    figures = {}
    for measure in dict.fromkeys(models["measure"]) if models is not None and not models.empty else [None]:
        name = f"model_x_model_{measure}" if measure else "model_x_model"
        figures[name] = figure_to_png(plot_model_similarity(models, measure=measure))
    for subject in subjects:
        figures[f"model_x_brain_sub-{subject}"] = figure_to_png(
            plot_brain_similarity(brain, subject, fdr_q=fdr_q)
        )
    figures["layer_profiles"] = figure_to_png(plot_layer_profiles(brain))
    return figures


def render_similarity(
    models: pd.DataFrame,
    brain: pd.DataFrame,
    figures: dict,
    *,
    fdr_q: float = 0.05,
    links: dict | None = None,
) -> str:
    """Render the similarity page (``results/report/similarity.html``).

    Parameters
    ----------
    models, brain : DataFrame
        The two tables of the similarity stage.
    figures : dict of str to bytes
        :func:`similarity_figures`.
    fdr_q : float
        The FDR level the significant rows are listed at.
    links : dict of str to str, optional
        Navigation links, text -> href.

    Returns
    -------
    str
        A self-contained page: the method, the figures, and the model x brain rows with
        ``q_value < fdr_q`` (strongest first).
    """
    nav = " ".join(f'<a href="{_esc(h)}">{_esc(t)}</a>' for t, h in (links or {}).items())
    brain = (
        brain
        if brain is not None and not brain.empty
        else pd.DataFrame(columns=["q_value", "value", "n_permutations"])
    )
    significant = brain[brain["q_value"] < fdr_q].sort_values(["q_value", "value"], ascending=[True, False])
    shown = significant[[c for c in brain.columns if c not in ("n_permutations",)]].head(300)
    n_perm = int(brain["n_permutations"].iloc[0]) if not brain.empty else 0
    body = [
        "<h1>Representational similarity</h1>",
        f"<nav>{nav}</nav>" if nav else "",
        "<p>Linear CKA (debiased: the unbiased HSIC estimator, near 0 for unrelated data, unless "
        "the measure says <em>cka</em>) and RSA (correlation of the events' dissimilarity matrices) "
        "between every pair of models and layers on the same events, and between each model or "
        "layer and the brain: per subject, response kind, alignment, electrode group (all "
        "electrodes and each region) and response window (the bins in the window averaged per "
        f"electrode). Model x brain p-values come from {n_perm} permutations of the events that "
        "keep their autocorrelation (blocks or circular shifts, see the README); q-values are "
        "Benjamini-Hochberg per response kind, subject, alignment and measure.</p>",
        _figures_html(figures),
        f"<h2>Model x brain: q &lt; {fdr_q:g} ({len(significant)} of {len(brain)} tests)</h2>",
        html_table(shown, sortable=True, table_id="similarity-brain") if len(shown) else "<p>None.</p>",
        "<footer>Generated by mmsites. Self-contained: opens from disk.</footer>",
    ]
    return _page("mmsites: similarity", "\n".join(b for b in body if b))

"""The layer-sweep page: test r by depth for every electrode, and each electrode's best layer.

Figures take ``results/layers.csv`` (the stats stage; one row per (response kind, subject,
alignment, model, electrode, layer): ``depth``, the ``bin`` chosen on validation r, its
``val_r`` and ``test_r``, and ``best`` on the electrode's layer of highest validation r) and
return matplotlib figures; :func:`render_layers` writes the page with the conventions of
:mod:`mmsites.reports.html`. Nothing is read from files here.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # headless: figures are rendered to bytes only
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from mmsites.reports.figures import figure_to_png, kind_label  # noqa: E402
from mmsites.reports.html import _esc, _figures_html, _page, html_table  # noqa: E402
from mmsites.reports.tables import require_columns  # noqa: E402

__all__ = ["LAYER_TABLE_COLUMNS", "plot_layer_depth", "layer_figures", "best_layer_summary", "render_layers"]

LAYER_TABLE_COLUMNS = (
    "response_kind",
    "subject",
    "alignment",
    "model",
    "electrode",
    "layer",
    "depth",
    "val_r",
    "test_r",
    "best",
)


def plot_layer_depth(table: pd.DataFrame, *, kind: str, model: str, alignment: str) -> Figure:
    """Depth x electrode heat map of test r, the best layer (chosen on validation) marked.

    Parameters
    ----------
    table : DataFrame
        ``results/layers.csv`` (:data:`LAYER_TABLE_COLUMNS`); the rows of ``kind``, ``model``
        and ``alignment`` are drawn.
    kind, model, alignment : str
        Which sweep.

    Returns
    -------
    matplotlib.figure.Figure
        Left: electrodes (rows, every subject's, ordered by their best layer's depth) by layers
        (columns, shallow to deep), coloured by the test r at each layer's validation pick, a
        dot on each electrode's best layer. Right: the mean test r over electrodes per layer
        (the depth profile), with the spread (standard deviation).
    """
    require_columns(table, LAYER_TABLE_COLUMNS, "layers table")
    rows = table[
        (table["response_kind"] == kind) & (table["model"] == model) & (table["alignment"] == alignment)
    ]
    layers = rows.drop_duplicates("layer").sort_values("depth")[["layer", "depth"]]
    names = layers["layer"].tolist()
    rows = rows.assign(target=rows["subject"].astype(str) + ":" + rows["electrode"].astype(str))
    grid = rows.pivot_table(index="target", columns="layer", values="test_r", aggfunc="first")
    grid = grid.reindex(columns=names)
    best = rows[rows["best"].astype(bool)].set_index("target")["layer"]
    order = sorted(grid.index, key=lambda t: (names.index(best[t]) if t in best else len(names), t))
    grid = grid.loc[order]
    fig, (ax, side) = plt.subplots(
        1, 2, figsize=(9.5, 4.2), gridspec_kw={"width_ratios": [3, 1.2]}, constrained_layout=True
    )
    values = grid.to_numpy(dtype=float)
    limit = max(float(np.nanmax(np.abs(values))) if np.isfinite(values).any() else 0.0, 0.05)
    image = ax.imshow(values, aspect="auto", cmap="RdBu_r", vmin=-limit, vmax=limit, interpolation="nearest")
    for i, target in enumerate(order):
        if target in best:
            ax.plot(names.index(best[target]), i, "k.", markersize=4)
    short = _short_names(names)
    ax.set_xticks(range(len(names)), short, rotation=45, ha="right", fontsize=7)
    ax.set_yticks([])
    ax.set_xlabel("layer (shallow to deep)")
    ax.set_ylabel(f"{len(order)} electrodes (ordered by best layer)")
    ax.set_title(f"{model}, {alignment} events: test r per layer ({kind_label(kind)})", fontsize=9)
    fig.colorbar(image, ax=ax, label="test r at the validation pick", shrink=0.8)
    profile = rows.groupby("layer")["test_r"].agg(["mean", "std"]).reindex(names)
    depth = layers["depth"].to_numpy()
    side.plot(depth, profile["mean"], "o-", color="C0")
    side.fill_between(depth, profile["mean"] - profile["std"], profile["mean"] + profile["std"], alpha=0.2)
    side.axhline(0, color="0.6", lw=0.8)
    side.set_xlabel("depth (0 first layer, 1 last)")
    side.set_ylabel("mean test r over electrodes")
    side.set_title("depth profile", fontsize=9)
    return fig


def _short_names(names: list[str], width: int = 24) -> list[str]:
    """Tick labels: the dotted prefix every name shares dropped, then at most ``width`` characters
    from the end (where the block number and the module type are)."""
    parts = [n.split(".") for n in names]
    common = 0
    while len(names) > 1 and all(len(p) > common + 1 and p[common] == parts[0][common] for p in parts):
        common += 1
    out = [".".join(p[common:]) for p in parts]
    return [n if len(n) <= width else "…" + n[-(width - 1) :] for n in out]


def layer_figures(table: pd.DataFrame) -> dict:
    """One depth figure per (response kind, model, alignment) of ``results/layers.csv``.

    Parameters
    ----------
    table : DataFrame
        ``results/layers.csv``.

    Returns
    -------
    dict of str to bytes
        ``layers_<kind>_<model>_<alignment>`` -> PNG bytes.
    """
    figures = {}
    for (kind, model, alignment), _ in table.groupby(["response_kind", "model", "alignment"], sort=False):
        fig = plot_layer_depth(table, kind=kind, model=model, alignment=alignment)
        figures[f"layers_{kind}_{model}_{alignment}"] = figure_to_png(fig)
    return figures


def best_layer_summary(table: pd.DataFrame) -> pd.DataFrame:
    """How often each layer is an electrode's best, and its test r there.

    Parameters
    ----------
    table : DataFrame
        ``results/layers.csv``.

    Returns
    -------
    DataFrame
        Per (response kind, model, alignment, layer), in depth order: ``depth``,
        ``electrodes`` (how many electrodes chose it on validation r), ``median test r`` of
        those electrodes at it, and ``mean test r`` of every electrode at it.
    """
    require_columns(table, LAYER_TABLE_COLUMNS, "layers table")
    keys = ["response_kind", "model", "alignment", "layer"]
    chosen = table[table["best"].astype(bool)].groupby(keys)["test_r"].agg(["size", "median"])
    every = table.groupby(keys).agg(depth=("depth", "first"), mean_r=("test_r", "mean"))
    out = every.join(chosen, how="left").reset_index()
    out["size"] = out["size"].fillna(0).astype(int)
    out = out.sort_values(["response_kind", "model", "alignment", "depth"])
    return out.rename(columns={"size": "electrodes", "median": "median test r", "mean_r": "mean test r"})[
        [
            "response_kind",
            "model",
            "alignment",
            "layer",
            "depth",
            "electrodes",
            "median test r",
            "mean test r",
        ]
    ]


def render_layers(table: pd.DataFrame, figures: dict, *, links: dict | None = None) -> str:
    """Render the layer-sweep page (``results/report/layers.html``).

    Parameters
    ----------
    table : DataFrame
        ``results/layers.csv``.
    figures : dict of str to bytes
        :func:`layer_figures`.
    links : dict of str to str, optional
        Navigation links, text -> href.

    Returns
    -------
    str
        A self-contained page: the method, the figures and :func:`best_layer_summary`.
    """
    nav = " ".join(f'<a href="{_esc(h)}">{_esc(t)}</a>' for t, h in (links or {}).items())
    body = [
        "<h1>Layer sweeps</h1>",
        f"<nav>{nav}</nav>" if nav else "",
        "<p>Each swept layer of a model is encoded as a model is (the same folds, penalties and "
        "targets). For every electrode and layer, the bin with the highest <em>validation</em> r "
        "is that layer's pick and the <em>test</em> r there its score; an electrode's best layer "
        "is the one whose pick has the highest validation r. No test r enters a choice.</p>",
        _figures_html(figures),
        "<h2>Best layers</h2>",
        html_table(best_layer_summary(table), sortable=True, table_id="best-layers"),
        "<footer>Generated by mmsites. Self-contained: opens from disk.</footer>",
    ]
    return _page("mmsites: layer sweeps", "\n".join(b for b in body if b))

"""The guidance page: learning curves and results of ``mmsites guide``, guided vs unguided.

:func:`plot_curves` draws one experiment's curves (mean ± sd over its runs, per arm) from the
histories :func:`mmsites.guidance.training.guided_train` returns; :func:`render_guidance`
writes the page (one section per experiment: what was compared, the summary table with
spread over seeds, the curves, the settings) as self-contained HTML with the conventions of
:mod:`mmsites.reports.html`. Inputs are the plain dicts of :mod:`mmsites.guidance.experiments`
and of the pipeline's brain experiment; nothing is read from files here.
"""

from __future__ import annotations

import json

import matplotlib

matplotlib.use("Agg")  # headless: figures are rendered to bytes only
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from mmsites.reports.html import _esc, _figures_html, _page, html_table  # noqa: E402

__all__ = ["ARM_COLOURS", "METRIC_LABELS", "plot_curves", "summary_table", "render_guidance"]

#: Colour of each arm in the curves.
ARM_COLOURS = {"unguided": "0.45", "guided": "tab:blue"}

#: Row labels of the summary tables (keys of an experiment's ``summary``).
METRIC_LABELS = {
    "train_accuracy": "train accuracy",
    "test_accuracy": "test accuracy",
    "gap": "overfitting gap (train − test accuracy)",
    "mean_layer_cka_end": "mean CKA with the guide (end)",
    "test_cka": "CKA with the brain, test events",
    "test_cka_debiased": "CKA with the brain, test events (unbiased)",
    "test_r": "encoding test r (mean over electrodes)",
    "val_cka_end": "CKA with the brain, validation events (end)",
}

#: One sentence per experiment, what the two arms are.
_ABOUT = {
    "digits": "A fully connected network on scikit-learn's digits, unguided vs guided by a small CNN.",
    "parity": "Parity of bit strings: the target network unguided vs guided by another network.",
    "copy_paste": "Copy-paste of symbol sequences: the target network unguided vs guided.",
    "brain": (
        "The brain as guide: a small MLP reading a frozen model's features of each event, its layer "
        "matched by α·(1 − CKA) to the subject's responses on training events only (guided), vs the "
        "same MLP at the same initial weights (unguided). Both are then encoded like any model "
        "(ridge, penalty chosen on validation events) and compared with the responses on test events. "
        "Read the unbiased CKA: the biased estimator also rises when the guide is unrelated noise "
        "(fitting any guide reshapes the layer's spectrum), see the null control."
    ),
    "brain_null": (
        "Null control of the brain experiment: the responses' events permuted in blocks before "
        "anything else, so the guide carries no relation to the stimulus."
    ),
}


def _band(ax, x, rows, colour, label) -> None:
    rows = [np.asarray(r, dtype=float) for r in rows]
    n = min(len(r) for r in rows)
    stack = np.stack([r[:n] for r in rows])
    mean = np.nanmean(stack, 0)
    ax.plot(x[:n], mean, color=colour, lw=1.4, label=label)
    if len(rows) > 1:
        sd = np.nanstd(stack, 0, ddof=1)
        ax.fill_between(x[:n], mean - sd, mean + sd, color=colour, alpha=0.2, lw=0)


def _smooth(values, k: int = 20) -> tuple[np.ndarray, np.ndarray]:
    v = np.asarray(values, dtype=float)
    k = max(1, min(k, len(v)))
    return np.arange(len(v) - k + 1) + k - 1, np.convolve(v, np.ones(k) / k, mode="valid")


def _available(series) -> bool:
    return bool(series) and all(v is not None for v in series)


def plot_curves(result: dict) -> Figure:
    """Learning curves of one experiment, guided vs unguided, mean ± sd over its runs.

    Parameters
    ----------
    result : dict
        An experiment's result with its ``histories`` (keys ending in ``/<arm>``, e.g.
        ``seed0/guided`` or ``fold1/seed0/unguided``; values as
        :func:`mmsites.guidance.training.guided_train` returns them) and ``experiment``.

    Returns
    -------
    Figure
        One panel per quantity the histories hold: the task loss per update (moving mean of
        20), the guidance distance Σ(1 − CKA) on the training batches per update, test
        accuracy and the train − test gap per epoch, and the mean CKA with the guide on the
        evaluation examples per epoch (held-out examples; the validation events in the brain
        experiment). Unguided grey, guided blue; the band is ± 1 sd over runs.
    """
    by_arm: dict[str, list] = {}
    for key, history in result["histories"].items():
        by_arm.setdefault(key.rsplit("/", 1)[-1], []).append(history)
    first = next(iter(result["histories"].values()))
    panels = []
    if _available(first["steps"]["task_loss"]):
        panels.append(("task loss (nats)", "update", lambda h: _smooth(h["steps"]["task_loss"]), True))
    if _available(first["steps"]["guidance_loss"]):
        panels.append(
            (
                "guidance distance Σ(1 − CKA), training batches",
                "update",
                lambda h: _smooth(h["steps"]["guidance_loss"]),
                False,
            )
        )
    if _available(first["epochs"]["test_accuracy"]):
        e = "epochs"
        panels.append(("test accuracy", "epoch", lambda h: (h[e]["epoch"], h[e]["test_accuracy"]), False))
        panels.append(("train − test accuracy", "epoch", lambda h: (h[e]["epoch"], h[e]["gap"]), False))
    if _available(first["epochs"]["layer_cka"]):
        brain = result.get("experiment", "").startswith("brain")
        held = "validation events" if brain else "held-out examples"
        panels.append(
            (
                f"mean CKA with the guide, {held}",
                "epoch",
                lambda h: (h["epochs"]["epoch"], [np.mean(c) for c in h["epochs"]["layer_cka"]]),
                False,
            )
        )
    fig, axes = plt.subplots(1, max(len(panels), 1), figsize=(4 * max(len(panels), 1), 3.4), squeeze=False)
    for ax, (title, xlabel, series, log_y) in zip(axes[0], panels):
        for arm in ("unguided", "guided"):
            if arm not in by_arm:
                continue
            xs = [series(h) for h in by_arm[arm]]
            n_runs = len(xs)
            _band(ax, np.asarray(xs[0][0]), [y for _, y in xs], ARM_COLOURS[arm], f"{arm} (n={n_runs})")
        ax.set_title(title, fontsize=9)
        ax.set_xlabel(xlabel)
        if log_y:
            ax.set_yscale("log")
    if panels:
        axes[0][0].legend(frameon=False, fontsize=8)
    fig.suptitle(f"guidance: {result.get('experiment', '')} (mean ± sd over runs)", fontsize=10)
    fig.tight_layout()
    return fig


def summary_table(result: dict) -> pd.DataFrame:
    """One row per summarised number: each arm's mean ± sd over seeds and the paired difference.

    Parameters
    ----------
    result : dict
        An experiment's result: ``summary`` as :func:`mmsites.guidance.experiments.summarise_runs`
        writes it.

    Returns
    -------
    DataFrame
        Columns ``measure``, ``unguided``, ``unguided sd``, ``guided``, ``guided sd``,
        ``guided − unguided``, ``difference sd``, ``seeds``.
    """
    s = result["summary"]
    rows = []
    for key, stats in s.get("guided", {}).items():
        diff = s.get(f"{key}_difference", {})
        rows.append(
            {
                "measure": METRIC_LABELS.get(key, key),
                "unguided": s["unguided"][key]["mean"],
                "unguided sd": s["unguided"][key]["sd"],
                "guided": stats["mean"],
                "guided sd": stats["sd"],
                "guided − unguided": diff.get("mean"),
                "difference sd": diff.get("sd"),
                "seeds": len(stats.get("values", [])),
            }
        )
    return pd.DataFrame(rows)


def _settings_table(settings: dict) -> str:
    rows = [
        {"setting": k, "value": v if isinstance(v, (str, int, float, bool)) or v is None else json.dumps(v)}
        for k, v in sorted(settings.items())
    ]
    return html_table(pd.DataFrame(rows, columns=["setting", "value"]))


def _electrode_table(result: dict) -> str:
    r = result.get("electrode_test_r")
    if not r:
        return ""
    table = pd.DataFrame(
        {
            "electrode": result["electrodes"],
            "unguided test r": np.asarray(r["unguided"], dtype=float),
            "guided test r": np.asarray(r["guided"], dtype=float),
        }
    )
    table["guided − unguided"] = table["guided test r"] - table["unguided test r"]
    return (
        "<h3>Encoding per electrode</h3><p>Test r of each electrode's window-averaged response from "
        "each arm's layer features (ridge; mean over held-out folds and seeds).</p>"
        + html_table(table, sortable=True, table_id=f"{result['experiment']}-electrodes")
    )


def render_guidance(results: dict, figures: dict | None = None, *, title: str = "Guidance") -> str:
    """The guidance page: per experiment its summary table, curves and settings.

    Parameters
    ----------
    results : dict
        Experiment name -> its result without histories (``settings``, ``summary`` and, as the
        experiment has them, ``runs``, ``guides``, ``electrode_test_r`` and ``electrodes``).
    figures : dict of str to bytes, optional
        Experiment name -> its curves as PNG bytes (:func:`mmsites.reports.figure_to_png` of
        :func:`plot_curves`).
    title : str
        The page's title.

    Returns
    -------
    str
        A self-contained HTML page.
    """
    figures = figures or {}
    parts = [
        f"<h1>{_esc(title)}</h1>",
        "<p>Guided training (Subramaniam et al. 2024): the target's layers are matched to a guide's "
        "by α·Σ(1 − CKA) on each minibatch. Both arms of an experiment start from the same weights; "
        "numbers are mean and sd over seeds (sd with ddof 1), the difference paired by seed.</p>",
        "<ul>" + "".join(f'<li><a href="#{_esc(n)}">{_esc(n)}</a></li>' for n in results) + "</ul>",
    ]
    for name, result in results.items():
        parts.append(f'<h2 id="{_esc(name)}">{_esc(name)}</h2>')
        parts.append(f"<p>{_esc(_ABOUT.get(name, ''))}</p>")
        parts.append(html_table(summary_table(result), table_id=f"{name}-summary"))
        if name in figures:
            parts.append(_figures_html({f"{name}_curves": figures[name]}))
        guides = result.get("guides")
        if guides:
            table = pd.DataFrame(
                [{"seed": int(seed), **acc} for seed, acc in guides.items()],
                columns=["seed", "train_accuracy", "test_accuracy"],
            )
            parts.append("<h3>The guide network</h3>" + html_table(table))
        parts.append(_electrode_table(result))
        parts.append("<details><summary>Settings</summary>" + _settings_table(result.get("settings", {})))
        parts.append("</details>")
    return _page(title, "\n".join(parts))

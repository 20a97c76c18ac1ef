"""``mmsites guide``: run the guidance experiments and write their results and page.

The experiments come from the libraries (:func:`mmsites.guidance.experiments.run_experiments`:
digits, parity, copy-paste) and from :mod:`mmsites.pipeline.guide_brain` (``brain``: the brain
as guide, read from a pipeline workdir); this module is the one that writes files. Under
``guide.out_dir`` (every file atomically, :mod:`mmsites.pipeline.io`):

- ``summary.json``: per experiment its settings, runs and summary (mean ± sd over seeds per
  arm, paired differences); the entries of experiments not run this time are kept;
- ``<experiment>/history.json``: the training histories (losses, distances, accuracies, CKA);
- ``<experiment>/curves.png``: :func:`mmsites.reports.guidance.plot_curves`;
- ``index.html``: the guidance page (:func:`mmsites.reports.guidance.render_guidance`), every
  experiment of ``summary.json``;
- checkpoints under ``<experiment>/`` (``seed<s>/``; for ``brain``
  ``sub-<s>_<kind>_<alignment>_<model>/fold<k>/seed<s>/``), from which a rerun resumes.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from mmsites.guidance.experiments import EXPERIMENTS, run_experiments
from mmsites.reports import figure_to_png
from mmsites.reports.guidance import plot_curves, render_guidance

from .guide_brain import run_brain
from .io import write_bytes, write_json, write_text
from .params import Params

__all__ = ["run_guidance", "write_guidance"]

log = logging.getLogger(__name__)


def write_guidance(out_dir: str | Path, results: dict) -> dict:
    """Write experiments' results, histories, curves and the guidance page.

    Parameters
    ----------
    out_dir : str or Path
        ``guide.out_dir`` resolved.
    results : dict
        Experiment name -> its result with its ``histories``.

    Returns
    -------
    dict
        The whole ``summary.json`` written (every experiment on record, without histories).
    """
    out = Path(out_dir)
    summary_path = out / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    for name, result in results.items():
        histories = result["histories"]
        write_json(histories, out / name / "history.json")
        write_bytes(figure_to_png(plot_curves(result), dpi=110), out / name / "curves.png")
        summary[name] = {k: v for k, v in result.items() if k != "histories"}
        write_json(summary, summary_path)
    curves = {name: out / name / "curves.png" for name in summary}
    figures = {name: path.read_bytes() for name, path in curves.items() if path.is_file()}
    write_text(render_guidance(summary, figures), out / "index.html")
    return summary


def run_guidance(params: Params, workdir: str | Path, experiments: list[str] | None = None) -> dict:
    """Run the experiments of the ``guide:`` section and write them (``mmsites guide``).

    Parameters
    ----------
    params : Params
        Validated params.
    workdir : str or Path
        Working directory; ``guide.out_dir`` and ``guide.brain.workdir`` are under it.
    experiments : list of str, optional
        Run these instead of ``guide.experiments``.

    Returns
    -------
    dict
        The whole ``summary.json`` written.

    Raises
    ------
    ValueError
        If an experiment is unknown or its params do not fit (the message names the key).
    """
    settings = params.guide.model_dump()
    names = list(experiments) if experiments else list(settings["experiments"])
    unknown = [n for n in names if n not in (*EXPERIMENTS, "brain")]
    if unknown:
        raise ValueError(
            f"unknown guidance experiment {unknown[0]!r} (guide.experiments); choose from "
            f"{[*EXPERIMENTS, 'brain']}"
        )
    out = Path(workdir) / params.guide.out_dir
    results = {}
    library = [n for n in names if n in EXPERIMENTS]
    if library:
        results |= run_experiments(settings | {"experiments": library}, out)
    if "brain" in names:
        tag = "brain" if params.guide.brain.shuffle_blocks is None else "brain_null"
        results[tag] = run_brain(params, workdir, out / tag)
    summary = write_guidance(out, results)
    log.info("guide: the page is %s", out / "index.html")
    return summary

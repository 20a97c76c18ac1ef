"""Stage ``report``: figures and self-contained HTML reports.

Writes ``reports/index.html`` (the study), ``reports/sub-<s>.html`` (one per subject) and every
figure as ``reports/figures/<name>.png`` (DVC plots). Each page carries its provenance: the exact
params, the package versions, a fingerprint of the input data, and the preprocessing options
that were used (re-reference, high-pass, baseline correction).
"""

from __future__ import annotations

import importlib.metadata
import json
import logging
import platform
from pathlib import Path

import pandas as pd

from mmsites.recordings.braintreebank import BrainTreebank
from mmsites.reports.figures import study_figures, subject_figures
from mmsites.reports.html import render_index, render_subject

from ..cv import encoded_models
from ..io import file_fingerprint, write_bytes, write_text
from ..params import Params
from ..paths import Layout

log = logging.getLogger(__name__)

PACKAGES = (
    "mmsites",
    "numpy",
    "scipy",
    "pandas",
    "torch",
    "scikit-learn",
    "statsmodels",
    "h5py",
    "av",
    "scenedetect",
    "open_clip_torch",
    "timm",
    "transformers",
    "sentence-transformers",
    "nilearn",
    "matplotlib",
    "dvc",
)


def provenance(params: Params, layout: Layout) -> dict:
    """What produced the results: params, package versions, data fingerprint, preprocessing."""
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    dataset = BrainTreebank(layout.data_root)
    files = [dataset.h5_path(s, t) for s in params.data.subjects for t in dataset.trials(s)]
    files += sorted(layout.data_root.glob("transcripts/*/features.csv"))
    rp = params.responses
    return {
        "params": params.model_dump(mode="json"),
        "versions": versions,
        "data_fingerprint": file_fingerprint(files),
        "preprocessing": {
            "notch_hz": rp.notch_hz,
            "notch_q": rp.notch_q,
            "rereference": rp.rereference,
            "highpass_hz": rp.highpass_hz or "off (as in the study)",
            "baseline_correction_s": list(rp.baseline_s) if rp.baseline_s else "off (as in the study)",
            "bins": f"{rp.window_s * 1000:g} ms windows every {rp.step_s * 1000:g} ms, "
            f"{rp.tmin_s:g} to {rp.tmax_s:g} s",
            "stats": f"{params.stats.mode} mode, {params.stats.permutations} permutations, "
            f"{params.stats.bootstrap} bootstrap resamples, signal by {params.stats.signal}",
        },
    }


def stacked_scores(params: Params, layout: Layout) -> pd.DataFrame:
    """Every scores table, with ``subject, alignment, model`` columns."""
    frames = []
    for subject in params.data.subjects:
        for alignment in params.events.alignments:
            for model in encoded_models(params):
                table = pd.read_parquet(layout.scores(subject, alignment, model))
                frames.append(table.assign(subject=subject, alignment=alignment, model=model))
    return pd.concat(frames, ignore_index=True)


def run(params: Params, workdir: Path) -> None:
    layout = Layout(workdir, params)
    results = layout.results
    for name in ("sites.csv", "comparisons.csv", "electrodes.csv"):
        if not (results / name).is_file():
            raise FileNotFoundError(f"{results / name} is missing: run the stats and regions stages first")
    sites = pd.read_csv(results / "sites.csv")
    comparisons = pd.read_csv(results / "comparisons.csv")
    electrodes = pd.read_csv(results / "electrodes.csv")
    summary = json.loads((results / "summary.json").read_text())
    scores = stacked_scores(params, layout)
    twins = {m.id: m.random_twin for m in params.models if m.random_twin}
    truth_path = layout.data_root / "truth.csv"
    truth = pd.read_csv(truth_path) if params.data.format == "demo" and truth_path.is_file() else None
    prov = provenance(params, layout)
    figures = study_figures(sites, comparisons, electrodes, scores, twins=twins, truth=truth)
    for name, png in figures.items():
        write_bytes(png, layout.reports / "figures" / f"{name}.png")
    recovery_path = results / "demo_recovery.json"
    recovery = (
        json.loads(recovery_path.read_text()) if truth is not None and recovery_path.is_file() else None
    )
    write_text(
        render_index(summary, sites, comparisons, electrodes, figures, prov, recovery=recovery),
        layout.reports / "index.html",
    )
    for subject in params.data.subjects:
        figs = subject_figures(subject, sites, electrodes, scores)
        for name, png in figs.items():
            write_bytes(png, layout.reports / "figures" / f"sub-{subject}_{name}.png")
        write_text(
            render_subject(subject, sites, comparisons, electrodes, figs, prov),
            layout.reports / f"sub-{subject}.html",
        )
    log.info("report: %s", (layout.reports / "index.html").resolve())

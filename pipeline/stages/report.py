"""Stage ``report``: figures and self-contained HTML reports.

Writes ``results/report/index.html`` (the study), ``results/report/sub-<s>.html`` (one per
subject) and every figure as ``results/report/figures/<name>.png`` (:attr:`Layout.report`);
nothing is written into the source tree. Each page carries its provenance: the exact params,
the package versions, a fingerprint of the input data, and the preprocessing options that
were used (the response kind, voltage or band power, re-reference, high-pass, baseline
correction).

The per-bin scores reach the figures with the ``signal`` column the encode stage wrote
(:func:`mmsites.stats.signal.signal_bins`, chosen on validation data); the report reads it
and never re-decides which bins carry signal.
"""

from __future__ import annotations

import importlib.metadata
import json
import logging
import platform
from pathlib import Path

import pandas as pd

from mmsites.recordings.braintreebank import BrainTreebank
from mmsites.reports import render_index, render_subject, study_figures, subject_figures
from mmsites.stats.compare import electrode_scores

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
    """Collect what produced the results: params, package versions, data, preprocessing.

    Parameters
    ----------
    params : Params
        The validated params the pipeline ran with.
    layout : Layout
        The file layout (for the recordings and transcripts under ``data.root``).

    Returns
    -------
    dict
        ``params`` (the params as JSON-ready dict), ``versions`` (package -> version string,
        ``"not installed"`` where absent; ``python`` included), ``data_fingerprint`` (str, of
        every subject's recordings and the transcripts' ``features.csv``) and
        ``preprocessing`` (str/number per option: the response kind, e.g. ``"voltage (µV)"`` or
        ``"band power (µV², 70–150 Hz)"``, notch, re-reference, high-pass, baseline, bins,
        statistics).
    """
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
            "response": (
                f"band power (µV², {rp.band_hz[0]:g}–{rp.band_hz[1]:g} Hz; causal band-pass, "
                "squared, windows moved by its group delay)"
                if rp.kind == "band_power"
                else "voltage (µV)"
            ),
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


def electrode_table(scores: pd.DataFrame) -> pd.DataFrame:
    """One score per electrode, by the statistics' rule: mean test r over its signal bins.

    Parameters
    ----------
    scores : DataFrame, one row per (subject, alignment, model, electrode, bin)
        :func:`stacked_scores` output (``test_r``, ``signal``), each electrode's bins
        contiguous as the encode stage writes them.

    Returns
    -------
    DataFrame, one row per (subject, alignment, model, electrode)
        ``subject, alignment, model, electrode``, ``score`` (NaN without signal bins) and
        ``n_signal_bins``, from :func:`mmsites.stats.compare.electrode_scores`.
    """
    keys = ["subject", "alignment", "model"]
    parts = []
    for key, table in scores.groupby(keys, sort=False):
        electrodes = list(dict.fromkeys(table["electrode"]))
        n_bins = len(table) // len(electrodes)
        if list(table["electrode"]) != [e for e in electrodes for _ in range(n_bins)]:
            raise ValueError(f"scores of {key}: each electrode's bins must be contiguous and equally many")
        score, n_signal = electrode_scores(
            table["test_r"].to_numpy(dtype=float), table["signal"].to_numpy(dtype=bool), n_bins
        )
        columns = {"electrode": electrodes, "score": score, "n_signal_bins": n_signal}
        parts.append(pd.DataFrame(dict(zip(keys, key)) | columns))
    return pd.concat(parts, ignore_index=True)


def stacked_scores(params: Params, layout: Layout) -> pd.DataFrame:
    """Read every scores table of the encode stage into one long table.

    Parameters
    ----------
    params : Params
        Subjects, alignments and models (:func:`~mmsites.pipeline.cv.encoded_models`) to read.
    layout : Layout
        Where the scores tables are (``work/scores/sub-<s>_<alignment>_<model>.parquet``).

    Returns
    -------
    DataFrame, one row per (subject, alignment, model, electrode, bin)
        The scores tables' columns as written (``electrode, bin, time_s, test_r, val_r,
        p_value, val_p_value, signal, ...``; ``signal`` is the boolean signal-bin flag) with
        ``subject``, ``alignment`` and ``model`` added; subjects, then alignments, then
        models in params order.

    Raises
    ------
    ValueError
        When a scores table has no ``signal`` column (written before the encode stage
        flagged signal bins: rerun it).
    """
    frames = []
    for subject in params.data.subjects:
        for alignment in params.events.alignments:
            for model in encoded_models(params):
                path = layout.scores(subject, alignment, model)
                table = pd.read_parquet(path)
                if "signal" not in table.columns:
                    raise ValueError(f"{path} has no 'signal' column (signal bins): rerun the encode stage")
                frames.append(table.assign(subject=subject, alignment=alignment, model=model))
    return pd.concat(frames, ignore_index=True)


def run(params: Params, workdir: Path) -> None:
    """Run the report stage: write the study page, one page per subject and every figure.

    Parameters
    ----------
    params : Params
        The validated params (subjects, alignments, models and their random twins; on the
        demo, ``data.format == "demo"`` adds the planted-vs-found figure and numbers).
    workdir : Path
        Working directory: reads ``results/{sites,comparisons,electrodes}.csv``,
        ``results/summary.json``, the scores tables under ``work/scores`` and, on the demo,
        ``<data.root>/truth.csv`` and ``results/demo_recovery.json``; writes under
        ``results/report/``.

    Raises
    ------
    FileNotFoundError
        When a result table of the stats or regions stage is missing.
    """
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
    per_electrode = electrode_table(scores)
    figures = study_figures(sites, comparisons, electrodes, scores, per_electrode, twins=twins, truth=truth)
    for name, png in figures.items():
        write_bytes(png, layout.report / "figures" / f"{name}.png")
    recovery_path = results / "demo_recovery.json"
    recovery = (
        json.loads(recovery_path.read_text()) if truth is not None and recovery_path.is_file() else None
    )
    write_text(
        render_index(summary, sites, comparisons, electrodes, figures, prov, recovery=recovery),
        layout.report / "index.html",
    )
    for subject in params.data.subjects:
        figs = subject_figures(subject, sites, electrodes, scores, per_electrode)
        for name, png in figs.items():
            write_bytes(png, layout.report / "figures" / f"sub-{subject}_{name}.png")
        write_text(
            render_subject(subject, sites, comparisons, electrodes, figs, prov),
            layout.report / f"sub-{subject}.html",
        )
    log.info("report: %s", (layout.report / "index.html").resolve())

"""Stage ``report``: figures and self-contained HTML reports, per response kind.

Under ``results/report/`` (:attr:`Layout.report`; nothing is written into the source tree):

- per kind of ``responses.kinds``: ``<kind>/index.html`` (the study on that kind's results),
  ``<kind>/sub-<s>.html`` (one per subject) and ``<kind>/figures/<name>.png``;
- ``index.html``: the overview, one section per kind (its headline numbers, links to its
  pages), the demo's recovery of every kind, and the kinds compared
  (``figures/response_kinds.png``);
- ``sub-<s>.html``: one subject's overview, links to its page of every kind and the kinds
  compared on its electrodes (``figures/sub-<s>_response_kinds.png``).

Each page says which responses its results are for, with the unit, and carries its
provenance: the exact params, the package versions, a fingerprint of the input data, and the
preprocessing options that were used (every response kind, re-reference, high-pass,
baseline correction).

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

from mmsites.constants import MULTIMODAL_KINDS
from mmsites.reports import (
    decoding_html,
    figure_to_png,
    plot_decoding,
    plot_response_kinds,
    render_index,
    render_overview,
    render_subject,
    render_subject_overview,
    study_figures,
    subject_figures,
)
from mmsites.reports.layers import layer_figures, render_layers
from mmsites.reports.similarity import render_similarity, similarity_figures
from mmsites.stats.compare import electrode_scores

from ..cv import encoded_models
from ..io import file_fingerprint, read_csv, write_bytes, write_text
from ..params import Params
from ..paths import Layout
from ..sessions import list_sessions, movies, open_dataset, stimulus_files

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


def response_description(params: Params, kind: str) -> str:
    """Say what one response kind is, with its unit (the first line of its report pages).

    Parameters
    ----------
    params : Params
        Validated params; ``responses.band_hz``, ``responses.bands_hz`` and
        ``responses.brainbert`` matter.
    kind : str
        A response kind of ``responses.kinds``.

    Returns
    -------
    str
        ``"voltage (µV)"``, ``"band power (µV², 70–150 Hz; ...)"``, ``"spectrogram: band power
        (µV²) in 5 bands, 4–8 Hz, ...; ..."`` or ``"BrainBERT embeddings (<checkpoint, or
        random <config> (seed <s>)>, layer <l>, <k> principal components per electrode fitted
        on each fold's training events)"``; a kind not listed here as it is spelled.
    """
    rp = params.responses
    if kind == "voltage":
        return "voltage (µV)"
    if kind == "band_power":
        return (
            f"band power (µV², {rp.band_hz[0]:g}–{rp.band_hz[1]:g} Hz; causal band-pass, "
            "squared, windows moved by its group delay)"
        )
    if kind == "spectrogram":
        bands = ", ".join(f"{low:g}–{high:g} Hz" for low, high in rp.bands_hz)
        return (
            f"spectrogram: band power (µV²) in {len(rp.bands_hz)} band(s), {bands}; causal "
            "band-pass, squared, windows moved by each band's group delay"
        )
    if kind == "brainbert":
        bb = rp.brainbert
        model = bb.checkpoint or f"random {bb.config} (seed {bb.seed})"
        return (
            f"BrainBERT embeddings ({model}, layer {bb.layer}, {bb.components} principal "
            "components per electrode fitted on each fold's training events)"
        )
    if kind == "popt":
        pp = rp.popt
        model = pp.checkpoint or f"random {pp.config} (seed {pp.seed})"
        return (
            f"population code: PopT's CLS token ({model}) over every electrode's BrainBERT "
            f"embedding, {pp.components} principal components fitted on each fold's training events"
        )
    return str(kind)


def has_timecourses(scores: pd.DataFrame) -> bool:
    """Whether a kind's scores are time courses: one target per bin with a time.

    Parameters
    ----------
    scores : DataFrame
        :func:`stacked_scores` output of one response kind.

    Returns
    -------
    bool
        False for ``brainbert`` components (``time_s`` NaN) and for ``spectrogram`` targets
        (several bands per bin, a ``band`` column), whose time courses are not drawn; True
        otherwise.
    """
    if "time_s" not in scores.columns or not scores["time_s"].notna().any():
        return False
    return "band" not in scores.columns or scores["band"].nunique() <= 1


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
        ``preprocessing`` (str/number per option: ``response``, every response kind of
        ``responses.kinds`` described by :func:`response_description` and joined by ``" | "``,
        e.g. ``"voltage (µV)"`` or ``"voltage (µV) | band power (µV², 70–150 Hz; ...)"``, notch,
        re-reference, high-pass, baseline, bins, statistics).
    """
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    dataset = open_dataset(params, layout)
    files = [
        f for s in params.data.subjects for t in dataset.trials(s) for f in dataset.recording_files(s, t)
    ]
    files += sorted(layout.data_root.glob("transcripts/*/features.csv"))
    try:
        shown = movies(list_sessions(params, layout))
    except (ValueError, FileNotFoundError):  # results without their recordings (moved, or a test)
        shown = []
    for movie in shown:
        files += stimulus_files(params, layout, movie)
    rp = params.responses
    return {
        "params": params.model_dump(mode="json"),
        "versions": versions,
        "data_fingerprint": file_fingerprint(files),
        "preprocessing": {
            "response": " | ".join(response_description(params, kind) for kind in rp.kinds),
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
        Where the scores tables of one response kind are (``layout.kind``:
        ``work/scores/<kind>/sub-<s>_<alignment>_<model>.parquet``).

    Returns
    -------
    DataFrame, one row per (subject, alignment, model, electrode, bin)
        The scores tables' columns as written (``electrode, bin, time_s, test_r, val_r,
        p_value, val_p_value, signal, ...``; ``signal`` is the boolean signal-bin flag; for
        ``brainbert`` ``bin`` is the component and ``time_s`` NaN) with ``subject``,
        ``alignment`` and ``model`` added; subjects, then alignments, then models in params
        order.

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


def _of_kind(table: pd.DataFrame, kind: str, path: Path) -> pd.DataFrame:
    """The rows of one response kind, without the ``response_kind`` column."""
    if "response_kind" not in table.columns:
        raise ValueError(
            f"{path} has no response_kind column (written before response kinds): rerun the stats stage"
        )
    return table[table["response_kind"] == kind].drop(columns="response_kind").reset_index(drop=True)


def _by_kind(content: dict, kinds: list, path: Path) -> dict:
    """Check that a results JSON is keyed by response kind and holds every kind."""
    missing = [k for k in kinds if not isinstance(content.get(k), dict)]
    if missing:
        raise ValueError(
            f"{path} holds no results of response kind(s) {missing} (keys: {list(content)[:8]}): "
            "rerun the stats stage"
        )
    return content


def run(params: Params, workdir: Path) -> None:
    """Run the report stage: per response kind the study page, subject pages and figures; the overview.

    Parameters
    ----------
    params : Params
        The validated params (``responses.kinds``; subjects, alignments, models and their
        random twins; on the demo, ``data.format == "demo"`` adds the planted-vs-found figure
        and numbers).
    workdir : Path
        Working directory: reads ``results/{sites,comparisons}.csv`` (every kind's rows, a
        ``response_kind`` column), ``results/electrodes.csv``, ``results/summary.json`` (kind
        -> summary), every kind's scores tables under ``work/scores/<kind>`` and, on the
        demo, ``<data.root>/truth.csv`` and ``results/demo_recovery.json`` (kind -> site
        column -> recovery); writes under ``results/report/`` (the module docstring lists the
        files).

    Raises
    ------
    FileNotFoundError
        When a result table of the stats or regions stage is missing.
    ValueError
        When the results predate response kinds (no ``response_kind`` column, a summary or
        recovery not keyed by kind): rerun the stats stage.
    """
    layout = Layout(workdir, params)
    results = layout.results
    kinds = list(params.responses.kinds)
    for name in ("sites.csv", "comparisons.csv", "electrodes.csv", "summary.json"):
        if not (results / name).is_file():
            raise FileNotFoundError(f"{results / name} is missing: run the stats and regions stages first")
    sites = read_csv(results / "sites.csv", "sites table")
    comparisons = read_csv(results / "comparisons.csv", "comparisons table")
    electrodes = read_csv(results / "electrodes.csv", "electrodes table")
    if "analysed" in electrodes.columns:  # excluded electrodes (bad channels) are listed, not drawn
        electrodes = electrodes.loc[electrodes["analysed"].astype(bool)].reset_index(drop=True)
    summary = _by_kind(json.loads((results / "summary.json").read_text()), kinds, results / "summary.json")
    twins = {m.id: m.random_twin for m in params.models if m.random_twin}
    truth_path = layout.data_root / "truth.csv"
    is_demo = params.data.format == "demo" and truth_path.is_file()
    truth = read_csv(truth_path, "truth table") if is_demo else None
    recovery_path = results / "demo_recovery.json"
    recovery = (
        _by_kind(
            json.loads(recovery_path.read_text()), [k for k in kinds if k in MULTIMODAL_KINDS], recovery_path
        )
        if truth is not None and recovery_path.is_file()
        else None
    )
    prov = provenance(params, layout)
    responses = {kind: response_description(params, kind) for kind in kinds}
    per_kind = []
    for kind in kinds:
        out = layout.report / kind
        k_sites = _of_kind(sites, kind, results / "sites.csv")
        k_comparisons = _of_kind(comparisons, kind, results / "comparisons.csv")
        scores = stacked_scores(params, layout.for_kind(kind))
        per_electrode = electrode_table(scores)
        per_kind.append(per_electrode.assign(response_kind=kind))
        # BrainBERT's targets are components (time_s NaN), a spectrogram's band x bin: no
        # time courses to draw
        timecourses = has_timecourses(scores)
        unit = "components" if kind in ("brainbert", "popt") else "bins"
        figures = study_figures(
            k_sites,
            k_comparisons,
            electrodes,
            scores,
            per_electrode,
            twins=twins,
            truth=truth,
            timecourses=timecourses,
            unit=unit,
        )
        for name, png in figures.items():
            write_bytes(png, out / "figures" / f"{name}.png")
        write_text(
            render_index(
                summary[kind],
                k_sites,
                k_comparisons,
                electrodes,
                figures,
                prov,
                recovery=recovery.get(kind) if recovery else None,
                kind=kind,
                response=responses[kind],
                links={"← all response kinds": "../index.html"},
            ),
            out / "index.html",
        )
        for subject in params.data.subjects:
            figs = subject_figures(
                subject, k_sites, electrodes, scores, per_electrode, timecourses=timecourses
            )
            for name, png in figs.items():
                write_bytes(png, out / "figures" / f"sub-{subject}_{name}.png")
            links = {
                "all response kinds": "../index.html",
                f"sub-{subject}, every kind": f"../sub-{subject}.html",
            }
            write_text(
                render_subject(
                    subject,
                    k_sites,
                    k_comparisons,
                    electrodes,
                    figs,
                    prov,
                    kind=kind,
                    response=responses[kind],
                    links=links,
                ),
                out / f"sub-{subject}.html",
            )
    decoding_path = results / "decoding.csv"
    decoding = read_csv(decoding_path, "decoding table") if decoding_path.is_file() else None
    if decoding is None:
        log.warning("%s is missing (run the decode stage): the report has no decoding section", decoding_path)
    decoding_figure = {"decoding": figure_to_png(plot_decoding(decoding))}
    for name, png in decoding_figure.items():
        write_bytes(png, layout.report / "figures" / f"{name}.png")
    all_scores = pd.concat(per_kind, ignore_index=True)
    # the similarity page (stage similarity), when its tables have rows
    pages = {"Similarity": "similarity.html"} if similarity_page(params, layout) else {}
    if layers_page(layout):  # the layer sweeps (models[].layers), when results/layers.csv has rows
        pages["Layer sweeps"] = "layers.html"
    compared = {"response_kinds": figure_to_png(plot_response_kinds(all_scores, kinds=kinds))}
    for name, png in compared.items():
        write_bytes(png, layout.report / "figures" / f"{name}.png")
    write_text(
        render_overview(
            {kind: summary[kind] for kind in kinds},
            params.data.subjects,
            compared,
            prov,
            responses=responses,
            recovery={kind: recovery[kind] for kind in kinds if kind in recovery} if recovery else None,
            decoding=decoding_html(decoding, decoding_figure),
            pages=pages,
        ),
        layout.report / "index.html",
    )
    for subject in params.data.subjects:
        figs = {
            "response_kinds": figure_to_png(plot_response_kinds(all_scores, kinds=kinds, subject=subject))
        }
        own = {"decoding": figure_to_png(plot_decoding(decoding, subject=subject))}
        for name, png in {**figs, **own}.items():
            write_bytes(png, layout.report / "figures" / f"sub-{subject}_{name}.png")
        write_text(
            render_subject_overview(
                subject,
                kinds,
                figs,
                prov,
                responses=responses,
                decoding=decoding_html(decoding, own, subject=subject),
            ),
            layout.report / f"sub-{subject}.html",
        )
    log.info("report: %s", (layout.report / "index.html").resolve())


def layers_page(layout: Layout) -> bool:
    """Write ``results/report/layers.html`` and its figures from ``results/layers.csv``.

    Parameters
    ----------
    layout : Layout
        The file layout: ``results/layers.csv`` (stats stage) is read, the page and
        ``figures/layers_*.png`` written under ``results/report/``.

    Returns
    -------
    bool
        Whether the page was written: False (logged) when the table is missing or empty (no
        model declares ``layers``).
    """
    path = layout.results / "layers.csv"
    table = read_csv(path, "layers table") if path.is_file() else pd.DataFrame()
    if table.empty:
        log.info("report: no layer-sweep page (%s is missing or empty)", path.name)
        return False
    figures = layer_figures(table)
    for name, png in figures.items():
        write_bytes(png, layout.report / "figures" / f"{name}.png")
    write_text(
        render_layers(table, figures, links={"← overview": "index.html"}), layout.report / "layers.html"
    )
    return True


def similarity_page(params: Params, layout: Layout) -> bool:
    """Write ``results/report/similarity.html`` and its figures from the similarity stage's tables.

    Parameters
    ----------
    params : Params
        Validated params; ``data.subjects`` and ``similarity.fdr_q`` matter.
    layout : Layout
        The file layout: ``results/similarity_models.csv`` and ``results/similarity_brain.csv``
        are read, the page and ``figures/similarity_*.png`` written under ``results/report/``.

    Returns
    -------
    bool
        Whether the page was written: False (logged) when both tables are missing or empty.
    """
    paths = [layout.results / f"similarity_{name}.csv" for name in ("models", "brain")]
    models, brain = (read_csv(p, "similarity table") if p.is_file() else pd.DataFrame() for p in paths)
    if models.empty and brain.empty:
        log.info("report: no similarity page (%s and %s are missing or empty)", *(p.name for p in paths))
        return False
    fdr_q = params.similarity.fdr_q
    figures = similarity_figures(models, brain, params.data.subjects if not brain.empty else [], fdr_q=fdr_q)
    for name, png in figures.items():
        write_bytes(png, layout.report / "figures" / f"similarity_{name}.png")
    page = render_similarity(models, brain, figures, fdr_q=fdr_q, links={"← overview": "index.html"})
    write_text(page, layout.report / "similarity.html")
    return True

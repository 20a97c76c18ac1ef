"""Stage ``stats``: model comparisons, FDR and the multimodal-site rules.

Reads every model's scores (``work/scores``), compares models per electrode with the paired
permutation test (or the paired bootstrap on the shared resamples), corrects with
Benjamini–Hochberg across electrodes per test, and writes ``results/comparisons.csv``,
``results/sites.csv``, ``results/summary.json``, ``results/layers.csv`` (each electrode's best
layer of every layer sweep, :mod:`mmsites.stats.layers`) and, on the demo,
``results/demo_recovery.json``.
The rules are documented in :mod:`mmsites.stats.sites` and docs/statistics.md.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from mmsites.constants import MULTIMODAL_KINDS
from mmsites.stats.layers import layer_profile
from mmsites.stats.pvalues import bh_floor_warning
from mmsites.stats.resampling import block_swaps
from mmsites.stats.sites import (
    ModelInfo,
    ModelScores,
    Unit,
    build_comparisons,
    build_sites,
    demo_recovery,
    summarize,
)

from ..cv import encoded_models, response_folds
from ..io import load_array, read_csv, read_responses, write_csv, write_json
from ..params import Params
from ..paths import Layout
from ..targets import encoding_targets, min_signal, target_shape

log = logging.getLogger(__name__)


def model_infos(params: Params) -> list[ModelInfo]:
    """The tests' view of the models and the linear-integration baselines.

    Parameters
    ----------
    params : Params
        Validated params; ``models`` and ``baselines`` matter.

    Returns
    -------
    list of ModelInfo
        One per model of ``params.models`` (family, random initialisation, random twin, SLIP
        role), then one per configured baseline (``trained_on="multimodal"``).
    """
    infos = [
        ModelInfo(
            id=m.id,
            trained_on=m.trained_on,
            random=m.init == "random",
            random_twin=m.random_twin,
            slip_role=m.slip_role,
        )
        for m in params.models
    ]
    infos += [ModelInfo(id=b, trained_on="multimodal", baseline=b) for b in params.baseline_ids()]
    return infos


def load_unit(params: Params, layout: Layout, subject: int, alignment: str) -> Unit:
    """Scores, predictions and responses of every model for one (subject, alignment).

    Parameters
    ----------
    params : Params
        Validated params; ``stats`` (``comparison``, ``swaps``), ``encoding`` (folds, gap),
        ``models`` and ``baselines`` matter.
    layout : Layout
        The file layout.
    subject : int
        Subject number.
    alignment : {"language", "vision"}
        Event alignment.

    Returns
    -------
    Unit
        Every encoded model's scores (``work/scores/sub-<s>_<alignment>_<model>.parquet``)
        and the folds; with ``stats.comparison="permutation"`` also the out-of-fold
        predictions (``_pred.npy``, memory-mapped), the responses
        (``work/responses/sub-<s>_<alignment>.h5``) and the paired swaps drawn from
        ``work/resampling/sub-<s>_<alignment>.npz``; with ``"bootstrap"`` the bootstrapped
        test r (``_boot.npy``).

    Raises
    ------
    FileNotFoundError
        If a model's scores are missing, or its bootstrap file is missing with
        ``stats.comparison="bootstrap"``.
    ValueError
        If a scores table predates validation-based signal bins (no ``val_p_value``).
    """
    sp = params.stats
    # The responses themselves are needed only by the paired permutation test.
    resp = read_responses(layout.responses(subject, alignment), data=sp.comparison == "permutation")
    n_events = resp["shape"][0]
    _, n_bins = target_shape(params, resp)  # bins, or components (brainbert)
    unit = Unit(subject=str(subject), alignment=alignment, electrodes=resp["electrodes"], n_bins=n_bins)
    indices = load_array(layout.resampling(subject, alignment), "resampling file")
    for model in encoded_models(params):
        path = layout.scores(subject, alignment, model)
        if not path.is_file():
            raise FileNotFoundError(
                f"scores of {model!r} for sub_{subject} ({alignment}) are missing at {path}: "
                "run the encode stage"
            )
        table = pd.read_parquet(path)
        # Memory-mapped: only the columns a comparison needs are read.
        predictions = (
            load_array(layout.predictions(subject, alignment, model), "predictions file", mmap_mode="r")
            if sp.comparison == "permutation"
            else None
        )
        boot = None
        if sp.comparison == "bootstrap":
            boot_path = layout.score_boot(subject, alignment, model)
            if not boot_path.is_file():
                raise FileNotFoundError(
                    f"stats.comparison is 'bootstrap' but {boot_path} is missing: set "
                    "stats.bootstrap > 0 and rerun the encode stage"
                )
            boot = load_array(boot_path, "bootstrap file")
        if "val_p_value" not in table.columns:
            raise ValueError(
                f"{path} predates validation-based signal bins (no val_p_value column): rerun the "
                "encode stage"
            )
        unit.scores[model] = ModelScores(
            test_r=table["test_r"].to_numpy(),
            signal=table["signal"].to_numpy(bool),
            val_r=table["val_r"].to_numpy(),
            predictions=predictions,
            test_r_boot=boot,
        )
    unit.folds = response_folds(params, resp)
    if sp.comparison == "permutation":
        # what the out-of-fold predictions predict: per-fold targets come from each event's fold
        unit.Y = encoding_targets(params, resp, unit.folds).held_out
        unit.swaps = block_swaps(
            n_events, sp.swaps, block=int(indices["block"]), seed=int(indices["swap_seed"])
        )
    return unit


def kind_results(params: Params, layout: Layout, electrodes: pd.DataFrame | None) -> tuple:
    """Comparisons, sites and summary of one response kind (``layout.kind``).

    Parameters
    ----------
    params : Params
        Validated params.
    layout : Layout
        The file layout of the kind.
    electrodes : DataFrame or None
        ``results/electrodes.csv`` (regions), when the regions stage has run.

    Returns
    -------
    comparisons, sites : DataFrame
        :func:`~mmsites.stats.sites.build_comparisons` and
        :func:`~mmsites.stats.sites.build_sites` tables, with ``response_kind`` first.
    summary : dict
        :func:`~mmsites.stats.sites.summarize` of the kind.
    """
    sp = params.stats
    models = model_infos(params)
    units = [load_unit(params, layout, s, a) for s in params.data.subjects for a in params.events.alignments]
    if sp.comparison == "permutation" and not sp.tail_fit:
        bh_floor_warning(
            sp.swaps, sum(len(u.electrodes) for u in units) // max(1, len(params.events.alignments)), sp.fdr_q
        )
    needed = min_signal(params, layout.kind)
    comparisons = build_comparisons(
        units,
        models,
        comparison=sp.comparison,
        min_signal_bins=needed,
        fdr_q=sp.fdr_q,
        default_winner=sp.default_winner,
        tail_fit=sp.tail_fit,
        cv_correction=sp.cv_correction,
        device=params.encoding.device,
    )
    sites = build_sites(
        comparisons, units, models, electrodes=electrodes, min_signal_bins=needed, fdr_q=sp.fdr_q
    )
    summary = summarize(sites, comparisons)
    comparisons.insert(0, "response_kind", layout.kind)
    sites.insert(0, "response_kind", layout.kind)
    return comparisons, sites, summary


#: Columns of ``results/layers.csv`` (written with its header even when no model has a sweep).
LAYER_COLUMNS = (
    "response_kind",
    "subject",
    "alignment",
    "model",
    "electrode",
    "layer",
    "type",
    "depth",
    "bin",
    "time_s",
    "val_r",
    "test_r",
    "best",
)


def layer_table(params: Params, base: Layout) -> pd.DataFrame:
    """Every layer sweep's per-(electrode, layer) picks and each electrode's best layer.

    Parameters
    ----------
    params : Params
        Validated params (models with ``layers``, subjects, alignments, response kinds).
    base : Layout
        The work directory's layout.

    Returns
    -------
    DataFrame
        :func:`mmsites.stats.layers.layer_profile` of each (kind, subject, alignment, model)
        sweep with those four columns first (:data:`LAYER_COLUMNS`); no rows when no model has
        a sweep.

    Raises
    ------
    FileNotFoundError
        When a sweep's scores are missing (run the encode stage).
    """
    parts = []
    for kind in params.responses.kinds:
        layout = base.for_kind(kind)
        for subject in params.data.subjects:
            for alignment in params.events.alignments:
                for model in params.models:
                    if model.layers is None:
                        continue
                    path = layout.layer_scores(subject, alignment, model.id)
                    if not path.is_file():
                        raise FileNotFoundError(f"{path} is missing: run the encode stage (layer sweeps)")
                    profile = layer_profile(pd.read_parquet(path))
                    profile.insert(0, "model", model.id)
                    profile.insert(0, "alignment", alignment)
                    profile.insert(0, "subject", subject)
                    profile.insert(0, "response_kind", kind)
                    parts.append(profile)
    table = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=list(LAYER_COLUMNS))
    return table[[c for c in LAYER_COLUMNS if c in table] + [c for c in table if c not in LAYER_COLUMNS]]


def run(params: Params, workdir: Path) -> None:
    """Run the stats stage: compare models per electrode, correct, and call the sites.

    Each kind of ``responses.kinds`` is tested on its own (FDR within the kind). Reads, for
    every kind, subject and alignment, ``work/responses/<kind>/sub-<s>_<alignment>.h5``,
    ``work/resampling/<kind>/sub-<s>_<alignment>.npz`` and every encoded model's
    ``work/scores/<kind>/sub-<s>_<alignment>_<model>.parquet`` (with ``_pred.npy`` for
    permutation comparisons or ``_boot.npy`` for bootstrap ones); ``results/electrodes.csv``
    when the regions stage has run; and, on the demo, ``<data.root>/truth.csv``. Writes
    ``results/comparisons.csv`` and ``results/sites.csv`` (every kind's rows, a
    ``response_kind`` column first), ``results/summary.json`` (kind -> summary) and, on the
    demo, ``results/demo_recovery.json`` (kind -> site column -> the recovery of the planted
    kinds the responses can see, :data:`mmsites.constants.MULTIMODAL_KINDS`: voltage the
    ``multimodal`` electrodes, band power the ``highgamma`` ones, BrainBERT both).

    Parameters
    ----------
    params : Params
        Validated params; ``responses.kinds``, ``stats``, ``models``, ``baselines``,
        ``encoding`` (folds, gap, device), ``data`` (subjects, format, root) and
        ``events.alignments`` matter.
    workdir : Path
        The working directory every path above is relative to.

    Raises
    ------
    FileNotFoundError
        If a responses, resampling, scores or (bootstrap comparisons) bootstrap file is
        missing.
    ValueError
        If a scores table predates validation-based signal bins.
    """
    base = Layout(workdir, params)
    electrodes_path = base.results / "electrodes.csv"
    electrodes = read_csv(electrodes_path, "electrodes table") if electrodes_path.is_file() else None
    if electrodes is None:
        log.warning("%s is missing (run the regions stage): sites.csv gets no regions", electrodes_path)
    all_comparisons, all_sites, summary = [], [], {}
    for kind in params.responses.kinds:
        comparisons, sites, summary[kind] = kind_results(params, base.for_kind(kind), electrodes)
        all_comparisons.append(comparisons)
        all_sites.append(sites)
        for test, by_alignment in summary[kind]["tests"].items():
            for alignment, numbers in (
                by_alignment.items() if "n_multimodal" not in by_alignment else [("", by_alignment)]
            ):
                log.info(
                    "%s: %s %s: %d of %d electrodes (%.1f %%)",
                    kind,
                    test,
                    alignment,
                    numbers["n_multimodal"],
                    numbers["n_electrodes"],
                    numbers["percent_multimodal"],
                )
    comparisons = pd.concat(all_comparisons, ignore_index=True)
    sites = pd.concat(all_sites, ignore_index=True)
    write_csv(comparisons, base.results / "comparisons.csv")
    write_csv(sites, base.results / "sites.csv")
    write_json(summary, base.results / "summary.json")
    write_csv(layer_table(params, base), base.results / "layers.csv")
    truth_path = base.data_root / "truth.csv"
    if params.data.format == "demo" and truth_path.is_file():
        truth = read_csv(truth_path, "truth table")
        recovery = {}
        for kind, kind_sites in zip(params.responses.kinds, all_sites):
            if kind not in MULTIMODAL_KINDS:  # the population code has no planted electrodes
                log.info("demo recovery: none for %s responses (no electrode kind is planted for it)", kind)
                continue
            recovery[kind] = {
                column: demo_recovery(
                    kind_sites, truth, column=column, multimodal_kinds=MULTIMODAL_KINDS[kind]
                )
                for column in ("multimodal_language", "multimodal_vision", "multimodal_strict")
            }
            for column, rec in recovery[kind].items():
                log.info(
                    "demo recovery (%s, %s responses, planted %s): precision %.2f, recall %.2f",
                    column,
                    kind,
                    "/".join(rec["multimodal_kinds"]),
                    rec["precision"],
                    rec["recall"],
                )
        write_json(recovery, base.results / "demo_recovery.json")

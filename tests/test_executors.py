"""Executors: local (in-process, processes) and dask give identical stats results."""

import numpy as np
import pytest

from encoding.folds import contiguous_folds
from pipeline.executors import make_executor
from stats.resampling import block_swaps, bootstrap_indices, fold_permutations
from stats.work import StatsChunk, run_chunk, split_chunks


def _chunks():
    rng = np.random.default_rng(0)
    n, T = 60, 4
    Y = rng.standard_normal((n, T))
    pred = 0.5 * Y + rng.standard_normal((n, T))
    folds = contiguous_folds(n, 5)
    units = []
    units += split_chunks(StatsChunk("null", ("1", "language", "m"), None, Y, folds=folds,
                                     predictions=pred),
                          fold_permutations(folds, n, 10, block=3, seed=0), 4)
    units += split_chunks(StatsChunk("bootstrap", ("1", "language", "m"), None, Y, folds=folds,
                                     predictions=pred),
                          bootstrap_indices(n, 7, seed=0), 3)
    units += split_chunks(StatsChunk("paired", ("1", "language", "m|m2"), None, Y, folds=folds,
                                     extra={"pred_a": pred, "pred_b": rng.standard_normal((n, T)),
                                            "union": np.ones((2, 2), bool)}),
                          block_swaps(n, 5, block=3, seed=0), 2)
    return units


def _same(x, y):
    if isinstance(x, tuple):
        return all(_same(a, b) for a, b in zip(x, y))
    return np.array_equal(x, y)


def test_local_processes_and_in_process_agree():
    units = _chunks()
    with make_executor("local", workers=1) as ex:
        serial = ex.map(run_chunk, units)
    with make_executor("local", workers=2) as ex:
        parallel = ex.map(run_chunk, units)
    assert len(serial) == len(units)
    assert all(_same(a, b) for a, b in zip(serial, parallel))


def test_chunked_units_equal_the_whole_computation():
    units = _chunks()
    results = make_executor("local", workers=1).map(run_chunk, units)
    nulls = np.vstack([r for u, r in zip(units, results) if u.kind == "null"])
    whole = run_chunk(StatsChunk("null", (), np.vstack([u.index for u in units if u.kind == "null"]),
                                 units[0].Y, folds=units[0].folds, predictions=units[0].predictions))
    np.testing.assert_allclose(nulls, whole, atol=1e-13)


def test_dask_local_cluster_gives_identical_results():
    distributed = pytest.importorskip("dask.distributed")
    units = _chunks()
    local = make_executor("local", workers=1).map(run_chunk, units)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:
        with make_executor("dask", scheduler=cluster.scheduler_address) as ex:
            remote = ex.map(run_chunk, units)
    assert all(_same(a, b) for a, b in zip(local, remote))


def test_executor_errors():
    with pytest.raises(ValueError, match="local' or 'dask"):
        make_executor("slurm")
    with pytest.raises(ValueError, match="scheduler address"):
        make_executor("dask")
    with pytest.raises(ValueError, match="unknown chunk kind"):
        run_chunk(StatsChunk("nope", (), np.zeros((1, 2)), np.zeros((2, 1))))

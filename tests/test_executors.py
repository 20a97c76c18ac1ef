"""Executors: local (in-process, processes) and dask run the same work units identically.

The encode stage's own equivalence (2 workers, a dask LocalCluster, identical tables) is
tested through the pipeline in tests/test_stats_pipeline.py.
"""

import os
import signal
from concurrent.futures.process import BrokenProcessPool

import numpy as np
import pytest

from mmsites.pipeline.executors import make_executor
from mmsites.stats.resampling import block_swaps, chunks


def _paired_null(args):
    """A real statistics work unit: the paired-swap null of one chunk of swaps."""
    from mmsites.encoding.folds import contiguous_folds
    from mmsites.stats.compare import paired_permutation_null

    rng = np.random.default_rng(0)
    n, T = 60, 4
    Y = rng.standard_normal((n, T))
    a, b = 0.5 * Y + rng.standard_normal((n, T)), rng.standard_normal((n, T))
    return paired_permutation_null(a, b, Y, contiguous_folds(n, 5), args, np.ones((2, 2), bool))


def _units():
    swaps = block_swaps(60, 10, block=3, seed=0)
    return [swaps[c] for c in chunks(10, 4)], swaps


@pytest.mark.slow
def test_local_processes_and_in_process_agree():
    units, whole = _units()
    with make_executor("local", workers=1) as ex:
        serial = ex.map(_paired_null, units)
    with make_executor("local", workers=2) as ex:
        parallel = ex.map(_paired_null, units)
    assert len(serial) == len(units)
    assert all(np.array_equal(a, b) for a, b in zip(serial, parallel))
    # Chunks concatenated equal the whole computation.
    np.testing.assert_allclose(np.vstack(serial), _paired_null(whole), atol=1e-13)


@pytest.mark.slow
def test_dask_local_cluster_gives_identical_results():
    distributed = pytest.importorskip("dask.distributed")
    units, _ = _units()
    local = make_executor("local", workers=1).map(_paired_null, units)
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster:
        with make_executor("dask", scheduler=cluster.scheduler_address) as ex:
            remote = ex.map(_paired_null, units)
    assert all(np.array_equal(a, b) for a, b in zip(local, remote))


def _pid(_):
    return os.getpid()


def _die(_):
    os.kill(os.getpid(), signal.SIGKILL)


@pytest.mark.slow
def test_local_workers_are_started_once_per_executor():
    """The stage's rounds (fits, null chunks, bootstrap) reuse the same worker processes; a
    killed worker breaks only that map, the next one starts fresh processes."""
    with make_executor("local", workers=2) as ex:
        first = ex.map(_pid, range(8))
        second = ex.map(_pid, range(8))
        assert len(set(first) | set(second)) <= 2 and os.getpid() not in first
        with pytest.raises(BrokenProcessPool):
            ex.map(_die, range(2))
        third = ex.map(_pid, range(4))
        assert not set(third) & (set(first) | set(second))
    assert ex._pool is None


def test_executor_errors():
    with pytest.raises(ValueError, match="local' or 'dask"):
        make_executor("slurm")
    with pytest.raises(ValueError, match="scheduler address"):
        make_executor("dask")

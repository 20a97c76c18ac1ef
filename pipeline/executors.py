"""Executors: run independent work units locally or on a dask cluster.

A work unit is a picklable argument of a module-level function, typically one
(subject, alignment, model, chunk of permutations or resamples). Units carry everything
random they need (seeds, or the index arrays themselves), never draw from worker state, so a
result does not depend on the executor, the number of workers, or the order of completion.
``map`` always returns results in unit order.

``local``
    ``workers > 1``: a ``concurrent.futures.ProcessPoolExecutor`` of fresh (forkserver)
    processes, started at the first ``map`` and kept until ``close`` (a stage's rounds reuse
    them instead of importing torch again in new ones); ``workers <= 1``: a plain loop in
    this process (easiest to debug, no pickling).
``dask``
    A ``dask.distributed.Client`` connected to ``scheduler`` (an address such as
    ``tcp://host:8786``, or a ``LocalCluster``/``SLURMCluster`` object), so a SLURM cluster
    started with dask-jobqueue runs the same units with no code change.
"""

from __future__ import annotations

import logging
import multiprocessing
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from tqdm.auto import tqdm

logger = logging.getLogger(__name__)

__all__ = ["make_executor", "LocalExecutor", "DaskExecutor"]


class _Executor:
    """Context-manager plumbing shared by the executors."""

    def close(self):
        """Release resources (nothing by default)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class LocalExecutor(_Executor):
    """Worker processes on this machine (or in-process when ``workers <= 1``).

    Parameters
    ----------
    workers : int
        Number of worker processes (``compute.workers``); 1 or fewer runs the units in a
        plain loop in this process.

    Raises
    ------
    ValueError
        If ``workers`` is not an integer.
    """

    kind = "local"

    def __init__(self, workers: int = 2):
        if int(workers) != workers:
            raise ValueError(f"compute.workers must be an integer, got {workers!r}")
        self.workers = int(workers)
        self._pool: ProcessPoolExecutor | None = None

    def _processes(self) -> ProcessPoolExecutor:
        """The worker processes, started on first use and kept for every later ``map``."""
        if self._pool is None:
            # Fresh worker processes (forkserver/spawn), not forks of this one: forking a
            # process whose torch/OpenMP thread pools are running can deadlock the children.
            ctx = multiprocessing.get_context(
                "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
            )
            self._pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=ctx)
        return self._pool

    def close(self):
        """Stop the worker processes (a later ``map`` starts new ones)."""
        if self._pool is not None:
            pool, self._pool = self._pool, None
            pool.shutdown(wait=True, cancel_futures=True)

    def map(self, fn: Callable[[Any], Any], units: Sequence[Any], *, desc: str | None = None) -> list:
        """Apply ``fn`` to every unit, in worker processes when there are several.

        Parameters
        ----------
        fn : callable
            A picklable module-level function of one unit.
        units : sequence
            The work units (picklable).
        desc : str, optional
            Label of the progress bar.

        Returns
        -------
        list
            ``[fn(u) for u in units]``, in unit order.
        """
        units = list(units)
        logger.info("running %d units of %s on %s", len(units), getattr(fn, "__name__", fn), self)
        if self.workers <= 1 or len(units) <= 1:
            return [fn(u) for u in tqdm(units, desc=desc, disable=None)]
        try:
            return list(tqdm(self._processes().map(fn, units), total=len(units), desc=desc, disable=None))
        except BrokenProcessPool:
            # a worker died (killed, out of memory): its pool cannot run anything more
            self.close()
            raise

    def __repr__(self):
        return f"LocalExecutor(workers={self.workers})"


class DaskExecutor(_Executor):
    """Units as tasks of a ``dask.distributed`` cluster.

    Parameters
    ----------
    scheduler : str or cluster object
        Scheduler address (``tcp://host:8786``) or a cluster object (``LocalCluster``,
        ``dask_jobqueue.SLURMCluster``); ``compute.dask_scheduler``.

    Raises
    ------
    ValueError
        If ``scheduler`` is None or empty.
    OSError
        If the scheduler cannot be reached.
    """

    kind = "dask"

    def __init__(self, scheduler):
        if scheduler is None or scheduler == "":
            raise ValueError(
                "the dask executor needs a scheduler address (compute.dask_scheduler), e.g. tcp://host:8786"
            )
        try:
            from dask.distributed import Client
        except ImportError as err:  # pragma: no cover - dask is a declared dependency
            raise ImportError(
                "compute.executor='dask' needs dask[distributed]: pip install 'dask[distributed]'"
            ) from err
        try:
            self.client = Client(scheduler)
        except OSError as err:
            raise OSError(
                f"could not connect to the dask scheduler at {scheduler!r}: {err}. "
                "Start it (dask scheduler / a dask-jobqueue cluster) or fix "
                "compute.dask_scheduler"
            ) from err
        self.scheduler = scheduler

    def map(self, fn: Callable[[Any], Any], units: Sequence[Any], *, desc: str | None = None) -> list:
        """Apply ``fn`` to every unit as tasks on the cluster.

        Parameters
        ----------
        fn : callable
            A picklable module-level function of one unit (importable on the workers).
        units : sequence
            The work units (picklable).
        desc : str, optional
            Ignored (no progress bar: the dask dashboard shows progress); accepted so both
            executors are called alike.

        Returns
        -------
        list
            ``[fn(u) for u in units]``, in unit order.
        """
        units = list(units)
        logger.info(
            "submitting %d units of %s to %s", len(units), getattr(fn, "__name__", fn), self.scheduler
        )
        # pure=False: identical units (e.g. two chunks that happen to be equal) are still
        # computed as separate tasks, which keeps keys unique and results in order.
        futures = self.client.map(fn, units, pure=False)
        return self.client.gather(futures)

    def close(self):
        """Disconnect from the scheduler (the cluster itself keeps running)."""
        self.client.close()

    def __repr__(self):
        return f"DaskExecutor(scheduler={self.scheduler!r})"


def make_executor(kind: str = "local", workers: int = 2, scheduler=None):
    """Build the executor named by ``compute.executor``.

    Parameters
    ----------
    kind : {"local", "dask"}
        Which executor: :class:`LocalExecutor` or :class:`DaskExecutor`.
    workers : int
        Worker processes for ``local`` (``compute.workers``).
    scheduler : str or cluster object, optional
        Scheduler address or cluster object, needed for ``dask`` (``compute.dask_scheduler``).

    Returns
    -------
    executor : LocalExecutor or DaskExecutor
        Has ``map(fn, units) -> list`` (unit order) and ``close()``; usable as a context
        manager.

    Raises
    ------
    ValueError
        If ``kind`` is neither ``"local"`` nor ``"dask"``, or its executor rejects
        ``workers`` or ``scheduler``.
    """
    if kind == "local":
        return LocalExecutor(workers)
    if kind == "dask":
        return DaskExecutor(scheduler)
    raise ValueError(f"compute.executor must be 'local' or 'dask', got {kind!r}")

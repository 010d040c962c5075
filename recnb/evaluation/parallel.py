"""Independent model work on several processes, with results that do not depend on how many.

The tuning of one model and the final fit of one model depend on nothing but their own inputs
(a blend's search waits for its members' chosen values, see :func:`recnb.evaluation.tuning.tune_models`),
so a comparison can run them side by side. :func:`model_executor` gives the executor both stages
use: with ``n_jobs=1`` an in-process one that runs each task when it is submitted; with more, a pool
of ``spawn``-ed worker processes (never ``fork``: a Jupyter kernel holds threads), started once per
process and shared by the later blocks (the workers import the model libraries once).

Every task runs with BLAS and OpenMP at one thread and the top-k scoring on one thread
(:data:`recnb.models.topk.THREADS_ENV`), in a worker and in the in-process executor alike, so a model
computes the same products in the same order whatever ``n_jobs``: the results are identical for
any number of workers (``tests/test_parallel.py`` checks it). The libraries' own thread settings
(``num_threads`` of implicit, LightFM, the neural model) are hyperparameters and stay as configured.
"""

from __future__ import annotations

import atexit
import importlib
import multiprocessing
import os
from collections.abc import Callable, Iterator
from concurrent import futures
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from contextlib import contextmanager
from typing import Any

from threadpoolctl import threadpool_limits

from recnb.models.topk import THREADS_ENV

__all__ = ["N_JOBS_ENV", "model_executor", "resolve_n_jobs", "run_task"]

#: environment variable that caps the number of worker processes (an int >= 1), e.g. on a
#: machine shared with other jobs; it never raises ``n_jobs``
N_JOBS_ENV = "RECNB_MAX_JOBS"


def resolve_n_jobs(n_jobs: int, n_tasks: int | None = None) -> int:
    """The number of worker processes to start for ``n_jobs`` and ``n_tasks`` tasks.

    Parameters
    ----------
    n_jobs : int
        Requested workers (>= 1; 1 runs everything in this process).
    n_tasks : int, optional
        Number of independent tasks: no more workers than tasks.

    Returns
    -------
    int
        ``min(n_jobs, n_tasks, $RECNB_MAX_JOBS)``, at least 1.

    Raises
    ------
    ValueError
        ``n_jobs`` is not an int >= 1, or ``$RECNB_MAX_JOBS`` is not one.
    """
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, int) or n_jobs < 1:
        raise ValueError(f"n_jobs must be an int >= 1, got {n_jobs!r}")
    n = n_jobs
    raw = os.environ.get(N_JOBS_ENV, "").strip()
    if raw:
        try:
            cap = int(raw)
        except ValueError:
            cap = 0
        if cap < 1:
            raise ValueError(f"{N_JOBS_ENV}={raw!r}: expected an int >= 1")
        n = min(n, cap)
    if n_tasks is not None:
        n = min(n, max(1, int(n_tasks)))
    return max(1, n)


def run_task(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run ``fn(*args, **kwargs)`` as every model task runs: BLAS, OpenMP and top-k scoring on one
    thread (one core per task; explicit ``num_threads`` hyperparameters still apply)."""
    before = os.environ.get(THREADS_ENV)
    os.environ[THREADS_ENV] = "1"
    try:
        with threadpool_limits(limits=1):  # BLAS and OpenMP (implicit's num_threads=0 included)
            return fn(*args, **kwargs)
    finally:
        if before is None:
            os.environ.pop(THREADS_ENV, None)
        else:
            os.environ[THREADS_ENV] = before


def _model_modules() -> tuple[str, ...]:
    """The modules that define the registered models, as this process has them.

    A spawned worker starts with the model catalogue of :mod:`recnb.models` only; a model
    registered from elsewhere (``spark_als`` from :mod:`recnb.backends`, registered by the
    workflow) must be imported there again before a task can name it.
    """
    from recnb.models.registry import REGISTRY

    return tuple(sorted({REGISTRY[name].__module__ for name in REGISTRY}))


def _run_registered(modules: tuple[str, ...], fn: Callable[..., Any], *args: Any, **kwargs: Any):
    """In a worker: import the modules of the parent's registered models, then :func:`run_task`."""
    for module in modules:
        importlib.import_module(module)
    return run_task(fn, *args, **kwargs)


class _InlineExecutor(Executor):
    """Runs each task in this process at submission (``n_jobs=1``), under :func:`run_task`."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        future: Future = Future()
        try:
            future.set_result(run_task(fn, *args, **kwargs))
        except BaseException as e:  # handed to whoever asks for the result, as a pool does
            future.set_exception(e)
        return future


#: worker pools kept for the life of the process, by number of workers: starting a worker imports
#: the model libraries (seconds), so the tuning and the final fits of a stage share the workers
_POOLS: dict[int, ProcessPoolExecutor] = {}


def _pool(n_workers: int) -> ProcessPoolExecutor:
    pool = _POOLS.get(n_workers)
    if pool is None or getattr(pool, "_broken", False) or getattr(pool, "_shutdown_thread", False):
        pool = ProcessPoolExecutor(
            max_workers=n_workers, mp_context=multiprocessing.get_context("spawn")
        )
        _POOLS[n_workers] = pool
    return pool


@atexit.register
def _close_pools() -> None:
    for pool in _POOLS.values():
        pool.shutdown(wait=False, cancel_futures=True)
    _POOLS.clear()


class _TaskPool(Executor):
    """The tasks of one :func:`model_executor` block on a shared process pool, each under
    :func:`run_task`; shutting it down waits for (or cancels) this block's tasks only."""

    def __init__(self, n_workers: int) -> None:
        self._pool = _pool(n_workers)
        self._futures: list[Future] = []

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        future = self._pool.submit(_run_registered, _model_modules(), fn, *args, **kwargs)
        self._futures.append(future)
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        if cancel_futures:
            for f in self._futures:
                f.cancel()
        if wait:
            futures.wait(self._futures)


@contextmanager
def model_executor(n_jobs: int = 1, n_tasks: int | None = None) -> Iterator[Executor]:
    """An executor for independent model tasks (see the module docstring).

    Parameters
    ----------
    n_jobs : int
        Worker processes (1: run in this process, each task when submitted).
    n_tasks : int, optional
        Number of tasks to come (no more workers are started than tasks).

    Yields
    ------
    concurrent.futures.Executor
        Submit functions defined at module level (they are pickled to the workers) and arguments
        that pickle; a task's exception is raised by its future's ``result()``. Leaving the
        context waits for (or, after an error, cancels) the remaining tasks.
    """
    n = resolve_n_jobs(n_jobs, n_tasks)
    executor: Executor = _InlineExecutor() if n == 1 else _TaskPool(n)
    try:
        yield executor
    except BaseException:
        executor.shutdown(wait=True, cancel_futures=True)
        raise
    executor.shutdown(wait=True)

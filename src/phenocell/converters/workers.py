"""Run one task per unit of a source: in this process, on a local process pool, or on a Dask cluster.

A task is a picklable callable ``task(source, unit) -> result`` (a module-level function, or a
``functools.partial`` of one). Each task gets the source cut down to its own unit
(:meth:`~phenocell.converters.base.Source.for_unit`: its cell-table rows, its files), reads its images,
writes its own files and returns a small summary; the caller collects the summaries, in whatever order they
finish, and writes everything that spans units afterwards. ``convert``, ``qc`` and ``export geojson`` all
run their units here.

- ``workers == 1`` (or a single unit): a plain loop in this process.
- ``workers > 1``: a ``ProcessPoolExecutor`` (forkserver where available, else spawn; never fork, which
  copies the parent's threads and locks). At most ``2 * workers`` units are queued at a time, and a worker
  holds one unit at a time, so memory stays bounded.
- ``scheduler``: tasks are submitted to an existing Dask cluster (``pip install phenocell[dask]``); the
  paths the tasks write to must be shared storage that every worker sees under the same path. Dask
  reschedules the task of a worker that dies (up to its ``distributed.scheduler.allowed-failures``, 3 by
  default) and retries a task that raises an unexpected exception ``DASK_RETRIES`` times (``retries=`` on
  submit); a PhenoCell input error is not retried (it would fail again) but stops the run.

Importing this module is cheap (no ``datasets``, pandas or format module): the CLI imports it to start the
forkserver (:func:`warm_up`) before it imports the heavy modules, so the server's imports overlap its own.
"""

from __future__ import annotations

import multiprocessing
import sys
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from phenocell.converters.options import ExecutionOptions
from phenocell.errors import InvalidOptionError, PhenoCellError, WorkerError

if TYPE_CHECKING:
    from phenocell.converters.base import Source

T = TypeVar("T")
UnitTask = Callable[["Source", str], T]

DASK_RETRIES = 2
CONNECT_TIMEOUT_S = 30


@dataclass(frozen=True)
class _Failed:
    """A task's PhenoCell error, returned as a value so Dask does not retry a bad input."""

    error: PhenoCellError


def _call(task: UnitTask[T], source: Source, unit: str) -> T | _Failed:
    try:
        return task(source, unit)
    except PhenoCellError as err:
        return _Failed(err)


def _unwrap(fov: str, result: T | _Failed) -> tuple[str, T]:
    if isinstance(result, _Failed):
        raise result.error
    return fov, result


def run_units(
    task: UnitTask[T], source: Source, execution: ExecutionOptions, units: Sequence[str] | None = None
) -> Iterator[tuple[str, T]]:
    """Run ``task`` on every unit (default: ``source.units()``); yield ``(unit, result)`` as each ends.

    Args:
        task: picklable ``task(source, unit)``; it is given the source cut down to that unit.
        source: the opened source (inputs read and checked).
        execution: local worker count or Dask scheduler address.
        units: the units to run, in submission order.

    Yields:
        ``(unit, result)`` in completion order.

    Raises:
        PhenoCellError: the first failing FoV's error; the other tasks are cancelled. Local tasks
            already running finish first, so nothing writes after this returns; on Dask, a task already
            running on a worker cannot be interrupted and may still try to write its shard: the caller's
            staging directory is renamed aside before it is removed, so that write fails and leaves nothing.
        WorkerError: a worker process died (local pool), or kept dying (Dask).

    """
    order = source.units() if units is None else list(units)
    if execution.scheduler is not None:
        yield from _on_dask(task, source, order, execution.scheduler)
    elif min(execution.local_workers, len(order)) <= 1:
        for unit in order:  # in this process, on the full source
            yield unit, task(source, unit)
    else:
        yield from _on_pool(task, source, order, min(execution.local_workers, len(order)))


def _preload(*modules: str) -> list[str]:
    """What the forkserver imports once: the given modules, and the main script (else each worker runs it)."""
    main = sys.modules.get("__main__")
    return (["__main__"] if getattr(main, "__file__", None) else []) + [
        m for m in modules if m.startswith("phenocell.")
    ]


def _context(task: Callable[..., Any]) -> Any:
    """Forkserver (its server imports the task's module once; workers fork from it), else spawn."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(_preload(getattr(task, "func", task).__module__))
        return ctx
    return multiprocessing.get_context("spawn")


def warm_up(execution: ExecutionOptions, *modules: str) -> None:
    """Start the local forkserver now, so it imports ``modules`` while the driver reads the inputs.

    Give the task's module and the source's (its readers): each worker then forks with them imported.

    A no-op for a Dask run, a single worker, or where forkserver is unavailable (spawn starts on submit).
    """
    local = execution.scheduler is None and execution.local_workers > 1
    if local and "forkserver" in multiprocessing.get_all_start_methods():
        from multiprocessing import forkserver

        forkserver.set_forkserver_preload(_preload(*modules))
        forkserver.ensure_running()


def _died(fov: str, where: str) -> WorkerError:
    return WorkerError(
        f"a worker died while processing unit {fov}",
        expected="every worker to finish its unit",
        found=f"the {where} ended abruptly (killed, or out of memory)",
        fix="rerun; if it happens again, lower --workers so each worker has memory for one unit",
    )


def _collect(fov: str, future: Any, died: type[BaseException], where: str) -> tuple[str, Any]:
    """A finished future's ``(fov, result)``; ``died`` (a lost-worker error of the backend) -> WorkerError."""
    try:
        result = future.result()
    except died as err:
        raise _died(fov, where) from err
    return _unwrap(fov, result)


def _on_pool(task: UnitTask[T], source: Source, fovs: list[str], workers: int) -> Iterator[tuple[str, T]]:
    queue = iter(fovs)
    running: dict[Future[Any], str] = {}
    with ProcessPoolExecutor(max_workers=workers, mp_context=_context(task)) as pool:
        try:
            while True:
                while len(running) < 2 * workers and (fov := next(queue, None)) is not None:
                    running[_submit(pool, running, task, source, fov)] = fov
                if not running:
                    return
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in sorted(done, key=running.__getitem__):
                    yield _collect(running.pop(future), future, BrokenProcessPool, "local worker process")
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise


def _submit(
    pool: ProcessPoolExecutor, running: dict[Future[Any], str], task: UnitTask[T], source: Source, fov: str
) -> Future[Any]:
    """Submit ``fov``; a pool that a worker's death broke since the last wait is a WorkerError too.

    The dead worker's unit is one of those in flight (its future may not say so yet).
    """
    try:
        return pool.submit(_call, task, source.for_unit(fov), fov)
    except BrokenProcessPool as err:
        in_flight = " or ".join(sorted(running.values())) or fov
        raise _died(in_flight, "local worker process") from err


def _client(address: str) -> Any:
    try:
        from distributed import Client
    except ImportError as err:
        raise InvalidOptionError(
            "--scheduler needs Dask distributed",
            expected="the dask extra installed",
            found="no module named 'distributed'",
            fix='pip install "phenocell[dask]", or run without --scheduler (local processes)',
        ) from err
    try:
        return Client(address, timeout=CONNECT_TIMEOUT_S, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as err:
        raise InvalidOptionError(
            "cannot reach the Dask scheduler",
            expected=f"a running scheduler at {address}",
            found=f"{type(err).__name__}: {err}",
            fix="start one (dask scheduler) and workers, and pass the address it prints",
        ) from err


def _on_dask(task: UnitTask[T], source: Source, fovs: list[str], address: str) -> Iterator[tuple[str, T]]:
    from distributed import KilledWorker, as_completed

    run = uuid.uuid4().hex[:8]
    with _client(address) as client:
        futures = {
            client.submit(
                _call, task, source.for_unit(fov), fov, key=f"phenocell-{fov}-{run}", retries=DASK_RETRIES
            ): fov
            for fov in fovs
        }
        try:
            for future in as_completed(futures, loop=client.loop):
                yield _collect(futures[future], future, KilledWorker, "Dask worker (every allowed try)")
        except BaseException:
            client.cancel(list(futures))
            raise

"""The worker process pool: CPU work (parsing, rendering, OCR) never runs on the event loop.

Workers come from a ``forkserver`` (a clean process, not a fork of the threaded service) that has
imported the format readers and loaded the language model first (``extraction.preload``), so a
new worker costs a fork, not a second of CPU; they run Tesseract single-threaded. A worker that
dies (a hostile file crashing MuPDF) breaks the executor; the pool then replaces it, so the
service keeps going.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import multiprocessing
import os
import signal
from collections.abc import AsyncIterator, Callable
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any, Generic, ParamSpec, TypeVar

log = logging.getLogger("docuvault.extractor")

P = ParamSpec("P")
T = TypeVar("T")
#: a worker is replaced after this many tasks, so a slow leak in a native library stays bounded
TASKS_PER_WORKER = 500
#: imported by the forkserver before it forks workers
PRELOAD = ["docuvault.extractor.extraction.preload"]


@dataclass(frozen=True)
class Job(Generic[T]):
    future: concurrent.futures.Future[T]
    executor: concurrent.futures.ProcessPoolExecutor


class WorkerCrashed(Exception):
    """A worker process died while the pool held a task of ours."""


class Quarantine:
    """Who may use the pool: documents on a first attempt share it; a document tried again
    after a crash has it alone, so that a second crash is its own and not a neighbour's (a
    dying worker breaks every task in the pool). Waiting retries hold new first attempts back."""

    def __init__(self) -> None:
        self._changed = asyncio.Condition()
        self._sharing = 0
        self._waiting_alone = 0
        self._alone = False

    @contextlib.asynccontextmanager
    async def shared(self) -> AsyncIterator[None]:
        async with self._changed:
            await self._changed.wait_for(lambda: not (self._alone or self._waiting_alone))
            self._sharing += 1
        try:
            yield
        finally:
            async with self._changed:
                self._sharing -= 1
                self._changed.notify_all()

    @contextlib.asynccontextmanager
    async def alone(self) -> AsyncIterator[None]:
        async with self._changed:
            self._waiting_alone += 1
            try:
                await self._changed.wait_for(lambda: not self._alone and self._sharing == 0)
            finally:
                self._waiting_alone -= 1
            self._alone = True
        try:
            yield
        finally:
            async with self._changed:
                self._alone = False
                self._changed.notify_all()


def _init_worker() -> None:
    os.environ["OMP_THREAD_LIMIT"] = "1"
    os.setpgrp()  # its own process group: killing it takes its Tesseract child along


def _workers(executor: concurrent.futures.ProcessPoolExecutor) -> list[Any]:
    """The executor's worker processes (private API, guarded; shutdown() forgets them)."""
    return list((getattr(executor, "_processes", None) or {}).values())


def _kill(processes: list[Any]) -> None:
    """Kill worker processes and their children."""
    for process in processes:
        if not process.is_alive():
            continue
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            process.kill()


class WorkerPool:
    def __init__(self, workers: int) -> None:
        self.workers = workers
        os.environ.setdefault("OMP_THREAD_LIMIT", "1")
        self._executor = self._new()
        self.restarts = 0
        self.closed = False

    def _new(self) -> concurrent.futures.ProcessPoolExecutor:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(PRELOAD)  # no effect once the forkserver runs
        return concurrent.futures.ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=context,
            initializer=_init_worker,
            max_tasks_per_child=TASKS_PER_WORKER,
        )

    def submit(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> Job[T]:
        executor = self._executor
        try:
            return Job(executor.submit(fn, *args, **kwargs), executor)
        except BrokenProcessPool as exc:
            self._replace(executor)
            raise WorkerCrashed(str(exc)) from exc
        except RuntimeError:  # shut down underneath us: another task replaced it just now
            if executor is self._executor:
                raise
            return self.submit(fn, *args, **kwargs)

    async def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        return await self.wait(self.submit(fn, *args, **kwargs))

    async def wait(self, job: Job[T]) -> T:
        try:
            return await asyncio.wrap_future(job.future)
        except BrokenProcessPool as exc:
            self._replace(job.executor)
            raise WorkerCrashed("a worker process died (the file may have crashed it)") from exc

    def _replace(self, broken: concurrent.futures.ProcessPoolExecutor) -> None:
        if broken is not self._executor or self.closed:
            return  # another task saw the same crash and replaced it already
        log.error("a worker process died; starting a new worker pool")
        self.restarts += 1
        self._executor = self._new()
        # not cancel_futures: a cancelled future would cancel its awaiting task; the queued
        # tasks fail with BrokenProcessPool instead, and their documents are tried again
        broken.shutdown(wait=False)

    def recycle(self) -> None:
        """Kill the workers (stuck on a task past its budget) and start fresh ones.

        Tasks of other documents running in them fail with ``WorkerCrashed`` and are retried.
        """
        if self.closed:
            return
        old = self._executor
        workers = _workers(old)
        self._replace(old)
        _kill(workers)

    async def check(self) -> None:
        """Readiness: the pool takes work (a busy pool is ready: work queues, it is not lost)."""
        broken = getattr(self._executor, "_broken", False)
        if broken:
            raise RuntimeError(f"the worker pool is broken: {broken}")

    async def close(self) -> None:
        """Stop at once: unfinished documents are redelivered by the broker (never acked)."""
        self.closed = True
        executor = self._executor
        workers = _workers(executor)
        executor.shutdown(wait=False, cancel_futures=True)
        _kill(workers)
        await asyncio.to_thread(executor.shutdown, wait=True)

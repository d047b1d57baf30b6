"""The worker process pool: CPU work (parsing, rendering, OCR) never runs on the event loop.

Workers come from a ``forkserver`` (a clean process, not a fork of the threaded service) that has
imported the format readers and loaded the language model first (``extraction.preload``), so a
new worker costs a fork, not a second of CPU; they run Tesseract single-threaded.

Each worker has two pipes of its own: tasks go out on one, sent only to an idle worker (so the
queue of waiting tasks stays here, where a task not yet started can be dropped); answers come
back on the other, read by the event loop itself (``add_reader``) as their bytes arrive.

Not ``ProcessPoolExecutor``: its two helper threads and the wake-ups between them cost the
service process about 0.6 ms of CPU per task (measured: an eighth of what a short text PDF costs
its worker, on the same two cores), and one dying worker broke every task in its pool. Here a
worker that dies (a hostile file crashing MuPDF, or killed because it is stuck) fails only the
task it held, and a fresh worker takes its place.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import multiprocessing
import os
import pickle
import signal
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any, Generic, ParamSpec, TypeVar

from docuvault.extractor import worker

log = logging.getLogger("docuvault.extractor")

P = ParamSpec("P")
T = TypeVar("T")
#: imported by the forkserver before it forks workers
PRELOAD = ["docuvault.extractor.worker", "docuvault.extractor.extraction.preload"]
#: a worker that cannot be started is tried again after this long
RESPAWN_DELAY_S = 1.0
SUCCESSOR_AHEAD = 50
READ_BYTES = 1 << 20


class WorkerCrashed(Exception):
    """The worker process running a task of ours died (or was killed) before it answered."""


@dataclass(eq=False)
class Job(Generic[T]):
    """One task: queued, then running in a worker, then done (its future has the answer)."""

    call: tuple[Callable[..., T], tuple[Any, ...], dict[str, Any]]
    future: asyncio.Future[T]
    running: bool = False

    def cancel(self) -> bool:
        """Drop the task if no worker has started it; a running task runs on (see ``recycle``)."""
        return not self.running and self.future.cancel()


@dataclass(eq=False)
class _Worker:
    process: Any  # multiprocessing's Process
    tasks: Connection  # written here (blocking: only to an idle worker, which is reading)
    answers: Connection  # read by the event loop as bytes arrive
    job: Job[Any] | None = None
    sent: int = 0  # tasks sent to it
    received: bytearray = field(default_factory=bytearray)  # an answer not yet whole

    def close(self) -> None:
        self.tasks.close()
        self.answers.close()


class WorkerPool:
    def __init__(self, workers: int, *, tasks_per_worker: int = worker.TASKS_PER_WORKER) -> None:
        self.workers = workers
        self.tasks_per_worker = tasks_per_worker
        #: a retiring worker's successor starts this many tasks before its last one (starting
        #: a worker takes about 0.1 s; the pool runs one worker more for that time)
        self._successor_at = max(1, tasks_per_worker - SUCCESSOR_AHEAD)
        self.restarts = 0  # workers replaced after they died or were killed
        self.closed = False
        self._queue: collections.deque[Job[Any]] = collections.deque()
        self._live: list[_Worker] = []
        self._starting: set[asyncio.Task[None]] = set()
        self._start_error: str | None = None
        self._context = multiprocessing.get_context("forkserver")
        self._context.set_forkserver_preload(PRELOAD)  # no effect once the forkserver runs

    def submit(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> Job[T]:
        if self.closed:
            raise RuntimeError("the worker pool is closed")
        job: Job[T] = Job((fn, args, kwargs), asyncio.get_running_loop().create_future())
        self._queue.append(job)
        self._fill()
        self._dispatch()
        return job

    async def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        return await self.wait(self.submit(fn, *args, **kwargs))

    async def wait(self, job: Job[T]) -> T:
        return await job.future

    def recycle(self, jobs: Iterable[Job[Any]]) -> None:
        """Kill the workers running these jobs (stuck past their budget) and start fresh ones;
        the jobs fail with ``WorkerCrashed``, the other workers' tasks go on."""
        stuck = set(jobs)
        for each in list(self._live):
            if each.job in stuck:
                _kill(each.process)
                self._lost(each, "it was killed: stuck past the document's time budget")

    async def check(self) -> None:
        """Readiness: workers run, or can be started (a busy pool is ready: work queues)."""
        if self.closed:
            raise RuntimeError("the worker pool is closed")
        if not self._live and self._start_error:
            raise RuntimeError(f"no worker process can be started: {self._start_error}")

    async def close(self) -> None:
        """Stop at once: unfinished documents are redelivered by the broker (never acked)."""
        self.closed = True
        # a worker being started is killed by its starter, which sees ``closed``
        await asyncio.gather(*self._starting, return_exceptions=True)
        for job in self._queue:
            job.future.cancel()
        self._queue.clear()
        killed = list(self._live)
        for each in killed:
            _kill(each.process)
            self._forget(each)
            if each.job is not None:
                each.job.future.cancel()
        await asyncio.gather(*(asyncio.to_thread(each.process.join, 5) for each in killed))

    def _fill(self) -> None:
        """Start workers until there are ``workers`` of them (live or starting)."""
        starting = sum(not task.done() for task in self._starting)
        for _ in range(self.workers - len(self._live) - starting):
            self._start_one()

    def _start_one(self) -> None:
        if self.closed:
            return
        task = asyncio.get_running_loop().create_task(self._start())
        self._starting.add(task)
        task.add_done_callback(self._starting.discard)

    async def _start(self) -> None:
        try:
            started = await self._spawn()
        except Exception as exc:
            self._start_error = f"{type(exc).__name__}: {exc}"
            log.error("a worker process could not be started (%s); trying again", exc)
            if not self.closed:
                await asyncio.sleep(RESPAWN_DELAY_S)
                asyncio.get_running_loop().call_soon(self._fill)  # once this task is done
            return
        if self.closed:
            _kill(started.process)
            started.close()
            return
        self._start_error = None
        self._live.append(started)
        asyncio.get_running_loop().add_reader(started.answers.fileno(), self._on_readable, started)
        self._dispatch()

    async def _spawn(self) -> _Worker:
        tasks_r, tasks_w = self._context.Pipe(duplex=False)
        answers_r, answers_w = self._context.Pipe(duplex=False)
        process = self._context.Process(
            target=worker.serve, args=(tasks_r, answers_w, self.tasks_per_worker), daemon=True
        )
        try:
            # the first start launches the forkserver (seconds): not on the event loop
            await asyncio.to_thread(process.start)
        except BaseException:
            tasks_w.close()
            answers_r.close()
            raise
        finally:
            tasks_r.close()
            answers_w.close()
        return _Worker(process, tasks_w, answers_r)

    def _dispatch(self) -> None:
        while self._queue:
            each = next((w for w in self._live if w.job is None), None)
            if each is None:
                return
            job = self._queue.popleft()
            if job.future.done():  # cancelled while it waited
                continue
            try:
                each.tasks.send(job.call)
            except (OSError, EOFError):  # the worker died while idle: the task has not started
                self._queue.appendleft(job)
                self._lost(each, "its pipe broke")
                continue
            except Exception as exc:  # the task cannot be pickled
                job.future.set_exception(exc)
                continue
            job.running, each.job = True, job
            each.sent += 1
            if each.sent == self._successor_at:
                self._start_one()  # ready by the time this worker retires: no gap in service

    def _on_readable(self, each: _Worker) -> None:
        try:
            chunk = os.read(each.answers.fileno(), READ_BYTES)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._lost(each, f"its pipe failed: {exc}")
            return
        if not chunk:
            self._lost(each, "it died")
            return
        each.received += chunk
        while each in self._live and (answer := worker.take_answer(each.received)) is not None:
            self._on_answer(each, answer)

    def _on_answer(self, each: _Worker, answer: bytes) -> None:
        try:  # our own worker's answer, as ProcessPoolExecutor would read it
            ok, value, retiring = pickle.loads(answer)  # noqa: S301
        except Exception as exc:  # an error type that cannot be rebuilt here
            ok, retiring = False, False
            value = RuntimeError(f"a worker's answer is unreadable: {exc}")
        self._settle(each, ok, value)
        if retiring:  # it exits now, after its last task; a fresh one takes its place
            self._forget(each)
            self._fill()
        self._dispatch()

    def _lost(self, each: _Worker, why: str) -> None:
        """A worker died or was killed: its task fails, a fresh worker takes its place."""
        if each not in self._live:
            return
        self._forget(each)
        self.restarts += 1
        code = each.process.exitcode
        log.error("a worker process was lost (%s, exit code %s); starting a new one", why, code)
        crashed = WorkerCrashed(f"the worker process died ({why}); the file may have crashed it")
        self._settle(each, False, crashed)
        if not self.closed:
            self._fill()
            self._dispatch()

    @staticmethod
    def _settle(each: _Worker, ok: bool, value: Any) -> None:
        """The worker's task is over: its future gets the answer (unless cancelled meanwhile)."""
        job, each.job = each.job, None
        if job is None:
            return
        job.running = False
        if job.future.done():
            return
        if ok:
            job.future.set_result(value)
        else:
            job.future.set_exception(value)

    def _forget(self, each: _Worker) -> None:
        if each in self._live:
            self._live.remove(each)
        asyncio.get_running_loop().remove_reader(each.answers.fileno())
        each.close()


def _kill(process: Any) -> None:
    """Kill a worker and its children (its own process group: Tesseract goes with it)."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        process.kill()

"""The worker process pool: CPU work (parsing, rendering, OCR) never runs on the event loop.

Workers come from a ``forkserver`` (a clean process, not a fork of the threaded service) that has
imported the format readers and loaded the language model first (``extraction.preload``), so a
new worker costs a fork, not a second of CPU; they run Tesseract single-threaded.

Each worker has two pipes of its own: tasks go out on one — to an idle worker, or, when a task
is small, as the next of a busy one (so it starts without waiting for the event loop); the
queue of other waiting tasks stays here, where a task not yet sent can be dropped — and answers
come back on the other, read by the event loop itself (``add_reader``) as their bytes arrive.

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
from multiprocessing.reduction import ForkingPickler
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
#: tasks a worker holds at once: the one it runs and the next, waiting in its pipe, so that it
#: starts the next one without waiting for the event loop to read its answer and send more (a
#: busy service loop left workers idle between short documents)
DEPTH = 2
#: only a task this small waits in a busy worker's pipe: a larger one would not fit in the pipe,
#: and writing it would block the event loop until the worker is done with its current task
PIPELINED_BYTES = 32 * 1024


class WorkerCrashed(Exception):
    """The worker process running a task of ours died (or was killed) before it answered."""


@dataclass(eq=False)
class Job(Generic[T]):
    """One task: queued here, then sent to a worker, then done (its future has the answer)."""

    call: tuple[Callable[..., T], tuple[Any, ...], dict[str, Any]]
    future: asyncio.Future[T]
    running: bool = False  # sent to a worker: running there, or next in its pipe
    data: bytes | None = None  # the call, pickled

    def cancel(self) -> bool:
        """Drop the task if it is still queued here; a task sent to a worker runs on (see
        ``recycle``)."""
        return not self.running and self.future.cancel()


@dataclass(eq=False)
class _Worker:
    process: Any  # multiprocessing's Process
    tasks: Connection  # written here (blocking: only to an idle worker, which is reading)
    answers: Connection  # read by the event loop as bytes arrive
    jobs: collections.deque[Job[Any]] = field(default_factory=collections.deque)  # sent, unanswered
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
        os.environ.setdefault("OMP_THREAD_LIMIT", "1")

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
            if each.jobs and each.jobs[0] in stuck:
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
            for job in each.jobs:
                job.future.cancel()
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
        """Send queued tasks, in order, to idle workers, else small ones to busy workers."""
        while self._queue:
            job = self._queue[0]
            if job.future.done():  # cancelled while it waited
                self._queue.popleft()
                continue
            if job.data is None:
                try:
                    job.data = bytes(ForkingPickler.dumps(job.call))
                except Exception as exc:  # the task cannot be pickled
                    self._queue.popleft()
                    job.future.set_exception(exc)
                    continue
            each = self._worker_for(len(job.data))
            if each is None:
                return
            self._queue.popleft()
            try:
                each.tasks.send_bytes(job.data)
            except OSError:  # the worker died: this task has not started
                self._queue.appendleft(job)
                self._lost(each, "its pipe broke")
                continue
            job.running, job.data = True, None
            each.jobs.append(job)
            each.sent += 1
            if each.sent == self._successor_at:
                self._start_one()  # ready by the time this worker retires: no gap in service

    def _worker_for(self, size: int) -> _Worker | None:
        """An idle worker, else one running a single task when the task is small; never one
        that has been sent all the tasks it will take before it retires."""
        busy = None
        for each in self._live:
            if each.sent >= self.tasks_per_worker:
                continue
            if not each.jobs:
                return each
            if busy is None and len(each.jobs) < DEPTH and size <= PIPELINED_BYTES:
                busy = each
        return busy

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
        job = each.jobs.popleft()
        job.running = False
        if not job.future.done():
            if ok:
                job.future.set_result(value)
            else:
                job.future.set_exception(value)
        if retiring:  # it exits now, after its last task; a fresh one takes its place
            self._requeue(each)
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
        if each.jobs:  # answers come in order: the first unanswered task is the one it ran
            job = each.jobs.popleft()
            job.running = False
            if not job.future.done():
                job.future.set_exception(
                    WorkerCrashed(f"the worker process died ({why}); the file may have crashed it")
                )
        self._requeue(each)
        if not self.closed:
            self._fill()
            self._dispatch()

    def _requeue(self, each: _Worker) -> None:
        """Tasks still waiting in a lost or retired worker's pipe go back to the queue's head."""
        while each.jobs:
            job = each.jobs.pop()
            job.running = False
            self._queue.appendleft(job)

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

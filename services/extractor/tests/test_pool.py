"""The worker pool with real worker processes: answers, crashes, stuck workers, retirement."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import AsyncIterator, Callable

import pytest
import uvloop

from docuvault.extractor.pool import WorkerCrashed, WorkerPool

PoolFactory = Callable[..., WorkerPool]


@pytest.fixture
async def fresh_pool() -> AsyncIterator[PoolFactory]:
    """Pools of the test's own (its workers crash or are killed), closed after it."""
    made: list[WorkerPool] = []

    def make(workers: int, **options: int) -> WorkerPool:
        made.append(WorkerPool(workers, **options))
        return made[-1]

    yield make
    for each in made:
        await each.close()


async def test_workers_run_tesseract_single_threaded(pool: WorkerPool) -> None:
    assert await pool.run(os.getenv, "OMP_THREAD_LIMIT") == "1"


async def test_the_pool_reports_ready(pool: WorkerPool) -> None:
    await pool.check()


async def test_errors_come_back_as_they_were_raised(pool: WorkerPool) -> None:
    with pytest.raises(UnicodeDecodeError):
        await pool.run(bytes.decode, b"\xff", "utf-8")
    assert await pool.run(os.getpid) > 0


async def test_an_answer_that_cannot_be_sent_back_is_an_error(pool: WorkerPool) -> None:
    with pytest.raises(RuntimeError, match="cannot be sent back"):
        await pool.run(threading.Lock)
    assert await pool.run(os.getpid) > 0


async def test_tasks_run_in_parallel_across_the_workers(pool: WorkerPool) -> None:
    await asyncio.gather(pool.run(os.getpid), pool.run(os.getpid))  # both workers are up
    started = time.perf_counter()
    await asyncio.gather(pool.run(time.sleep, 0.5), pool.run(time.sleep, 0.5))
    assert time.perf_counter() - started < 0.9


async def test_a_crashed_worker_is_replaced(fresh_pool: PoolFactory) -> None:
    pool = fresh_pool(1)
    first = await pool.run(os.getpid)
    with pytest.raises(WorkerCrashed):
        await pool.run(os._exit, 3)
    assert await pool.run(os.getpid) != first
    assert pool.restarts == 1


async def test_a_crash_fails_only_the_task_its_worker_held(fresh_pool: PoolFactory) -> None:
    pool = fresh_pool(2)
    await asyncio.gather(pool.run(os.getpid), pool.run(os.getpid))
    beside = pool.submit(time.sleep, 0.5)
    crashing = pool.submit(os.abort)
    with pytest.raises(WorkerCrashed):
        await pool.wait(crashing)
    await pool.wait(beside)  # no WorkerCrashed: its worker went on
    assert pool.restarts == 1


async def test_stuck_workers_are_killed_and_replaced(fresh_pool: PoolFactory) -> None:
    pool = fresh_pool(2)
    pids = set(await asyncio.gather(pool.run(os.getpid), pool.run(os.getpid)))
    stuck = pool.submit(time.sleep, 30)
    other = pool.submit(time.sleep, 1)
    await asyncio.sleep(0.3)
    pool.recycle([stuck])
    with pytest.raises(WorkerCrashed, match="stuck"):
        await pool.wait(stuck)
    await pool.wait(other)  # no WorkerCrashed: the other worker was left alone
    assert pool.restarts == 1
    assert await pool.run(os.getpid) > 0
    assert len(pids) == 2


async def test_a_queued_task_can_be_dropped_but_a_running_one_runs_on(
    fresh_pool: PoolFactory,
) -> None:
    pool = fresh_pool(1)
    await pool.run(os.getpid)
    running = pool.submit(time.sleep, 0.3)
    queued = pool.submit(os.getpid)
    assert queued.cancel() is True
    assert running.cancel() is False
    await pool.wait(running)  # it ran to its end
    assert queued.future.cancelled()
    assert await pool.run(os.getpid) > 0  # the dropped task did not block the queue


async def test_workers_retire_after_their_tasks_and_are_replaced_without_a_failure(
    fresh_pool: PoolFactory,
) -> None:
    pool = fresh_pool(1, tasks_per_worker=3)
    pids = [await pool.run(os.getpid) for _ in range(10)]
    assert len(set(pids)) >= 4  # 3 tasks each: a new worker at least every third task
    assert pool.restarts == 0  # retiring is not a crash


async def test_closing_cancels_the_waiting_tasks_and_stops_the_workers() -> None:
    pool = WorkerPool(1)
    await pool.run(os.getpid)
    running = pool.submit(time.sleep, 30)
    queued = pool.submit(os.getpid)
    await asyncio.sleep(0.2)
    started = time.perf_counter()
    await pool.close()
    assert time.perf_counter() - started < 5
    assert running.future.cancelled()
    assert queued.future.cancelled()
    with pytest.raises(RuntimeError, match="closed"):
        await pool.check()
    with pytest.raises(RuntimeError, match="closed"):
        pool.submit(os.getpid)


def test_a_large_answer_arrives_whole_under_uvloop() -> None:
    """uvloop makes a pipe it watches non-blocking: an answer of megabytes arrives in pieces."""

    async def fetch() -> tuple[bytes, bytes]:
        pool = WorkerPool(2)
        try:
            return await asyncio.gather(pool.run(bytes, 8_000_000), pool.run(os.urandom, 3_000_000))
        finally:
            await pool.close()

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        zeros, noise = runner.run(fetch())
    assert zeros == bytes(8_000_000)
    assert len(noise) == 3_000_000

"""The ``extract`` port: one document through the worker pool, within its time budget.

A document is first planned by one worker, which also finishes it when nothing is left to spread
(one round trip for a small document, or one with a single page to OCR); a big PDF's pages are
then read in chunks and its scanned pages OCR'd, spread over the workers (at most one task per
worker per document at a time, so concurrent documents share the pool fairly); a last task joins
the text. Every outcome is a ``Result`` or a ``Failure``; nothing escapes as an exception.

At most ``workers + 1`` documents are in the pool at once (the gate): one more than there are
workers, so that a worker finishing a small document finds the next one queued instead of idling
through a round trip over the event loop (with one document per worker, workers stood idle
between short PDFs for a large share of the time). The consumer's prefetch may be larger, so that
the next documents' downloads and the previous ones' uploads and publishes overlap the CPU work,
while a big document still gets about the same share of the pool as before. The time budget
starts when a document passes the gate (waiting there is waiting for the broker's next message
by another name; queueing for a worker inside the pool is counted).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from prometheus_client import Counter, Histogram

from docuvault.extractor import extraction
from docuvault.extractor.extraction.model import (
    ExtractionError,
    Failure,
    Limits,
    OcrTask,
    Outcome,
    Page,
    Plan,
    Result,
)
from docuvault.extractor.pool import Job, WorkerCrashed, WorkerPool

log = logging.getLogger("docuvault.extractor")

#: what handlers get: (local file, content type) → outcome
Extract = Callable[[Path, str], Awaitable[Outcome]]
#: a task still running this long after its document timed out is taken as stuck
STUCK_GRACE_S = 10.0

extractions = Counter(
    "docuvault_extractions_total", "Documents extracted, by outcome (ok or the reason)", ["outcome"]
)
extraction_seconds = Histogram(
    "docuvault_extraction_seconds",
    "Time to extract one document",
    buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600),
)
pages_read = Counter("docuvault_extracted_pages_total", "Pages extracted, by source", ["source"])


class Extractor:
    def __init__(
        self, pool: WorkerPool, limits: Limits, *, timeout_s: float, gate: int | None = None
    ) -> None:
        self.pool = pool
        self.limits = limits
        self.timeout_s = timeout_s
        self._gate = asyncio.Semaphore(gate or pool.workers + 1)

    async def __call__(self, path: Path, content_type: str) -> Outcome:
        async with self._gate:
            started = time.perf_counter()
            outcome = await self._attempts(str(path), content_type)
        extraction_seconds.observe(time.perf_counter() - started)
        extractions.labels("ok" if isinstance(outcome, Result) else outcome.reason).inc()
        if isinstance(outcome, Result):
            pages_read.labels("ocr").inc(len(outcome.ocr_pages))
            pages_read.labels("text-layer").inc(outcome.page_count - len(outcome.ocr_pages))
        return outcome

    async def _attempts(self, path: str, content_type: str) -> Outcome:
        deadline = time.time() + self.timeout_s  # for the workers (wall clock)
        ends = asyncio.get_running_loop().time() + self.timeout_s
        for attempt in (1, 2):
            jobs: list[Job[Any]] = []
            try:
                async with asyncio.timeout_at(ends):
                    return await self._extract(path, content_type, deadline, jobs)
            except TimeoutError:
                self._abandon(jobs, stuck_check=True)
                return self._timed_out()
            except ExtractionError as exc:
                self._abandon(jobs)
                return (
                    self._timed_out()
                    if exc.reason == "timeout"
                    else Failure(exc.reason, exc.detail)
                )
            except WorkerCrashed:
                self._abandon(jobs)
                if attempt == 2:
                    return Failure(
                        "corrupt",
                        "the file crashed the reader twice; it is damaged or malformed on "
                        "purpose: export or scan the original again and upload the new file",
                    )
                log.warning("a worker crashed during extraction; trying the document once more")
            except Exception as exc:
                self._abandon(jobs)
                log.exception("extraction failed unexpectedly")
                return Failure(
                    "internal",
                    f"the extractor failed unexpectedly ({type(exc).__name__}); reprocess the "
                    "document later, and report it if it keeps failing",
                )
        raise AssertionError("unreachable")

    def _timed_out(self) -> Failure:
        return Failure(
            "timeout",
            f"extraction took longer than {self.timeout_s:g} s (DOCUVAULT_EXTRACTOR_TIMEOUT_S); "
            "split the document into smaller files or raise the limit, then reprocess it",
        )

    async def _extract(
        self, path: str, content_type: str, deadline: float, jobs: list[Job[Any]]
    ) -> Result:
        limits, workers = self.limits, self.pool.workers
        first = await self._run(
            jobs, extraction.extract, path, content_type, limits, deadline, workers
        )
        if isinstance(first, Result):
            return first
        plan: Plan = first
        pages: list[Page] = list(plan.pages)
        todo: list[OcrTask] = list(plan.ocr)
        if plan.chunks:
            calls: list[tuple[Any, ...]] = [
                (extraction.read_pages, path, a, b, deadline) for a, b in plan.chunks
            ]
            for found in await self._all(jobs, calls):
                for item in found:
                    if isinstance(item, Page):
                        pages.append(item)
                    else:
                        todo.append(item)
        if todo:
            ocr_calls = [(extraction.ocr_page, path, plan.kind, t, limits, deadline) for t in todo]
            pages += await self._all(jobs, ocr_calls)
        result: Result = await self._run(
            jobs, extraction.finish, plan.page_count, plan.metadata, pages, limits
        )
        return result

    async def _run(self, jobs: list[Job[Any]], fn: Callable[..., Any], *args: Any) -> Any:
        job = self.pool.submit(fn, *args)
        jobs.append(job)
        return await self.pool.wait(job)

    async def _all(self, jobs: list[Job[Any]], calls: Sequence[tuple[Any, ...]]) -> list[Any]:
        """Run the calls on the pool, at most one per worker at a time; first error wins."""
        slots = asyncio.Semaphore(self.pool.workers)

        async def one(call: tuple[Any, ...]) -> Any:
            async with slots:
                return await self._run(jobs, *call)

        try:
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(one(call)) for call in calls]
        except BaseExceptionGroup as errors:
            raise _first(errors) from None
        return [task.result() for task in tasks]

    def _abandon(self, jobs: list[Job[Any]], *, stuck_check: bool = False) -> None:
        running = [job for job in jobs if not job.cancel()]  # those still queued are dropped
        if running and stuck_check:
            asyncio.get_running_loop().call_later(STUCK_GRACE_S, self._recycle_if_stuck, running)

    def _recycle_if_stuck(self, jobs: list[Job[Any]]) -> None:
        stuck = [job for job in jobs if job.running]
        if stuck:
            log.error("a worker is stuck on a document past its time budget; killing it")
            self.pool.recycle(stuck)


def _first(errors: BaseExceptionGroup[BaseException]) -> BaseException:
    """The most telling error of a group: a document failure, then a crash, then anything."""
    flat: list[BaseException] = []

    def collect(group: BaseExceptionGroup[BaseException]) -> None:
        for error in group.exceptions:
            if isinstance(error, BaseExceptionGroup):
                collect(error)
            else:
                flat.append(error)

    collect(errors)
    for kind in (ExtractionError, WorkerCrashed):
        for error in flat:
            if isinstance(error, kind):
                return error
    return flat[0]

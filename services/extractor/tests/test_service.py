# PyMuPDF ships type hints, but parts of its API are untyped:
# mypy: disable-error-code="no-untyped-call"
"""The extract port through the real worker pool: parallel pages, budget, crashes."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import pymupdf
import pytest

from docuvault.extractor import extraction
from docuvault.extractor.extraction.model import ExtractionError, Failure, Limits, Result
from docuvault.extractor.pool import Job, WorkerCrashed, WorkerPool
from docuvault.extractor.service import Extractor

PDF = "application/pdf"


async def test_a_scanned_document_is_ocrd_across_the_workers(
    make: Any, extractor: Extractor
) -> None:
    doc = pymupdf.open(stream=make.text_pdf([f"typed page {n} " * 30 for n in range(1, 41)]))
    for number in (41, 42):
        make.add_scanned_page(doc, make.text_image([f"Scanned sheet number {number}"]))
    outcome = await extractor(make.write(doc.tobytes()), PDF)
    assert isinstance(outcome, Result), outcome
    assert outcome.page_count == 42
    assert outcome.ocr_pages == (41, 42)
    text = outcome.text_utf8.decode()
    assert text.index("typed page 1 ") < text.index("typed page 40") < text.index("sheet number 41")
    assert "Scanned sheet number 42" in text


async def test_failures_are_outcomes(make: Any, extractor: Extractor) -> None:
    outcome = await extractor(make.write(b"\x00\x01binary"), "application/octet-stream")
    assert isinstance(outcome, Failure)
    assert outcome.reason == "unsupported_type"


async def test_a_document_over_its_time_budget_times_out(make: Any, pool: WorkerPool) -> None:
    hurried = Extractor(pool, Limits(), timeout_s=0.05)
    image = make.text_image(["A page that takes longer than the budget"] * 8)
    outcome = await hurried(make.write(make.png(image)), "image/png")
    assert outcome == Failure("timeout", hurried._timed_out().detail)
    assert "DOCUVAULT_EXTRACTOR_TIMEOUT_S" in outcome.detail
    assert await pool.run(os.getpid) > 0  # the pool still serves


class _CrashingPool(WorkerPool):
    """Every task fails as if its worker had died."""

    def __init__(self) -> None:
        super().__init__(1)
        self.submitted = 0

    def submit(self, fn: Any, *args: Any, **kwargs: Any) -> Job[Any]:
        self.submitted += 1
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        future.set_exception(WorkerCrashed("boom"))
        return Job((fn, args, kwargs), future)


async def test_a_file_that_crashes_workers_twice_is_corrupt(make: Any) -> None:
    pool = _CrashingPool()
    try:
        outcome = await Extractor(pool, Limits(), timeout_s=30)(make.write(b"%PDF"), PDF)
    finally:
        await pool.close()
    assert isinstance(outcome, Failure)
    assert outcome.reason == "corrupt"
    assert pool.submitted == 2


class _HostilePool(WorkerPool):
    """A real pool whose worker process aborts (as a native library crashing on a hostile
    file would) whenever it is given a document named ``hostile``."""

    def submit(self, fn: Any, *args: Any, **kwargs: Any) -> Job[Any]:
        if args and str(args[0]).endswith("hostile"):
            return super().submit(os.abort)
        return super().submit(fn, *args, **kwargs)


async def test_a_worker_killed_by_a_file_fails_it_as_corrupt_and_work_goes_on(make: Any) -> None:
    pool = _HostilePool(2)
    try:
        extractor = Extractor(pool, Limits(), timeout_s=60)
        hostile = make.write(make.text_pdf(["never read"]), "hostile")
        before = make.write(make.text_pdf(["read beside the crash"]), "before")
        after = make.write(make.text_pdf(["read after the crash"]), "after")
        crashed, beside = await asyncio.gather(extractor(hostile, PDF), extractor(before, PDF))
        following = await extractor(after, PDF)
        assert pool.restarts == 2
    finally:
        await pool.close()
    assert isinstance(crashed, Failure)
    assert crashed.reason == "corrupt"
    assert "crashed" in crashed.detail
    for outcome, words in ((beside, "read beside the crash"), (following, "read after the crash")):
        assert isinstance(outcome, Result), outcome
        assert words in outcome.text_utf8.decode()


def test_unexpected_errors_leave_workers_as_internal_failures() -> None:
    def broken() -> None:
        raise KeyError("a bug")

    with pytest.raises(ExtractionError) as caught:
        extraction.guarded(broken)()
    assert caught.value.reason == "internal"
    assert "KeyError" in caught.value.detail

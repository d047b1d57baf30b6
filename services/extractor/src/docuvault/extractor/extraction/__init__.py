"""Extraction by content type. Every function here runs in a worker process (pure CPU work).

The orchestration (what runs where, in parallel, within the time budget) is in
``docuvault.extractor.service``; these functions only get a file path and picklable values.
The format readers are imported inside the functions: the service process only needs these
functions' names to send them to the workers, and stays free of MuPDF and the rest.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from docuvault.contracts.events import DocumentMetadata
from docuvault.extractor.extraction.model import (
    ExtractionError,
    Limits,
    OcrTask,
    Page,
    Plan,
    Result,
)

PDF = "application/pdf"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
PREVIEW_CHARS = 1000

P = ParamSpec("P")
T = TypeVar("T")


def guarded(fn: Callable[P, T]) -> Callable[P, T]:
    """Unexpected errors leave the worker as ``internal`` failures with a short message."""

    @functools.wraps(fn)
    def run(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return fn(*args, **kwargs)
        except ExtractionError:
            raise
        except Exception as exc:
            raise ExtractionError(
                "internal",
                f"the extractor failed unexpectedly ({type(exc).__name__}: {str(exc)[:300]}); "
                "reprocess the document later, and report it if it keeps failing",
            ) from None

    return run


def media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


@guarded
def plan(path: str, content_type: str, limits: Limits, deadline: float, workers: int) -> Plan:
    """The first look at a document; small and non-paginated documents are done here."""
    from docuvault.extractor.extraction import docx, images, pdf, text

    kind = media_type(content_type)
    if kind == PDF:
        return pdf.plan(path, limits, deadline, workers)
    if kind.startswith("image/"):
        return images.plan(path, limits)
    if kind == DOCX:
        return docx.extract(path, limits)
    if kind.startswith("text/"):
        return text.extract(path, kind, limits)
    raise ExtractionError(
        "unsupported_type",
        f"DocuVault cannot read {kind or 'untyped'} files; upload a PDF, DOCX, image or text file",
    )


@guarded
def extract(
    path: str, content_type: str, limits: Limits, deadline: float, workers: int
) -> Result | Plan:
    """The first worker task of every document, and the only one of most: it plans, and when
    nothing is left to spread over the workers (no page chunks, at most one page to OCR) it
    finishes the document here, so a small document costs one round trip to the pool and its
    pages never cross a process boundary. Otherwise the plan goes back to the service."""
    first = plan(path, content_type, limits, deadline, workers)
    if first.chunks or len(first.ocr) > 1:
        return first
    pages = list(first.pages)
    if first.ocr:
        pages.append(ocr_page(path, first.kind, first.ocr[0], limits, deadline))
    return assemble(first.page_count, first.metadata, pages, limits)


@guarded
def read_pages(path: str, start: int, stop: int, deadline: float) -> list[Page | OcrTask]:
    from docuvault.extractor.extraction import pdf

    return pdf.read_pages(path, start, stop, deadline)


@guarded
def ocr_page(path: str, kind: str, task: OcrTask, limits: Limits, deadline: float) -> Page:
    from docuvault.extractor.extraction import images, pdf

    if kind == "pdf":
        return pdf.ocr_page(path, task, limits, deadline)
    return images.ocr_frame(path, task, limits, deadline)


@guarded
def finish(
    page_count: int, metadata: DocumentMetadata, pages: list[Page], limits: Limits
) -> Result:
    return assemble(page_count, metadata, pages, limits)


def assemble(
    page_count: int, metadata: DocumentMetadata, pages: list[Page], limits: Limits | None = None
) -> Result:
    """The full text (pages joined by a blank line), the per-page JSON and their summary."""
    from docuvault.extractor.extraction import language

    ordered = sorted(pages, key=lambda p: p.number)
    full = "\n\n".join(p.text for p in ordered if p.text)
    cap = (limits or Limits()).max_text_chars
    if len(full) > cap:
        raise ExtractionError(
            "too_large",
            f"the document yields over {cap} characters of text "
            "(DOCUVAULT_EXTRACTOR_MAX_TEXT_CHARS); split it into smaller files",
        )
    utf8 = full.encode("utf-8")
    listing = [
        {"page": p.number, "text": p.text, "source": p.source, "ocr_confidence": p.ocr_confidence}
        for p in ordered
    ]
    return Result(
        text_utf8=utf8,
        pages_json=json.dumps(listing, ensure_ascii=False).encode("utf-8"),
        text_sha256=hashlib.sha256(utf8).hexdigest(),
        char_count=len(full),
        page_count=page_count,
        language=language.detect(full),
        preview=" ".join(full[: PREVIEW_CHARS * 4].split())[:PREVIEW_CHARS],
        ocr_pages=tuple(p.number for p in ordered if p.source == "ocr"),
        metadata=metadata,
    )

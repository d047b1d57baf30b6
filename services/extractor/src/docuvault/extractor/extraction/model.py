"""What extraction works with and produces; everything here crosses process boundaries (pickle)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Literal

from docuvault.contracts.events import DocumentMetadata, ExtractionFailureReason

Source = Literal["text-layer", "ocr"]


class ExtractionError(Exception):
    """The document cannot be extracted; ``reason`` is one of ExtractionFailed's reasons."""

    def __init__(self, reason: ExtractionFailureReason, detail: str) -> None:
        super().__init__(reason, detail)
        self.reason: ExtractionFailureReason = reason
        self.detail = detail

    def __str__(self) -> str:
        return f"{self.reason}: {self.detail}"


@dataclass(frozen=True)
class Limits:
    ocr_languages: str = "eng"
    ocr_dpi: int = 300
    max_pages: int = 5000
    max_image_pixels: int = 100_000_000
    max_zip_entries: int = 5000
    max_zip_bytes: int = 512 * 1024 * 1024
    max_zip_ratio: int = 200
    max_text_chars: int = 50_000_000


@dataclass(frozen=True)
class Page:
    number: int  # 1-based
    text: str
    source: Source = "text-layer"
    #: mean Tesseract word confidence, 0..1; None for text-layer pages
    ocr_confidence: float | None = None


@dataclass(frozen=True)
class OcrTask:
    """One page (PDF) or frame (image) to render and OCR; ``fallback`` is its text layer."""

    index: int  # 0-based
    fallback: str = ""


@dataclass(frozen=True)
class Plan:
    """The first look at a document: what is known at once and what is left to do."""

    kind: Literal["pdf", "image", "docx", "text"]
    page_count: int
    metadata: DocumentMetadata = field(default_factory=DocumentMetadata)
    pages: tuple[Page, ...] = ()
    #: PDF page ranges [start, stop) still to read (big documents are read in parallel)
    chunks: tuple[tuple[int, int], ...] = ()
    ocr: tuple[OcrTask, ...] = ()


@dataclass(frozen=True)
class Result:
    """A document's extracted text, ready to store and announce."""

    text_utf8: bytes
    pages_json: bytes
    text_sha256: str
    char_count: int
    page_count: int
    language: str | None
    preview: str
    ocr_pages: tuple[int, ...]
    metadata: DocumentMetadata


@dataclass(frozen=True)
class Failure:
    reason: ExtractionFailureReason
    detail: str


Outcome = Result | Failure


def check_deadline(deadline: float, what: str) -> None:
    if time.time() > deadline:
        raise ExtractionError("timeout", f"the time budget ran out while {what}")

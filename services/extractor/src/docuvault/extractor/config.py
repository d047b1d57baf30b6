"""Extractor settings (DESIGN §6).

The names of the extractor's own limits start with ``EXTRACTOR_`` because every service reads the
same ``.env``; ``DOCUVAULT_OCR_LANGUAGES`` keeps the name DESIGN §6 gives it.
"""

from __future__ import annotations

import os

from pydantic import Field

from docuvault.extractor.extraction.model import Limits
from docuvault.runtime.settings import CommonSettings

#: the longest a message may wait for the extractor by default (RabbitMQ's consumer_timeout,
#: 30 min by default, redelivers a message held longer)
MAX_HOLD_S = 1500.0


def _cores() -> int:
    return os.cpu_count() or 1


class ExtractorSettings(CommonSettings):
    extractor_port: int = Field(default=8003, ge=1, le=65535)
    #: Tesseract languages, joined with '+', e.g. ``eng+deu`` (each needs its traineddata)
    ocr_languages: str = Field(default="eng", pattern=r"^[A-Za-z_]+(\+[A-Za-z_]+)*$")
    #: worker processes for parsing, rendering and OCR
    extractor_workers: int = Field(default_factory=_cores, ge=1, le=256)
    #: documents handled at once (the queue's prefetch); at most one per worker is in the pool,
    #: the others download or upload meanwhile. Default: two per worker (one per worker when
    #: the budget is so long that waiting for two budgets would near RabbitMQ's 30 min
    #: consumer_timeout)
    extractor_prefetch: int | None = Field(default=None, ge=1, le=1000)
    #: wall-clock budget for one document once it has a place in the pool (queueing there for
    #: a worker included)
    extractor_timeout_s: float = Field(default=600.0, gt=0, le=1500)
    extractor_max_pages: int = Field(default=5000, ge=1)
    #: pixels per image (or TIFF frame); a PDF page is rendered at a lower dpi to stay under it
    extractor_max_image_pixels: int = Field(default=100_000_000, ge=1_000_000)
    extractor_ocr_dpi: int = Field(default=300, ge=72, le=600)
    extractor_max_zip_entries: int = Field(default=5000, ge=10)
    extractor_max_zip_bytes: int = Field(default=512 * 1024 * 1024, ge=1024 * 1024)
    extractor_max_zip_ratio: int = Field(default=200, ge=10)
    #: extracted text above this many characters fails with too_large (it is never cut)
    extractor_max_text_chars: int = Field(default=50_000_000, ge=1000)

    @property
    def consumer_prefetch(self) -> int:
        if self.extractor_prefetch:
            return self.extractor_prefetch
        overlap = 2 if 2 * self.extractor_timeout_s <= MAX_HOLD_S else 1
        return overlap * self.extractor_workers

    def limits(self) -> Limits:
        return Limits(
            ocr_languages=self.ocr_languages,
            ocr_dpi=self.extractor_ocr_dpi,
            max_pages=self.extractor_max_pages,
            max_image_pixels=self.extractor_max_image_pixels,
            max_zip_entries=self.extractor_max_zip_entries,
            max_zip_bytes=self.extractor_max_zip_bytes,
            max_zip_ratio=self.extractor_max_zip_ratio,
            max_text_chars=self.extractor_max_text_chars,
        )

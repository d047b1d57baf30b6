# PyMuPDF ships type hints, but parts of its API are untyped:
# mypy: disable-error-code="no-untyped-call"
"""Fixtures of the extractor's tests: documents generated here, the worker pool, the corpus."""

from __future__ import annotations

import io
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pymupdf
import pytest
from PIL import Image, ImageDraw, ImageFont

from docuvault.extractor import extraction
from docuvault.extractor.extraction.model import Limits, OcrTask, Page, Result
from docuvault.extractor.pool import WorkerPool
from docuvault.extractor.service import Extractor

FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")


def font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    if FONT.is_file():
        return ImageFont.truetype(str(FONT), size)
    return ImageFont.load_default(size=size)


def text_image(
    lines: list[str], *, font_size: int = 40, margin: int = 60, rotate: int = 0
) -> Image.Image:
    """A white page with the lines drawn in black (a "scan" with known text)."""
    face = font(font_size)
    width = max(int(face.getlength(line)) for line in lines) + 2 * margin
    height = len(lines) * int(font_size * 1.6) + 2 * margin
    image = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(image)
    for number, line in enumerate(lines):
        draw.text((margin, margin + number * int(font_size * 1.6)), line, font=face, fill=0)
    return image.rotate(rotate, expand=True, fillcolor=255) if rotate else image


def png(image: Image.Image, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG", **options)
    return out.getvalue()


def text_pdf(pages: list[str], **save: object) -> bytes:
    doc = pymupdf.open()
    for text in pages:
        page = doc.new_page()
        page.insert_textbox(pymupdf.Rect(72, 72, 540, 760), text, fontsize=11)
    data: bytes = doc.tobytes(**save)
    return data


def add_scanned_page(doc: pymupdf.Document, image: Image.Image, *, dpi: int = 200) -> None:
    """A page holding only a picture, sized as if scanned at ``dpi``."""
    width, height = image.size[0] * 72 / dpi, image.size[1] * 72 / dpi
    page = doc.new_page(width=width, height=height)
    page.insert_image(page.rect, stream=png(image))


def cer(expected: str, got: str) -> float:
    """Character error rate: edit distance over the expected length (whitespace collapsed)."""
    a, b = " ".join(expected.split()), " ".join(got.split())
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1] / max(1, len(a))


def run_inline(path: Path, content_type: str, limits: Limits | None = None) -> Result:
    """The whole extraction in this process, in the order the service runs it (no pool)."""
    limits = limits or Limits()
    deadline = time.time() + 120
    plan = extraction.plan(str(path), content_type, limits, deadline, 2)
    pages: list[Page] = list(plan.pages)
    todo: list[OcrTask] = list(plan.ocr)
    for start, stop in plan.chunks:
        for item in extraction.read_pages(str(path), start, stop, deadline):
            if isinstance(item, Page):
                pages.append(item)
            else:
                todo.append(item)
    for task in todo:
        pages.append(extraction.ocr_page(str(path), plan.kind, task, limits, deadline))
    return extraction.finish(plan.page_count, plan.metadata, pages, limits)


class Samples:
    """The helpers above, for tests (test modules cannot import conftest in importlib mode)."""

    text_image = staticmethod(text_image)
    png = staticmethod(png)
    text_pdf = staticmethod(text_pdf)
    add_scanned_page = staticmethod(add_scanned_page)
    cer = staticmethod(cer)
    run_inline = staticmethod(run_inline)

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def write(self, data: bytes, name: str = "original") -> Path:
        path = self.folder / name
        path.write_bytes(data)
        return path


@pytest.fixture
def make(tmp_path: Path) -> Samples:
    return Samples(tmp_path)


@pytest.fixture(scope="session")
async def pool() -> AsyncIterator[WorkerPool]:
    workers = WorkerPool(2)
    yield workers
    await workers.close()


@pytest.fixture(scope="session")
def extractor(pool: WorkerPool) -> Extractor:
    return Extractor(pool, Limits(), timeout_s=120)

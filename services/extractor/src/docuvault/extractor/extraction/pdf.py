# PyMuPDF ships type hints, but parts of its API are untyped:
# mypy: disable-error-code="no-untyped-call"
"""PDF: text layer per page with PyMuPDF; pages without a usable one are rendered for OCR.

The OCR decision is made per page (a half-scanned PDF gets its scanned pages read):
- a page with plenty of usable text keeps its text layer;
- a page mostly covered by images, or with little text and any image, is OCR'd;
- a page whose text layer is mostly junk (no Unicode mapping: U+FFFD, private-use) is OCR'd;
- a page with little text but many vector paths (text drawn as outlines) is OCR'd.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

import pymupdf
from PIL import Image

from docuvault.contracts.events import DocumentMetadata
from docuvault.extractor.extraction import ocr
from docuvault.extractor.extraction.model import (
    ExtractionError,
    Limits,
    OcrTask,
    Page,
    Plan,
    check_deadline,
)
from docuvault.extractor.extraction.textutil import (
    clean,
    junk_chars,
    meta,
    pdf_date,
    usable_chars,
    visible_chars,
)

#: get_text()'s defaults, except that a glyph without a Unicode mapping becomes U+FFFD (not its
#: glyph code, which looks like real text and cannot be told apart). Ligatures are kept by MuPDF
#: and decomposed by ``clean`` (MuPDF's own decomposition reverses Arabic ligatures).
TEXT_FLAGS = (
    pymupdf.TEXT_PRESERVE_LIGATURES | pymupdf.TEXT_PRESERVE_WHITESPACE | pymupdf.TEXT_MEDIABOX_CLIP
)
#: a text layer with this share of junk characters (and at least JUNK_CHARS of them) is broken
JUNK_SHARE = 0.25
JUNK_CHARS = 20
PLENTY = 200  # usable characters: the text layer is kept whatever else is on the page
FEW = 50  # below this a page's text is "a few characters"
MOSTLY_IMAGE = 0.5  # share of the page covered by images
SOME_IMAGE = 0.02
MIN_PATHS = 8  # vector paths that may be outlined text
#: pages read by one worker task; bigger documents are split across the workers
CHUNK_PAGES = 256
#: where ``%%EOF`` must appear (readers tolerate some bytes after it)
TAIL_BYTES = 4096

pymupdf.TOOLS.mupdf_display_errors(False)
pymupdf.TOOLS.mupdf_display_warnings(False)


def plan(path: str, limits: Limits, deadline: float, workers: int = 1) -> Plan:
    with _open(path) as doc:
        count = doc.page_count
        if count > limits.max_pages:
            raise ExtractionError(
                "too_large",
                f"the PDF has {count} pages; the extractor reads at most {limits.max_pages} "
                "(DOCUVAULT_EXTRACTOR_MAX_PAGES): split it into smaller files",
            )
        metadata = _metadata(doc)
        size = max(16, min(CHUNK_PAGES, math.ceil(count / max(1, workers))))
        if count <= size:
            done, todo = _split(_read(doc, 0, count, deadline))
            return Plan("pdf", count, metadata, pages=done, ocr=todo)
        chunks = tuple((start, min(count, start + size)) for start in range(0, count, size))
        return Plan("pdf", count, metadata, chunks=chunks)


def read_pages(path: str, start: int, stop: int, deadline: float) -> list[Page | OcrTask]:
    with _open(path) as doc:
        return _read(doc, start, stop, deadline)


def ocr_page(path: str, task: OcrTask, limits: Limits, deadline: float) -> Page:
    """Render one page in grey at the OCR resolution (lower if over the pixel cap) and read it."""
    check_deadline(deadline, "waiting to OCR a page")
    with tempfile.TemporaryDirectory(prefix="docuvault-ocr-") as tmp:
        image = os.path.join(tmp, ocr.PAGE_IMAGE)
        with _open(path) as doc:
            page = doc.load_page(task.index)
            inches = (page.rect.width / 72.0) * (page.rect.height / 72.0)
            dpi = limits.ocr_dpi
            if inches * dpi * dpi > limits.max_image_pixels:
                dpi = max(36, int(math.sqrt(limits.max_image_pixels / inches)))
            pixmap = page.get_pixmap(dpi=dpi, colorspace=pymupdf.csGRAY, alpha=False)
            grey = Image.frombuffer(
                "L", (pixmap.width, pixmap.height), pixmap.samples_mv, "raw", "L", pixmap.stride, 1
            )
            ocr.save_page_image(grey, image, dpi)
            del grey, pixmap
        read = ocr.recognize(image, languages=limits.ocr_languages, deadline=deadline, dpi=dpi)
    if usable_chars(read.text) == 0 or usable_chars(read.text) < usable_chars(task.fallback):
        return Page(task.index + 1, task.fallback)
    return Page(task.index + 1, read.text, "ocr", read.confidence)


def _check_complete(path: str) -> None:
    """A PDF ends with ``%%EOF``; without it the file was cut off (an interrupted transfer).

    MuPDF would often "repair" such a file and return whatever pages it still finds; a document
    silently missing its end is worse for the user than a clear failure, so it is refused.
    """
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        f.seek(max(0, size - TAIL_BYTES))
        if b"%%EOF" not in f.read():
            raise ExtractionError(
                "corrupt",
                "the PDF is incomplete: it ends without the end-of-file marker, so part of it "
                "is missing (cut off during a download or copy?); upload the complete file",
            )


@contextmanager
def _open(path: str) -> Iterator[pymupdf.Document]:
    _check_complete(path)
    pymupdf.TOOLS.mupdf_warnings(reset=True)
    try:
        doc = pymupdf.open(path, filetype="pdf")
    except Exception as exc:
        raise ExtractionError(
            "corrupt",
            f"the PDF is damaged and MuPDF could not repair it ({_message(exc, path)}); "
            "export or scan the original again and upload the new file",
        ) from exc
    try:
        if doc.needs_pass and not doc.authenticate(""):
            raise ExtractionError(
                "encrypted",
                "the PDF needs a password to open; DocuVault cannot open password-protected "
                "PDFs: save a copy without the password and upload that",
            )
        try:
            count = doc.page_count
        except Exception as exc:
            raise ExtractionError(
                "corrupt",
                f"the PDF's page tree is damaged ({_message(exc, path)}); export or scan the "
                "original again and upload the new file",
            ) from exc
        if count == 0:
            why = _message(None, path)
            raise ExtractionError(
                "corrupt",
                "the PDF has no readable pages"
                + (f" (MuPDF: {why})" if why else "")
                + "; export or scan the original again and upload the new file",
            )
        yield doc
    finally:
        doc.close()


def _message(exc: Exception | None, path: str) -> str:
    parts = [str(exc).replace(f"'{path}'", "").replace(path, "the file")] if exc else []
    warnings = [w for w in pymupdf.TOOLS.mupdf_warnings().splitlines() if w.strip()]
    parts += list(dict.fromkeys(warnings))[:3]
    return "; ".join(" ".join(p.split()) for p in parts if p.strip())[:500]


def _metadata(doc: pymupdf.Document) -> DocumentMetadata:
    info = doc.metadata or {}
    return DocumentMetadata(
        title=meta(info.get("title")),
        author=meta(info.get("author")),
        subject=meta(info.get("subject")),
        keywords=meta(info.get("keywords")),
        created=pdf_date(info.get("creationDate")),
        producer=meta(info.get("producer")),
    )


def _read(doc: pymupdf.Document, start: int, stop: int, deadline: float) -> list[Page | OcrTask]:
    found: list[Page | OcrTask] = []
    for index in range(start, stop):
        if (index - start) % 8 == 0:
            check_deadline(deadline, "reading the PDF's text")
        try:
            page = doc.load_page(index)
            text = clean(page.get_text("text", flags=TEXT_FLAGS))
            found.append(OcrTask(index, text) if _needs_ocr(page, text) else Page(index + 1, text))
        except ExtractionError:
            raise
        except Exception:  # a page MuPDF cannot load (e.g. a cycle in the page tree) stays empty
            found.append(Page(index + 1, ""))
    return found


def _split(found: list[Page | OcrTask]) -> tuple[tuple[Page, ...], tuple[OcrTask, ...]]:
    pages = tuple(p for p in found if isinstance(p, Page))
    return pages, tuple(t for t in found if isinstance(t, OcrTask))


def _needs_ocr(page: pymupdf.Page, text: str) -> bool:
    visible, junk = visible_chars(text), junk_chars(text)
    usable = visible - junk
    if junk >= JUNK_CHARS and junk >= JUNK_SHARE * visible:
        return True  # glyphs without a Unicode mapping: the page shows text the layer lacks
    if usable >= PLENTY:
        return False
    coverage = _image_coverage(page)
    if coverage >= MOSTLY_IMAGE:
        return True
    if usable >= FEW:
        return False
    if coverage >= SOME_IMAGE:
        return True
    if visible and usable < visible / 2:
        return True  # a short text layer that is mostly junk
    return len(page.get_cdrawings()) >= max(MIN_PATHS, 4 * usable)


def _image_coverage(page: pymupdf.Page) -> float:
    area = abs(page.rect)
    if not area:
        return 0.0
    covered = 0.0
    for info in page.get_image_info():
        box = pymupdf.Rect(info["bbox"]) & page.rect
        covered += abs(box) if box.is_valid else 0.0
    return float(min(1.0, covered / area))

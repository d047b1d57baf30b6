# PyMuPDF ships type hints, but parts of its API are untyped:
# mypy: disable-error-code="no-untyped-call"
"""PDF extraction, in this process: text layers, the per-page OCR decision, damage, passwords."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

import pymupdf
import pytest

from docuvault.extractor import extraction
from docuvault.extractor.extraction.model import ExtractionError, Limits, OcrTask, Page
from docuvault.extractor.extraction.textutil import pdf_date

PDF = "application/pdf"
AES_256 = 5  # pymupdf.PDF_ENCRYPT_AES_256 (missing from its type hints)
SCAN_LINES = ["Invoice number 4711 for the garden shed", "Total amount due: 1250 euros"]


def test_text_pdf_gives_every_page_and_the_metadata(make: Any) -> None:
    doc = pymupdf.open(stream=make.text_pdf(["alpha first page", "beta second", "gamma third"]))
    doc.set_metadata(
        {
            "title": "Quarterly report",
            "author": "Ada Lovelace",
            "subject": "Numbers",
            "keywords": "report, numbers",
            "creationDate": "D:20240517093012+02'00'",
            "producer": "a test",
        }
    )
    result = make.run_inline(make.write(doc.tobytes()), PDF)
    pages = json.loads(result.pages_json)
    assert [p["page"] for p in pages] == [1, 2, 3]
    assert [p["source"] for p in pages] == ["text-layer"] * 3
    assert "alpha first page" in pages[0]["text"]
    assert "gamma third" in pages[2]["text"]
    assert result.page_count == 3
    assert result.ocr_pages == ()
    assert result.text_utf8.decode().index("alpha") < result.text_utf8.decode().index("gamma")
    meta = result.metadata
    assert (meta.title, meta.author, meta.subject) == (
        "Quarterly report",
        "Ada Lovelace",
        "Numbers",
    )
    assert meta.keywords == "report, numbers"
    assert meta.producer == "a test"
    assert meta.created == datetime(2024, 5, 17, 7, 30, 12, tzinfo=UTC)


def test_text_layer_keeps_the_words_of_get_text(make: Any) -> None:
    body = "The committee approved the budget; nothing was lost on the way. " * 30
    path = make.write(make.text_pdf([body, body.upper()]))
    result = make.run_inline(path, PDF)
    ours = [p["text"].split() for p in json.loads(result.pages_json)]
    with pymupdf.open(path) as doc:
        for number, page in enumerate(doc):
            theirs = page.get_text().split()
            kept = sum(1 for word in theirs if word in set(ours[number]))
            assert kept / len(theirs) >= 0.98
    assert result.language == "en"


def test_an_image_only_page_is_ocrd(make: Any) -> None:
    doc = pymupdf.open()
    make.add_scanned_page(doc, make.text_image(SCAN_LINES), dpi=200)
    result = make.run_inline(make.write(doc.tobytes()), PDF)
    (page,) = json.loads(result.pages_json)
    assert page["source"] == "ocr"
    assert result.ocr_pages == (1,)
    assert make.cer("\n".join(SCAN_LINES), page["text"]) <= 0.03
    assert 0.6 < page["ocr_confidence"] <= 1.0


def test_only_the_scanned_page_of_a_mixed_pdf_is_ocrd(make: Any) -> None:
    doc = pymupdf.open(stream=make.text_pdf(["Opening words of the contract. " * 20]))
    make.add_scanned_page(doc, make.text_image(SCAN_LINES), dpi=300)
    closing = doc.new_page()
    closing.insert_textbox(pymupdf.Rect(72, 72, 540, 760), "Signed in Berlin. " * 20)
    result = make.run_inline(make.write(doc.tobytes()), PDF)
    pages = json.loads(result.pages_json)
    assert result.ocr_pages == (2,)
    assert [p["source"] for p in pages] == ["text-layer", "ocr", "text-layer"]
    assert make.cer("\n".join(SCAN_LINES), pages[1]["text"]) <= 0.03
    assert pages[0]["ocr_confidence"] is None


@pytest.mark.parametrize(("dpi", "rotate"), [(150, 0), (150, 90), (300, 0), (300, 270)])
def test_image_only_pdfs_scanned_at_150_to_300_dpi(make: Any, dpi: int, rotate: int) -> None:
    """11-point text as a scanner at ``dpi`` sees it (the glyphs' pixel size scales with it)."""
    image = make.text_image(SCAN_LINES, font_size=round(11 * dpi / 72), margin=dpi // 3)
    doc = pymupdf.open()
    make.add_scanned_page(doc, image.rotate(rotate, expand=True, fillcolor=255), dpi=dpi)
    result = make.run_inline(make.write(doc.tobytes()), PDF)
    (page,) = json.loads(result.pages_json)
    assert page["source"] == "ocr"
    assert make.cer("\n".join(SCAN_LINES), page["text"]) <= 0.03


@pytest.mark.parametrize("turned", ["scan", "page"])
def test_a_sideways_page_is_read_upright(make: Any, turned: str) -> None:
    doc = pymupdf.open()
    make.add_scanned_page(doc, make.text_image(SCAN_LINES, rotate=90 if turned == "scan" else 0))
    if turned == "page":
        doc[0].set_rotation(270)
    result = make.run_inline(make.write(doc.tobytes()), PDF)
    (page,) = json.loads(result.pages_json)
    assert make.cer("\n".join(SCAN_LINES), page["text"]) <= 0.03


def test_blank_pages_are_not_ocrd_and_outlines_are(make: Any) -> None:
    doc = pymupdf.open()
    doc.new_page()
    drawn = doc.new_page()
    for step in range(30):
        drawn.draw_line((72 + step * 10, 100), (72 + step * 10, 140))
    plan = extraction.plan(str(make.write(doc.tobytes())), PDF, Limits(), time.time() + 30, 1)
    assert plan.pages == (Page(1, ""),)
    assert plan.ocr == (OcrTask(1, ""),)


def test_big_documents_are_read_in_chunks_in_order(make: Any) -> None:
    path = make.write(make.text_pdf([f"page number {n}" for n in range(1, 71)]))
    plan = extraction.plan(str(path), PDF, Limits(), time.time() + 30, 2)
    assert plan.page_count == 70
    assert not plan.pages
    assert plan.chunks == ((0, 35), (35, 70))
    result = make.run_inline(path, PDF)
    texts = [p["text"] for p in json.loads(result.pages_json)]
    assert texts == [f"page number {n}" for n in range(1, 71)]


def _fails(path: Any, limits: Limits | None = None) -> ExtractionError:
    with pytest.raises(ExtractionError) as caught:
        extraction.plan(str(path), PDF, limits or Limits(), time.time() + 30, 1)
    return caught.value


def test_a_pdf_that_needs_a_password_fails_as_encrypted(make: Any) -> None:
    data = make.text_pdf(["secret words"], encryption=AES_256, user_pw="u", owner_pw="o")
    error = _fails(make.write(data))
    assert error.reason == "encrypted"
    assert "password" in error.detail


def test_a_pdf_with_only_an_owner_password_opens(make: Any) -> None:
    data = make.text_pdf(["open words"], encryption=AES_256, owner_pw="o")
    assert "open words" in make.run_inline(make.write(data), PDF).text_utf8.decode()


def test_a_truncated_pdf_fails_as_corrupt(make: Any) -> None:
    data = make.text_pdf(["page one", "page two", "page three"])
    error = _fails(make.write(data[: len(data) * 2 // 3]))
    assert error.reason == "corrupt"
    assert "incomplete" in error.detail


def test_garbage_with_a_pdf_header_fails_with_mupdfs_message(make: Any) -> None:
    error = _fails(make.write(b"%PDF-1.7\n" + bytes(range(256)) * 8 + b"\n%%EOF\n"))
    assert error.reason == "corrupt"
    assert "MuPDF" in error.detail or "no readable pages" in error.detail
    assert str(make.folder) not in error.detail  # no local path leaks to the user


def test_too_many_pages_fail_as_too_large(make: Any) -> None:
    error = _fails(make.write(make.text_pdf(["a", "b", "c"])), Limits(max_pages=2))
    assert error.reason == "too_large"
    assert "3 pages" in error.detail


def test_pdf_dates() -> None:
    assert pdf_date("D:2023") == datetime(2023, 1, 1, tzinfo=UTC)
    assert pdf_date("D:20231231235959Z") == datetime(2023, 12, 31, 23, 59, 59, tzinfo=UTC)
    assert pdf_date("D:20230101000000-05'30'") == datetime(2023, 1, 1, 5, 30, tzinfo=UTC)
    assert pdf_date("yesterday") is None
    assert pdf_date(None) is None
    assert pdf_date("D:20231399") is None

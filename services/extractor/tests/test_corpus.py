# PyMuPDF ships type hints, but parts of its API are untyped:
# mypy: disable-error-code="no-untyped-call"
"""Every file of the shared corpus, judged by its MANIFEST ``kind`` and ``note`` only.

Skipped with a message when the corpus is absent (``$DOCUVAULT_CORPUS`` or ../shared/corpus).
No test here knows a file by name, hash or size.
"""

from __future__ import annotations

import asyncio
import csv
import json
import os
import re
import unicodedata
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pymupdf
import pytest

from docuvault.extractor.extraction.model import Failure, Limits, Outcome, Result
from docuvault.extractor.pool import WorkerPool
from docuvault.extractor.service import Extractor

#: the first test waits for the whole corpus (real OCR of every scan, a 352-page PDF) on a
#: 2-core machine that others share: more than the default 300 s when it is busy
pytestmark = [pytest.mark.corpus, pytest.mark.timeout(900)]

CORPUS = Path(__file__).resolve().parents[3].parent / "shared" / "corpus"
FOLDERS = ("pdf", "docx", "images")
TYPES = {
    ".pdf": "application/pdf",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".tif": "image/tiff",
    ".tiff": "image/tiff",
}
WORD = re.compile(r"[A-Za-z]{3,}")


def _corpus() -> Path | None:
    configured = os.environ.get("DOCUVAULT_CORPUS")
    path = Path(configured) if configured else CORPUS
    return path if (path / "MANIFEST.tsv").is_file() else None


def _rows() -> list[dict[str, str]]:
    root = _corpus()
    if root is None:
        return []
    with (root / "MANIFEST.tsv").open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    return [r for r in rows if r["path"].split("/", 1)[0] in FOLDERS]


ROWS = _rows()
ABSENT = "corpus absent: set DOCUVAULT_CORPUS or provide ../shared/corpus"
CASES = [pytest.param(row, id=row["path"]) for row in ROWS] or [
    pytest.param(None, id="corpus-absent", marks=pytest.mark.skip(reason=ABSENT))
]


@pytest.fixture(scope="module")
async def outcomes(pool: WorkerPool) -> Mapping[str, Outcome]:
    """Every corpus file through the real pool, all at once (the slowest test: real OCR)."""
    root = _corpus()
    if root is None:
        pytest.skip(ABSENT)
    extractor = Extractor(pool, Limits(), timeout_s=300)

    async def one(row: dict[str, str]) -> Outcome:
        path = root / row["path"]
        return await extractor(path, TYPES[path.suffix.lower()])

    results = await asyncio.gather(*(one(row) for row in ROWS))
    return dict(zip((row["path"] for row in ROWS), results, strict=True))


def _pages(outcome: Result) -> list[dict[str, Any]]:
    pages: list[dict[str, Any]] = json.loads(outcome.pages_json)
    return pages


def _words(text: str) -> list[str]:
    return unicodedata.normalize("NFKC", text).split()


@pytest.mark.parametrize("row", CASES)
def test_outcome_matches_the_manifest(row: dict[str, str], outcomes: Mapping[str, Outcome]) -> None:
    outcome, kind, note = outcomes[row["path"]], row["kind"], row["note"]
    if kind == "text-pdf":
        assert isinstance(outcome, Result), outcome
        assert outcome.page_count == int(row["pages"])
        assert _pages(outcome)[0]["text"].strip(), "page 1 has no text"
        _assert_text_layer_complete(_corpus() / row["path"], outcome)  # type: ignore[operator]
    elif kind == "scanned-pdf":
        assert isinstance(outcome, Result), outcome
        assert 1 in outcome.ocr_pages
        assert WORD.search(outcome.text_utf8.decode())
    elif kind == "encrypted":
        if "needs password" in note:
            assert outcome == Failure("encrypted", outcome.detail), outcome  # type: ignore[union-attr]
        else:
            assert isinstance(outcome, Result), outcome
    elif kind == "broken":
        if "cannot open" in note:
            assert isinstance(outcome, Failure)
            assert outcome.reason == "corrupt"
        assert isinstance(outcome, Result) or (
            outcome.reason == "corrupt" and outcome.detail.strip()
        ), outcome
    elif kind == "docx":
        assert isinstance(outcome, Result), outcome
        body = re.search(r"body text (\d+) chars", note)
        if body and int(body.group(1)) > 0:
            assert outcome.char_count > 0
    elif kind == "image":
        assert isinstance(outcome, Result), outcome
        assert outcome.ocr_pages == tuple(range(1, int(row["pages"] or 1) + 1))
        for page in _pages(outcome):
            assert page["source"] == "ocr"
            assert page["ocr_confidence"] is None or 0 <= page["ocr_confidence"] <= 1
    else:
        pytest.fail(f"unknown kind {kind}")


#: get_text()'s default flags, except that a glyph without a Unicode mapping is U+FFFD on both
#: sides (by default get_text() emits the glyph's code, which is not text)
THEIR_FLAGS = pymupdf.TEXTFLAGS_TEXT & ~pymupdf.TEXT_CID_FOR_UNKNOWN_UNICODE


def _assert_text_layer_complete(path: Path, outcome: Result) -> None:
    """On every page not OCR'd, our words cover ≥ 98 % of PyMuPDF's own ``get_text()``.

    Both sides are NFKC-normalised: we decompose ligatures ("ﬁ" → "fi") for search.
    """
    pages = _pages(outcome)
    with pymupdf.open(path) as doc:
        for page in pages:
            if page["source"] == "ocr":
                continue
            theirs = _words(doc[page["page"] - 1].get_text(flags=THEIR_FLAGS))
            if not theirs:
                continue
            ours = set(_words(page["text"]))
            share = sum(1 for word in theirs if word in ours) / len(theirs)
            assert share >= 0.98, f"page {page['page']}: {share:.1%} of the words kept"


def test_scans_read_to_real_words(outcomes: Mapping[str, Outcome]) -> None:
    """Most scans (images and scanned PDFs) OCR with good confidence into words."""
    scans = [r for r in ROWS if r["kind"] in ("image", "scanned-pdf")]
    if not scans:
        pytest.skip(ABSENT)
    good = 0
    for row in scans:
        outcome = outcomes[row["path"]]
        assert isinstance(outcome, Result)
        confidences = [p["ocr_confidence"] or 0.0 for p in _pages(outcome) if p["source"] == "ocr"]
        words = WORD.findall(outcome.text_utf8.decode())
        if confidences and min(confidences) >= 0.6 and len(words) >= 3:
            good += 1
    assert good >= 0.6 * len(scans), f"{good} of {len(scans)} scans read well"

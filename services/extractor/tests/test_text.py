"""Text-like files and language detection, in this process."""

from __future__ import annotations

import random
import time
from typing import Any

import pytest

from docuvault.extractor import extraction
from docuvault.extractor.extraction import language
from docuvault.extractor.extraction.model import ExtractionError, Limits

GERMAN = (
    "Sehr geehrte Damen und Herren, für die Lieferung der Möbel danken wir Ihnen herzlich. "
    "Die Rechnung über fünfhundert Euro ist innerhalb von dreißig Tagen zu begleichen. "
    "Bei Rückfragen wenden Sie sich bitte an unser Büro in München. Mit freundlichen Grüßen"
)
ENGLISH = (
    "The committee met on Monday to review the budget for the coming year. Members agreed "
    "that the library needs new shelves and that the garden should be maintained weekly."
)


def _text(make: Any, data: bytes, content_type: str = "text/plain") -> str:
    result = make.run_inline(make.write(data), content_type)
    text: str = result.text_utf8.decode()
    return text


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "cp1252", "iso-8859-1"])
def test_charsets_are_detected(make: Any, encoding: str) -> None:
    assert _text(make, GERMAN.encode(encoding)) == GERMAN


def test_language_and_preview(make: Any) -> None:
    result = make.run_inline(make.write(((ENGLISH + "\n") * 30).encode()), "text/plain")
    assert result.language == "en"
    assert len(result.preview) == 1000
    assert result.preview.startswith("The committee met")
    assert result.char_count == len(result.text_utf8.decode())


def test_markdown_and_csv_are_kept_as_written(make: Any) -> None:
    assert _text(make, b"# Title\n\n* one\n* two\n", "text/markdown") == "# Title\n\n* one\n* two"
    assert _text(make, b"name,amount\nrent,900\n", "text/csv") == "name,amount\nrent,900"


def test_html_gives_only_the_visible_text(make: Any) -> None:
    page = b"""<!doctype html><html><head><title>Price list</title>
      <meta name="author" content="Shop owner"><style>p { color: red }</style>
      <script>var hidden = "not shown";</script></head>
      <body><h1>Prices &amp; terms</h1><p>Apples&nbsp;cost <b>two</b> euros.</p>
      <table><tr><td>pears</td><td>3</td></tr></table><noscript>enable scripts</noscript>
      </body></html>"""
    result = make.run_inline(make.write(page), "text/html")
    text = result.text_utf8.decode()
    assert text.splitlines() == ["Prices & terms", "", "Apples cost two euros.", "", "pears 3"]
    assert result.metadata.title == "Price list"
    assert result.metadata.author == "Shop owner"


def test_binary_garbage_is_unsupported(make: Any) -> None:
    garbage = random.Random(7).randbytes(64 * 1024)
    with pytest.raises(ExtractionError) as caught:
        extraction.plan(str(make.write(garbage)), "text/plain", Limits(), time.time() + 30, 1)
    assert caught.value.reason == "unsupported_type"


def test_text_over_the_cap_is_too_large(make: Any) -> None:
    with pytest.raises(ExtractionError) as caught:
        make.run_inline(make.write(b"word " * 1000), "text/plain", Limits(max_text_chars=1000))
    assert caught.value.reason == "too_large"


def test_unknown_types_are_unsupported(make: Any) -> None:
    with pytest.raises(ExtractionError) as caught:
        extraction.plan(str(make.write(b"x")), "application/zip", Limits(), time.time() + 30, 1)
    assert caught.value.reason == "unsupported_type"


def test_language_detection() -> None:
    assert language.detect(GERMAN) == "de"
    assert language.detect(ENGLISH) == "en"
    assert (
        language.detect("Bonjour à tous, nous sommes très heureux de vous accueillir ici.") == "fr"
    )
    assert language.detect("Invoice 4711") is None  # too little to tell
    assert language.detect("12 345 678 90 " * 50) is None

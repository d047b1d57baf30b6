"""Text-like files: plain text, Markdown, CSV and HTML (visible text only), any charset.

The charset is detected by charset-normalizer; bytes that decode to nothing readable (binary
data passed off as text) fail with ``unsupported_type`` instead of becoming mojibake.
"""

from __future__ import annotations

import os
from html.parser import HTMLParser

from charset_normalizer import from_bytes

from docuvault.contracts.events import DocumentMetadata
from docuvault.extractor.extraction.model import ExtractionError, Limits, Page, Plan
from docuvault.extractor.extraction.textutil import clean, junk_chars, meta, visible_chars

TYPES = {"text/plain", "text/markdown", "text/csv", "text/html", "text/x-markdown"}
#: share of decoded characters that may be junk (controls, replacement characters)
MAX_JUNK = 0.02
#: charset-normalizer's "chaos" score above which the decoding is not believed
MAX_CHAOS = 0.3


def extract(path: str, content_type: str, limits: Limits) -> Plan:
    size = os.path.getsize(path)
    if size > 4 * limits.max_text_chars:
        raise _too_large(limits)
    with open(path, "rb") as f:
        data = f.read()
    text = decode(data)
    if len(text) > limits.max_text_chars:
        raise _too_large(limits)
    metadata = DocumentMetadata()
    if content_type == "text/html":
        text, metadata = html_text(text)
    return Plan("text", 1, metadata, pages=(Page(1, clean(text)),))


def decode(data: bytes) -> str:
    if not data.strip():
        return ""
    if data.startswith((b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")) or _utf8(data):
        best_text = (
            data.decode("utf-8-sig")
            if not data.startswith((b"\xff\xfe", b"\xfe\xff"))
            else data.decode("utf-16")
        )
    else:
        match = from_bytes(data).best()
        if match is None or match.chaos > MAX_CHAOS:
            raise _binary()
        best_text = str(match)
    visible = visible_chars(best_text)
    if visible and junk_chars(best_text) / visible > MAX_JUNK:
        raise _binary()
    return best_text


def _utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _binary() -> ExtractionError:
    return ExtractionError(
        "unsupported_type",
        "the file looks like binary data, not text in any known character set; upload the "
        "document in its original format (PDF, DOCX, an image or a text file)",
    )


def _too_large(limits: Limits) -> ExtractionError:
    return ExtractionError(
        "too_large",
        f"the text is longer than {limits.max_text_chars} characters "
        "(DOCUVAULT_EXTRACTOR_MAX_TEXT_CHARS); split it into smaller files",
    )


_HIDDEN = {"script", "style", "head", "template", "noscript", "svg", "iframe", "object"}
_BLOCK = frozenset(
    [
        "address",
        "article",
        "aside",
        "blockquote",
        "br",
        "dd",
        "div",
        "dl",
        "dt",
        "fieldset",
        "figcaption",
        "figure",
        "footer",
        "form",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "header",
        "hr",
        "li",
        "main",
        "nav",
        "ol",
        "p",
        "pre",
        "section",
        "table",
        "tr",
        "ul",
        "title",
        "caption",
    ]
)
_VOID = frozenset(
    [
        "area",
        "base",
        "br",
        "col",
        "embed",
        "hr",
        "img",
        "input",
        "link",
        "meta",
        "source",
        "track",
        "wbr",
    ]
)


class _Visible(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.hidden: list[str] = []
        self.in_title = False
        self.title: list[str] = []
        self.meta: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "meta":
            named = dict(attrs)
            name, content = (named.get("name") or "").lower(), named.get("content")
            if name and content:
                self.meta.setdefault(name, content)
        if tag == "body" and "head" in self.hidden:
            self.hidden.clear()  # an unclosed <head> ends where the body starts
        if tag == "title":
            self.in_title = True
        elif tag in _HIDDEN and tag not in _VOID:
            self.hidden.append(tag)
        if tag in _BLOCK:
            self.parts.append("\n")
        elif tag in ("td", "th"):
            self.parts.append("\t")

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self.in_title = False
        elif tag in self.hidden:
            while self.hidden and self.hidden.pop() != tag:
                pass
        if tag in _BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if self.in_title:
            self.title.append(data)
        elif not self.hidden:
            self.parts.append(data)


def html_text(markup: str) -> tuple[str, DocumentMetadata]:
    parser = _Visible()
    parser.feed(markup)
    parser.close()
    lines = (" ".join(line.split()) for line in "".join(parser.parts).split("\n"))
    text = "\n".join(lines)
    metadata = DocumentMetadata(
        title=meta("".join(parser.title)),
        author=meta(parser.meta.get("author")),
        subject=meta(parser.meta.get("description")),
        keywords=meta(parser.meta.get("keywords")),
        producer=meta(parser.meta.get("generator")),
    )
    return text, metadata

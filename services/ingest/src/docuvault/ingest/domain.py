"""Pure upload rules: what a file is (from its bytes), what it may be called, where it lives."""

from __future__ import annotations

import re
import unicodedata
import uuid
from pathlib import PurePosixPath

PDF = "application/pdf"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
TEXT = "text/plain"
MARKDOWN = "text/markdown"
CSV = "text/csv"
HTML = "text/html"
#: bytes sniffed before deciding; a type is known from at most this much of the head
SNIFF_BYTES = 8192
MAX_FILENAME = 200

_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"BM", "image/bmp"),
)
_TEXT_BY_SUFFIX = {".md": MARKDOWN, ".markdown": MARKDOWN, ".csv": CSV, ".html": HTML, ".htm": HTML}
_HTML_START = re.compile(rb"^\s*(<!doctype\s+html|<html[\s>])", re.IGNORECASE)


def sniff(head: bytes, filename: str) -> str | None:
    """The content type told by the bytes (magic numbers), or None when not accepted.

    Text files are told apart as Markdown, CSV or HTML by name only after the bytes are known to
    be text (DESIGN §9).
    """
    if b"%PDF-" in head[:1024]:
        return PDF
    if head.startswith(b"PK\x03\x04"):
        return DOCX  # provisional: the receiver checks the ZIP's directory at its end
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "image/webp"
    for magic, content_type in _MAGIC:
        if head.startswith(magic):
            if content_type == "image/bmp" and not _plausible_bmp(head):
                break
            return content_type
    if not _is_text(head):
        return None
    if _HTML_START.match(head.lstrip(b"\xef\xbb\xbf")):
        return HTML
    return _TEXT_BY_SUFFIX.get(PurePosixPath(filename.lower()).suffix, TEXT)


def describe_unknown(head: bytes) -> str:
    if not head:
        return "an empty file"
    return f"binary data starting with {head[:8].hex(' ')}"


def _plausible_bmp(head: bytes) -> bool:
    return len(head) >= 26 and head[6:10] == b"\x00\x00\x00\x00"


def _is_text(head: bytes) -> bool:
    if not head:
        return False
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return len(head) % 2 == 0 or len(head) >= SNIFF_BYTES
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
        return True
    except UnicodeDecodeError as exc:
        if exc.start >= len(head) - 3 and len(head) >= SNIFF_BYTES:
            return True  # a multi-byte character cut by the sniff window
    # legacy 8-bit encodings: accept when control characters are rare
    controls = sum(1 for b in head if b < 32 and b not in (9, 10, 12, 13))
    return controls / len(head) < 0.01


def clean_filename(raw: str | None) -> str:
    """A display name: Unicode NFC, no path parts, no control characters, bounded length."""
    name = unicodedata.normalize("NFC", raw or "")
    name = re.split(r"[\\/]", name)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")
    name = name.strip().strip(".")
    if len(name) > MAX_FILENAME:
        suffix = PurePosixPath(name).suffix[:16]
        name = name[: MAX_FILENAME - len(suffix)] + suffix
    return name or "unnamed"


def original_key(owner_id: uuid.UUID, document_id: uuid.UUID) -> str:
    return f"{owner_id}/{document_id}/original"


def document_prefix(owner_id: uuid.UUID, document_id: uuid.UUID) -> str:
    return f"{owner_id}/{document_id}/"

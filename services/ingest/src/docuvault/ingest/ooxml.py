"""Telling a Word document from any ZIP by its central directory, read from the file's tail.

The central directory sits at the end of a ZIP, so the receiver keeps the last bytes of a ZIP
upload (bounded) and names its members here, without inflating anything.
"""

from __future__ import annotations

import struct

#: bytes of a ZIP's end kept while streaming: the directory of a document fits easily
TAIL_BYTES = 1 << 20
_EOCD = b"PK\x05\x06"
_ENTRY = b"PK\x01\x02"
_REQUIRED = ("[Content_Types].xml", "word/document.xml")


def member_names(tail: bytes, total_size: int) -> list[str] | None:
    """The member names of the ZIP whose last bytes are ``tail``; None when unreadable."""
    eocd = tail.rfind(_EOCD, max(0, len(tail) - 65_557))
    if eocd < 0 or len(tail) - eocd < 22:
        return None
    entries, cd_size, cd_offset = struct.unpack_from("<10xHII", tail, eocd)
    if 0xFFFFFFFF in (cd_size, cd_offset) or entries == 0xFFFF:
        return None  # ZIP64: far larger than any document this check is for
    start = len(tail) - (total_size - cd_offset)
    if start < 0 or cd_offset + cd_size > total_size:
        return None
    names: list[str] = []
    position = start
    for _ in range(entries):
        if tail[position : position + 4] != _ENTRY:
            return None
        name_len, extra_len, comment_len = struct.unpack_from("<HHH", tail, position + 28)
        raw = tail[position + 46 : position + 46 + name_len]
        names.append(raw.decode("utf-8", errors="replace"))
        position += 46 + name_len + extra_len + comment_len
    return names


def word_document_problem(tail: bytes, total_size: int) -> str | None:
    """Why this ZIP is not a Word document, or None when it is one."""
    names = member_names(tail, total_size)
    if names is None:
        return "a damaged ZIP archive (its central directory cannot be read)"
    missing = [n for n in _REQUIRED if n not in names]
    if missing:
        return f"a ZIP archive that is not a Word (DOCX) document (it has no {missing[0]})"
    return None

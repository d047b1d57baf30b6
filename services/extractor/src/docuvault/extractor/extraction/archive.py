"""Zip-bomb caps for DOCX, checked on the archive's central directory before any inflating.

``zipfile`` never inflates an entry past the size its directory declares, so these caps bound
the memory the package reader can use, even when the directory lies.
"""

from __future__ import annotations

import io
import zipfile

from docuvault.extractor.extraction.model import ExtractionError, Limits


def not_word() -> ExtractionError:
    return ExtractionError(
        "unsupported_type",
        "the ZIP archive is not a Word (DOCX) document; upload the document itself",
    )


def check_zip(data: bytes, limits: Limits) -> set[str]:
    """Refuse zip bombs from the central directory alone (nothing is inflated here)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            entries = archive.infolist()
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise ExtractionError(
            "corrupt", f"the file is not a readable ZIP/DOCX archive ({exc}); save it again"
        ) from exc
    if len(entries) > limits.max_zip_entries:
        raise _bomb(f"it has {len(entries)} entries (at most {limits.max_zip_entries})")
    total = sum(e.file_size for e in entries)
    if total > limits.max_zip_bytes:
        raise _bomb(f"it inflates to {total} bytes (at most {limits.max_zip_bytes})")
    packed = sum(e.compress_size for e in entries)
    if total > 1 << 20 and total > limits.max_zip_ratio * max(1, packed):
        raise _bomb(f"it inflates {total // max(1, packed)}-fold (at most {limits.max_zip_ratio})")
    for entry in entries:
        ratio = entry.file_size / max(1, entry.compress_size)
        if entry.file_size > 1 << 20 and ratio > limits.max_zip_ratio:
            raise _bomb(f"one entry inflates {ratio:.0f}-fold (at most {limits.max_zip_ratio})")
    return {e.filename for e in entries}


def _bomb(why: str) -> ExtractionError:
    return ExtractionError(
        "too_large",
        f"the DOCX archive was refused before unpacking: {why}. Real Word documents stay far "
        "below these limits (DOCUVAULT_EXTRACTOR_MAX_ZIP_*); this looks like a zip bomb",
    )

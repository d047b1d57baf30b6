"""Small text helpers shared by the format readers."""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime, timedelta

_CONTROL = re.compile("[\x00-\x08\x0b\x0e-\x1f\x7f\ud800-\udfff]")
_BLANK_LINES = re.compile(r"\n{3,}")
MAX_META = 500
#: Alphabetic and Arabic presentation forms (ligatures such as "ﬁ", Arabic contextual forms)
_PRESENTATION = re.compile("[\ufb00-\ufdff\ufe70-\ufefe]+")
#: the C0 controls and DEL other than tab and newline, the junk an ASCII text can hold
_ASCII_CONTROLS = bytes([*range(0x00, 0x09), 0x0B, *range(0x0E, 0x20), 0x7F])


def _unligate(match: re.Match[str]) -> str:
    return unicodedata.normalize("NFKC", match.group())


def clean(text: str) -> str:
    """Newlines normalised, control characters dropped, trailing spaces and blank runs cut.

    Runs for every page: an ASCII text (most) takes the bytes fast path, and plain string
    methods replace regular expressions that cost ten times as much on a page of text."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\f", "\n")
    if text.isascii():
        data = text.encode("ascii")
        kept = data.translate(None, _ASCII_CONTROLS)
        if len(kept) != len(data):
            text = kept.decode("ascii")
    else:
        text = _CONTROL.sub("", text)
        text = _PRESENTATION.sub(_unligate, text)  # search finds "find" in "ﬁnd"
    text = "\n".join(line.rstrip(" \t") for line in text.split("\n"))
    if "\n\n\n" in text:
        text = _BLANK_LINES.sub("\n\n", text)
    return text.strip("\n")


#: what a broken text layer or binary data decodes to: U+FFFD, private use, C0/C1 controls
_JUNK = re.compile("[\ufffd\ue000-\uf8ff\U000f0000-\U0010ffff\x00-\x08\x0b\x0e-\x1f\x7f-\x9f]")


def junk_chars(text: str) -> int:
    if text.isascii():  # only its controls can be junk: counted at C speed
        data = text.encode("ascii")
        return len(data) - len(data.translate(None, _ASCII_CONTROLS))
    return len(_JUNK.findall(text)) if _JUNK.search(text) else 0


def visible_chars(text: str) -> int:
    """Characters other than the usual whitespace (str.count runs at C speed)."""
    return len(text) - sum(text.count(space) for space in " \n\t\xa0")


def usable_chars(text: str) -> int:
    """Characters that carry text: neither whitespace nor junk (regular expressions: C speed)."""
    return visible_chars(text) - junk_chars(text)


def meta(value: object) -> str | None:
    """A metadata value as a short clean string, or None when empty."""
    if value is None:
        return None
    text = " ".join(_CONTROL.sub(" ", str(value)).split())
    return text[:MAX_META] or None


_PDF_DATE = re.compile(
    r"^(?:D:)?(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?\s*([Zz+\-])?\s*(\d{2})?'?(\d{2})?'?"
)


def pdf_date(value: str | None) -> datetime | None:
    """A PDF date string (``D:20240517093012+02'00'``) as an aware datetime, or None."""
    if not value:
        return None
    m = _PDF_DATE.match(value.strip())
    if m is None:
        return None
    year, month, day, hour, minute, second, sign, tz_h, tz_m = m.groups()
    try:
        parsed = datetime(
            int(year),
            int(month or 1),
            int(day or 1),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            tzinfo=UTC,
        )
    except ValueError:
        return None
    if sign in ("+", "-") and tz_h:
        offset = timedelta(hours=int(tz_h), minutes=int(tz_m or 0))
        parsed = parsed - offset if sign == "+" else parsed + offset
    return parsed

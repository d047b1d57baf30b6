"""Text analysis shared by the local provider: normalise, tokenise, drop stop words, stem.

Only generic English knowledge lives here (a stop-word list and the Snowball English stemmer);
nothing is derived from any document collection (DESIGN §7).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterator

import snowballstemmer  # type: ignore[import-untyped]

#: a generic English stop-word list (function words, auxiliaries, pronouns)
_STOP_WORDS = """
    a about above after again against all also am an and any are aren as at be because been
    before being below between both but by can cannot could couldn did didn do does doesn doing
    don down during each etc even ever every few for from further get gets got had hadn has
    hasn have haven having he her here hers herself him himself his how however i if in into
    is isn it its itself just let ll may me might more most much must mustn my myself no nor
    not now of off on once one only or other ought our ours ourselves out over own per quite
    rather re said same say says shall shan she should shouldn since so some still such than
    that the their theirs them themselves then there these they this those though through thus
    to too under until up upon us ve very via was wasn we were weren what when where whether
    which while who whom whose why will with within without would wouldn yet you your yours
    yourself yourselves
"""
STOP_WORDS: frozenset[str] = frozenset(_STOP_WORDS.split())

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_STEMMER = snowballstemmer.stemmer("english")
_MIN_LENGTH = 2


def normalise(text: str) -> str:
    """Compatibility-normalised, case-folded text (ﬁ → fi, full-width → ASCII, ß → ss)."""
    return unicodedata.normalize("NFKC", text).casefold()


def words(text: str) -> Iterator[str]:
    """The words of ``text`` in order, normalised; apostrophes split words (``it's`` → it, s)."""
    for match in _WORD.finditer(normalise(text)):
        yield match.group()


@functools.lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """The Snowball (Porter 2) English stem of a normalised word."""
    result: str = _STEMMER.stemWord(word)
    return result


def is_content_word(word: str) -> bool:
    return len(word) >= _MIN_LENGTH and not word.isdigit() and word not in STOP_WORDS


def terms(text: str) -> list[str]:
    """The stems of the content words of ``text``, in order (stop words and numbers dropped)."""
    return [stem(w) for w in words(text) if is_content_word(w)]


def has_words(text: str) -> bool:
    """Whether there is anything to classify: at least one letter or digit."""
    return _WORD.search(text) is not None


def smart_cut(text: str, budget: int, *, marker: str = "\n[…]\n") -> str:
    """At most ``budget`` characters: the beginning and the end of a longer text.

    Two thirds come from the beginning (titles, abstracts, openings) and one third from the end
    (conclusions, signatures); each cut moves back to a whitespace so no word is split.
    """
    if len(text) <= budget:
        return text
    room = max(budget - len(marker), 0)
    head_len, tail_len = (room * 2) // 3, room - (room * 2) // 3
    head = text[:head_len]
    if head_len < len(text) and not text[head_len].isspace() and " " in head:
        head = head[: head.rindex(" ")]
    tail = text[len(text) - tail_len :] if tail_len else ""
    if tail and not text[len(text) - tail_len - 1].isspace() and " " in tail:
        tail = tail[tail.index(" ") + 1 :]
    return head + marker + tail

"""Topic match rules, with paperless-ngx's semantics (any / all / exact / regex / fuzzy).

- ``any``: one of the pattern's words or "quoted phrases" occurs as a whole word;
- ``all``: every one of them does;
- ``exact``: the whole pattern occurs as written (word-bounded at its ends);
- ``regex``: the pattern is a Python regular expression found anywhere in the text
  (``^`` and ``$`` also match at line breaks);
- ``fuzzy``: the pattern, punctuation removed, matches some part of the text with a
  similarity ≥ 90 % (rapidfuzz's partial ratio).

Matching ignores case unless the rule is case-sensitive. An invalid regular expression never
matches (the owner sees no effect rather than a failed classification).
"""

from __future__ import annotations

import functools
import logging
import re

from rapidfuzz import fuzz

from docuvault.contracts.events import TopicMatch

log = logging.getLogger("docuvault.classifier")

FUZZY_CUTOFF = 90.0
_TERMS = re.compile(r'"([^"]+)"|(\S+)')
_PUNCTUATION = re.compile(r"[^\w\s]")
_SPACE = re.compile(r"\s+")


def matches(rule: TopicMatch, text: str) -> bool | None:
    """Whether ``text`` satisfies the rule; None when the topic has no rule."""
    pattern = rule.pattern.strip()
    if rule.algorithm == "none" or not pattern:
        return None
    flags = 0 if rule.case_sensitive else re.IGNORECASE
    if rule.algorithm == "any":
        return any(_search(p, flags, text) for p in _word_patterns(pattern))
    if rule.algorithm == "all":
        return all(_search(p, flags, text) for p in _word_patterns(pattern))
    if rule.algorithm == "exact":
        return _search(_bounded(re.escape(pattern)), flags, text)
    if rule.algorithm == "regex":
        return _search(pattern, flags | re.MULTILINE, text)
    return _fuzzy(pattern, text, rule.case_sensitive)


def _word_patterns(pattern: str) -> list[str]:
    """Words and "quoted phrases" of a pattern; inner whitespace in a phrase matches any run."""
    found = []
    for quoted, bare in _TERMS.findall(pattern):
        term = _SPACE.sub(" ", (quoted or bare).strip())
        if term:
            found.append(_bounded(re.escape(term).replace(r"\ ", r"\s+")))
    return found


def _bounded(escaped: str) -> str:
    """Whole words only: no word character right before or after (works for ``C++`` too)."""
    return rf"(?<!\w){escaped}(?!\w)"


@functools.lru_cache(maxsize=1024)
def _compile(pattern: str, flags: int) -> re.Pattern[str] | None:
    try:
        return re.compile(pattern, flags)
    except re.error as exc:
        log.warning("topic rule %r is not a valid regular expression: %s", pattern, exc)
        return None


def _search(pattern: str, flags: int, text: str) -> bool:
    compiled = _compile(pattern, flags)
    return compiled is not None and compiled.search(text) is not None


def _fuzzy(pattern: str, text: str, case_sensitive: bool) -> bool:
    needle = _SPACE.sub(" ", _PUNCTUATION.sub("", pattern)).strip()
    haystack = _SPACE.sub(" ", _PUNCTUATION.sub("", text))
    if not case_sensitive:
        needle, haystack = needle.casefold(), haystack.casefold()
    if not needle:
        return False
    return fuzz.partial_ratio(needle, haystack, score_cutoff=FUZZY_CUTOFF) > 0

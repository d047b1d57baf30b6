"""The language of a text (ISO 639-1), with py3langid.

Chosen because it works offline with a model inside the package (4.5 MB, ~100 languages),
is deterministic (langdetect is random unless seeded) and fast (about a millisecond for a page;
lingua is far heavier). Loading the model takes about a second, once per worker process.
"""

from __future__ import annotations

import functools
from typing import Any

#: letters needed before a guess is made; fewer give unreliable answers
MIN_LETTERS = 40
MIN_PROBABILITY = 0.6
#: py3langid walks its sample byte by byte in Python, through a 39 MB table that the reader has
#: pushed out of the CPU caches by then: 450 characters took 0.65 ms in a worker, 12 % of the
#: whole extraction of a short text PDF; three slices of 100 characters still identify a
#: language well (the tests' German, French and English texts among them)
SAMPLE_CHARS = 300
#: py3langid labels that are not ISO 639-1 codes, mapped to the nearest one where there is one
_TO_639_1 = {
    "ary": "ar",
    "arz": "ar",
    "uzs": "uz",
    "yue": "zh",
    "wuu": "zh",
    "hbo": "he",
    "sdh": "ku",
    "gug": "gn",
    "kik": "ki",
}


@functools.cache
def _identifier() -> Any:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier  # type: ignore[import-untyped]

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def preload() -> None:
    """Load the model now (the worker pool's forkserver does, so that its workers share it)."""
    _identifier()


def detect(text: str) -> str | None:
    """ISO 639-1 code of the text's main language, or None when unsure or too little text."""
    sample = _sample(text)
    if not _has_letters(sample, MIN_LETTERS):
        return None
    label, probability = _identifier().classify(sample)
    code = _TO_639_1.get(str(label), str(label))
    if probability < MIN_PROBABILITY or len(code) != 2:
        return None
    return code


def _has_letters(text: str, wanted: int) -> bool:
    for c in text:
        if c.isalpha():
            wanted -= 1
            if wanted <= 0:
                return True
    return False


def _sample(text: str) -> str:
    """Up to three slices (start, middle, end), so a cover page does not decide alone."""
    if len(text) <= SAMPLE_CHARS:
        return text
    third = SAMPLE_CHARS // 3
    middle = len(text) // 2
    return "\n".join((text[:third], text[middle - third // 2 : middle + third // 2], text[-third:]))

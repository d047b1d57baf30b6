from __future__ import annotations

import pytest

from docuvault.classifier import text


def test_words_are_normalised_and_split() -> None:
    assert list(text.words("The CAFÉ's ﬁne-print, 2024!")) == [
        "the",
        "café",
        "s",
        "fine",
        "print",
        "2024",
    ]


def test_terms_drop_stop_words_numbers_and_single_letters() -> None:
    assert text.terms("It is the 3rd of 12 a b cats") == ["3rd", "cat"]


@pytest.mark.parametrize(
    ("variants", "expected"),
    [
        (["election", "elections", "elected", "electing"], "elect"),
        (["running", "runs", "run"], "run"),
        (["companies", "company"], "compani"),
        (["connection", "connected", "connecting"], "connect"),
    ],
)
def test_stemmer_conflates_inflections(variants: list[str], expected: str) -> None:
    assert {text.stem(v) for v in variants} == {expected}


def test_has_words() -> None:
    assert text.has_words("  x ")
    assert not text.has_words(" \n\t—…!? ")
    assert not text.has_words("")


def test_smart_cut_keeps_short_text() -> None:
    assert text.smart_cut("short text", 100) == "short text"


def test_smart_cut_keeps_beginning_and_end_without_splitting_words() -> None:
    long = "alpha " * 100 + "middle " * 1000 + "omega " * 100
    cut = text.smart_cut(long, 900)
    assert len(cut) <= 900
    assert cut.startswith("alpha alpha")
    assert cut.rstrip().endswith("omega")
    assert "[…]" in cut
    head, tail = cut.split("\n[…]\n")
    assert all(w in {"alpha", "middle"} for w in head.split())
    assert all(w in {"middle", "omega"} for w in tail.split())

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import pytest

from docuvault.classifier.providers.base import Topic
from docuvault.classifier.providers.local import MODEL, RULE_CONFIDENCE, LocalProvider
from docuvault.contracts.events import TopicMatch


def topic(name: str, description: str = "", *keywords: str, **match: Any) -> Topic:
    return Topic(uuid.uuid4(), name, description, keywords, TopicMatch(**match))


# Topics and texts written for these tests.
GARDEN = topic(
    "Gardening",
    "Growing plants, flowers and vegetables: soil, seeds, pruning, compost and garden pests.",
)
COOKING = topic(
    "Cooking",
    "Recipes and kitchen techniques: ingredients, baking, roasting, sauces and meals.",
)
ASTRONOMY = topic(
    "Astronomy",
    "Stars, planets, galaxies and telescopes: observing the night sky and space missions.",
)
TAXES = topic("Taxes", "Tax returns, deductions, VAT and income tax.", "tax office", "HMRC")
TOPICS = [GARDEN, COOKING, ASTRONOMY, TAXES]

TEXTS = {
    GARDEN.topic_id: (
        "Spring checklist\nSow the tomato seeds indoors, prune the roses before new growth, "
        "and dig plenty of compost into the vegetable beds. Watch for slugs and aphids: these "
        "pests love young plants. Perennial flowers can be divided now."
    ),
    COOKING.topic_id: (
        "Sunday roast\nRoast the chicken for ninety minutes, baste it twice and rest it before "
        "carving. Meanwhile make a gravy: whisk the pan juices with flour and stock until the "
        "sauce thickens. Season the ingredients well; serve the meal with roasted potatoes."
    ),
    ASTRONOMY.topic_id: (
        "Observing log\nClear night. Pointed the telescope at Jupiter and counted four moons; "
        "the planet's bands were sharp. Later the Andromeda galaxy was faint but visible, and "
        "several bright stars in Orion. The new space mission launches next month."
    ),
    TAXES.topic_id: (
        "Letter from the tax office about my income tax return for last year. The deductions "
        "for home office costs were accepted; the VAT refund is still pending at HMRC."
    ),
}


def score(text: str, topics: Sequence[Topic] = TOPICS) -> dict[uuid.UUID, float]:
    return dict(LocalProvider().score(text, topics).confidences)


@pytest.mark.parametrize("expected", list(TEXTS))
def test_ranks_the_right_topic_first_and_applies_it(expected: uuid.UUID) -> None:
    confidences = score(TEXTS[expected])
    ranked = sorted(confidences, key=lambda t: -confidences[t])
    assert ranked[0] == expected
    assert confidences[expected] >= 0.5
    assert all(confidences[t] < 0.5 for t in ranked[1:])


def test_confidences_are_in_range() -> None:
    for text in TEXTS.values():
        assert all(0.0 <= c <= 1.0 for c in score(text).values())


def test_a_text_no_topic_fits_gets_low_confidences() -> None:
    confidences = score(
        "Minutes of the residents' association meeting: the lift in block B is broken again, "
        "the caretaker retires in June and the bicycle shed needs a new lock."
    )
    assert max(confidences.values()) < 0.3


def test_a_single_passing_word_is_not_enough() -> None:
    text = "The board met on Tuesday to discuss the quarterly report and a new logo; one member "
    text += "brought flowers for the reception desk. The agenda for next month was agreed."
    assert score(text)[GARDEN.topic_id] < 0.5


def test_no_topics_scores_nothing() -> None:
    assert LocalProvider().score("anything at all", []).confidences == {}


async def test_classify_runs_off_the_loop_and_names_its_model() -> None:
    verdict = await LocalProvider().classify(TEXTS[GARDEN.topic_id], TOPICS, system_prompt="x")
    assert verdict.model == MODEL
    assert verdict.suggested_new_topics == ()
    assert max(verdict.confidences, key=lambda t: verdict.confidences[t]) == GARDEN.topic_id


def test_keywords_and_phrases_count() -> None:
    receipts = topic("Receipts", "", "proof of purchase", "till slip")
    other = topic("Letters", "Personal letters and correspondence from friends and family.")
    confidences = score("Keep this proof of purchase. Till slip attached.", [receipts, other])
    assert confidences[receipts.topic_id] >= 0.5
    assert confidences[other.topic_id] == 0


def test_words_shared_by_every_topic_weigh_less() -> None:
    a = topic("Alpha", "report apples")
    b = topic("Beta", "report pears")
    confidences = score("report report report pears", [a, b])
    assert confidences[b.topic_id] > confidences[a.topic_id]


def test_a_long_description_does_not_win_by_length() -> None:
    verbose = topic("Misc", " ".join(f"word{i}" for i in range(200)) + " invoice")
    focused = topic("Invoices", "invoice bill")
    confidences = score("invoice invoice bill", [verbose, focused])
    assert confidences[focused.topic_id] > confidences[verbose.topic_id]


@pytest.mark.parametrize(
    ("algorithm", "pattern"),
    [
        ("any", "acme globex"),
        ("all", "acme invoice"),
        ("exact", "ACME Corp"),
        ("regex", r"INV-\d{4}"),
        ("fuzzy", "acme corporation"),
    ],
)
def test_a_matching_rule_applies_the_topic(algorithm: str, pattern: str) -> None:
    acme = topic("Acme", "", algorithm=algorithm, pattern=pattern)
    text = "Invoice INV-1234 from ACME Corp (Acme Corporation), thank you for your business."
    assert score(text, [*TOPICS, acme])[acme.topic_id] >= RULE_CONFIDENCE


def test_a_rule_that_does_not_match_leaves_the_model_score() -> None:
    garden = topic(GARDEN.name, GARDEN.description, algorithm="exact", pattern="allotment")
    confidences = score(TEXTS[GARDEN.topic_id], [garden, COOKING])
    assert 0.5 <= confidences[garden.topic_id] < RULE_CONFIDENCE


def test_case_sensitive_rule() -> None:
    irs = topic("US tax", "", algorithm="any", pattern="IRS", case_sensitive=True)
    assert score("The IRS wrote to me.", [irs])[irs.topic_id] >= RULE_CONFIDENCE
    assert score("The irs wrote to me.", [irs])[irs.topic_id] < RULE_CONFIDENCE

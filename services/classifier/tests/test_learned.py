"""The local provider learning from confirmed examples (texts written for these tests)."""

from __future__ import annotations

import uuid
from collections import Counter

from docuvault.classifier import text as textlib
from docuvault.classifier.providers.base import Topic
from docuvault.classifier.providers.learned import NONE, Examples
from docuvault.classifier.providers.local import LEARNED_MODEL, MODEL, LocalProvider

# Two topics whose names and descriptions say little about how their documents read.
HOME = Topic(uuid.uuid4(), "Home", "Things about the house.")
WORK = Topic(uuid.uuid4(), "Work", "Things about the job.")
TOPICS = [HOME, WORK]

HOME_EXAMPLES = [
    "The boiler was serviced and the radiator in the hallway bled; the plumber left an invoice.",
    "Council tax for the flat, the boiler warranty and the landlord's note about the radiator.",
    "Mortgage statement; the plumber repaired the leaking boiler valve under the stairs.",
]
WORK_EXAMPLES = [
    "Quarterly appraisal with my manager: objectives, payroll grade and the pension scheme.",
    "Payslip for March, pension contributions and the manager's sign-off on overtime.",
    "Appraisal notes: the manager approved training; payroll will add the bonus.",
]
UNSEEN_HOME = "The radiator is cold again and the boiler pressure drops: call the plumber."
UNSEEN_WORK = "My manager moved the appraisal; payroll says the pension change starts soon."
RECIPE = (
    "Whisk two eggs with flour and sugar, fold in melted butter and bake; a note for the "
    "manager: the cake is in the hallway."
)


def counts(text: str) -> Counter[str]:
    return Counter(textlib.terms(text))


def taught(*, recipes_have_no_topic: bool = False) -> Examples:
    examples = Examples()
    for text in HOME_EXAMPLES:
        examples.add(counts(text), [HOME.topic_id])
    for text in WORK_EXAMPLES:
        examples.add(counts(text), [WORK.topic_id])
    if recipes_have_no_topic:
        examples.add(counts("Bake the cake: eggs, flour, sugar and butter, whisked."), [])
        examples.add(counts("Pancakes: flour, milk, eggs; fry in butter, add sugar."), [])
    return examples


def test_zero_shot_cannot_tell_but_examples_can() -> None:
    provider = LocalProvider()
    before = provider.score(UNSEEN_HOME, TOPICS)
    assert before.model == MODEL
    assert max(before.confidences.values()) < 0.5  # nothing in the names fits
    for text, right, wrong in [(UNSEEN_HOME, HOME, WORK), (UNSEEN_WORK, WORK, HOME)]:
        after = provider.score(text, TOPICS, taught())
        assert after.model == LEARNED_MODEL
        assert after.confidences[right.topic_id] >= 0.5
        assert after.confidences[wrong.topic_id] < after.confidences[right.topic_id] / 2


def test_each_confirmation_counts_at_once() -> None:
    provider = LocalProvider()
    examples = Examples()
    examples.add(counts(WORK_EXAMPLES[0]), [WORK.topic_id])
    one = provider.score(UNSEEN_WORK, TOPICS, examples).confidences[WORK.topic_id]
    examples.add(counts(WORK_EXAMPLES[1]), [WORK.topic_id])
    examples.add(counts(HOME_EXAMPLES[0]), [HOME.topic_id])
    three = provider.score(UNSEEN_WORK, TOPICS, examples).confidences[WORK.topic_id]
    assert three > one > 0


def test_remove_undoes_add() -> None:
    examples = taught()
    for text in HOME_EXAMPLES:
        examples.remove(counts(text), [HOME.topic_id])
    for text in WORK_EXAMPLES:
        examples.remove(counts(text), [WORK.topic_id])
    assert not examples
    assert examples.topics == {}
    assert examples.vocabulary == Counter()


def test_documents_confirmed_without_topic_teach_none() -> None:
    provider = LocalProvider()
    without = provider.score(RECIPE, TOPICS, taught()).confidences
    with_none = provider.score(RECIPE, TOPICS, taught(recipes_have_no_topic=True)).confidences
    assert NONE not in with_none
    assert max(with_none.values()) < 0.5  # like the documents the owner left without a topic
    assert max(with_none.values()) < max(without.values())


def test_a_document_like_no_topic_gets_none_after_learning() -> None:
    """Learning must not turn "which topic is least unlikely" into an applied topic: the pooled
    examples compete as a background, so a text of none of the topics stays below 0.5."""
    provider = LocalProvider()
    for text in [RECIPE, "Saturn's rings and Jupiter's moons through a telescope at night."]:
        confidences = provider.score(text, TOPICS, taught()).confidences
        assert max(confidences.values()) < 0.5

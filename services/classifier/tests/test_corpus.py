"""Zero-shot accuracy of the ``local`` provider on the labeled corpus (skipped when absent).

The five topics get only a name and a one-line description written for this test, the way a
user would describe them, without looking at the articles: no word is mined from the corpus.
"""

from __future__ import annotations

import os
import random
import uuid
from collections import Counter
from pathlib import Path

import pytest

from docuvault.classifier import text as textlib
from docuvault.classifier.providers.base import Topic
from docuvault.classifier.providers.learned import Examples
from docuvault.classifier.providers.local import LEARNED_MODEL, LocalProvider

DESCRIPTIONS = {
    "business": "Business and the economy: companies, markets, shares, profits, banks, trade, "
    "jobs and prices.",
    "entertainment": "Entertainment: films, music, television, actors, singers, celebrities, "
    "awards and shows.",
    "politics": "Politics: government, elections, political parties, ministers, parliament, laws "
    "and policy.",
    "sport": "Sport: matches, teams, players, coaches, leagues, championships and results in "
    "football, tennis and other sports.",
    "tech": "Technology: computers, the internet, software, phones, gadgets, video games and "
    "online services.",
}
PER_TOPIC = 40
SEED = 20240611
#: measured 0.800 on this sample (0.831 on all 1,111 articles; 0.77-0.87 over other seeds)
MIN_ACCURACY = 0.75


def labeled_corpus() -> Path | None:
    """``$DOCUVAULT_CORPUS/labeled`` or ``../shared/corpus/labeled`` beside the repository."""
    configured = os.environ.get("DOCUVAULT_CORPUS")
    repo = Path(__file__).resolve().parents[3]
    base = Path(configured) if configured else repo.parent / "shared" / "corpus"
    path = base / "labeled"
    return path if path.is_dir() else None


def sample(root: Path) -> list[tuple[str, str]]:
    rng = random.Random(SEED)
    chosen = []
    for label in sorted(DESCRIPTIONS):
        files = sorted((root / label).glob("*.txt"))
        for path in rng.sample(files, min(PER_TOPIC, len(files))):
            chosen.append((label, path.read_text(encoding="utf-8", errors="replace")))
    return chosen


@pytest.mark.corpus
def test_zero_shot_accuracy() -> None:
    root = labeled_corpus()
    if root is None:
        pytest.skip("corpus absent: set DOCUVAULT_CORPUS or provide ../shared/corpus/labeled")
    topics = [
        Topic(uuid.uuid5(uuid.NAMESPACE_OID, label), label.capitalize(), description)
        for label, description in DESCRIPTIONS.items()
    ]
    label_of = {t.topic_id: t.name.lower() for t in topics}
    provider = LocalProvider()
    outcomes: Counter[str] = Counter()
    per_label: Counter[str] = Counter()
    documents = sample(root)
    for label, text in documents:
        confidences = provider.score(text, topics).confidences
        best = max(confidences, key=lambda t: confidences[t])
        hit = confidences[best] > 0 and label_of[best] == label
        outcomes["correct" if hit else "wrong"] += 1
        per_label[label] += hit
        outcomes["applied"] += confidences[best] >= 0.5
    accuracy = outcomes["correct"] / len(documents)
    print(
        f"\nlocal zero-shot top-1 accuracy {accuracy:.3f} on {len(documents)} documents; "
        f"top topic applied (>= 0.5) for {outcomes['applied']}; per topic: {dict(per_label)}"
    )
    assert accuracy >= MIN_ACCURACY


def split(root: Path) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """The benchmark's fixed split: per topic, files by name, every fourth one is a test one."""
    train: list[tuple[str, str]] = []
    test: list[tuple[str, str]] = []
    for label in sorted(DESCRIPTIONS):
        for n, path in enumerate(sorted((root / label).glob("*.txt"))):
            text = path.read_text(encoding="utf-8", errors="replace")
            (test if n % 4 == 3 else train).append((label, text))
    return train, test


@pytest.mark.corpus
@pytest.mark.parametrize(("per_topic", "minimum"), [(20, 0.92), (None, 0.96)])
def test_accuracy_after_learning(per_topic: int | None, minimum: float) -> None:
    """After confirmed examples (20 per topic, drawn with seed 0; or the whole training pool).
    The 20-example floor sits a little under the issue's 0.93, which ``make bench PART=classify``
    checks as the median of five draws (one draw varies by about ±0.01)."""
    root = labeled_corpus()
    if root is None:
        pytest.skip("corpus absent: set DOCUVAULT_CORPUS or provide ../shared/corpus/labeled")
    topics = [
        Topic(uuid.uuid5(uuid.NAMESPACE_OID, label), label, description)
        for label, description in DESCRIPTIONS.items()
    ]
    train, test = split(root)
    if per_topic is not None:
        rng = random.Random(0)
        train = [
            e for t in topics for e in rng.sample([e for e in train if e[0] == t.name], per_topic)
        ]
    examples = Examples()
    for label, text in train:
        examples.add(Counter(textlib.terms(text)), [uuid.uuid5(uuid.NAMESPACE_OID, label)])
    label_of = {t.topic_id: t.name for t in topics}
    provider = LocalProvider()
    hits = 0
    for label, text in test:
        verdict = provider.score(text, topics, examples)
        assert verdict.model == LEARNED_MODEL
        confidences = verdict.confidences
        hits += label_of[max(confidences, key=lambda t: confidences[t])] == label
    accuracy = hits / len(test)
    print(f"\nlocal accuracy after {per_topic or 'all'} examples/topic: {accuracy:.3f}")
    assert accuracy >= minimum

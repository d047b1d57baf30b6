"""The ``local`` provider: zero-shot BM25-style scoring of the owner's topics, no network.

Each topic becomes a weighted query of stems from its name (weight 3), keywords (2) and
description (1); multi-word names and keywords also count as phrases. A term's weight is
scaled by how specific it is among the owner's topics (an IDF over the topic profiles, so a
word every topic shares tells nothing). The document's term frequencies saturate as in BM25
(k1 = 1.2, b = 0.75, length relative to a generic 300-term page), so a topic needs several
distinct pieces of evidence, not one word repeated.

Calibration: evidence ``E`` becomes an absolute strength ``1 - exp(-E / S)`` (``S`` chosen
so that about three solid hits give 0.5), multiplied by ``E / E_best`` so a topic well behind the
best one is not applied beside it. A document that fits no topic gets low confidences
everywhere, hence no applied topic. A matching rule (any/all/exact/regex/fuzzy) raises the
topic to at least 0.95. Nothing here comes from any document collection (DESIGN §7).
"""

from __future__ import annotations

import asyncio
import functools
import math
import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from docuvault.classifier import text as textlib
from docuvault.classifier.providers import learned, rules
from docuvault.classifier.providers.base import LOCAL, Topic, Verdict

MODEL = "local-bm25-v1"
#: the model name once the owner's confirmed examples take part
LEARNED_MODEL = "local-bm25-nb-v1"
#: mean confirmed examples per topic at which they weigh as much as the zero-shot score
HALF_WEIGHT_EXAMPLES = 2.0
NAME_WEIGHT, KEYWORD_WEIGHT, DESCRIPTION_WEIGHT, PHRASE_WEIGHT = 3.0, 2.0, 1.0, 2.0
K1, B, AVERAGE_TERMS = 1.2, 0.75, 300.0
#: profiles heavier than this (in weighted terms) are scaled down by the square root of the excess
REFERENCE_MASS = 12.0
#: evidence at which the absolute strength is 0.5
HALF_EVIDENCE = 3.0
RULE_CONFIDENCE = 0.95


@dataclass(frozen=True, slots=True)
class Profile:
    """A topic as a weighted query: stem (or space-joined phrase of stems) → field weight."""

    weights: dict[str, float]

    @property
    def phrase_lengths(self) -> set[int]:
        return {key.count(" ") + 1 for key in self.weights if " " in key}


@functools.lru_cache(maxsize=4096)
def profile(topic: Topic) -> Profile:
    weights: dict[str, float] = {}

    def add(key: str, weight: float) -> None:
        weights[key] = max(weights.get(key, 0.0), weight)

    fields = [(topic.name, NAME_WEIGHT), *((k, KEYWORD_WEIGHT) for k in topic.keywords)]
    for phrase, weight in fields:
        stems = textlib.terms(phrase)
        for stem in stems:
            add(stem, weight)
        if len(stems) > 1:
            add(" ".join(stems), PHRASE_WEIGHT)
    for stem in textlib.terms(topic.description):
        add(stem, DESCRIPTION_WEIGHT)
    return Profile(weights)


def document_counts(stems: list[str], phrase_lengths: Iterable[int]) -> Counter[str]:
    counts = Counter(stems)
    for n in set(phrase_lengths):
        counts.update(" ".join(stems[i : i + n]) for i in range(len(stems) - n + 1))
    return counts


def specificity(profiles: Sequence[Profile]) -> dict[str, float]:
    """IDF of each key over the topic profiles, scaled to (0, 1]: 1 for a key only one has."""
    n = len(profiles)
    df = Counter(key for p in profiles for key in p.weights)
    top = math.log1p(n)
    return {key: math.log1p(n / count) / top for key, count in df.items()}


def evidence(prof: Profile, counts: Counter[str], length: int, idf: dict[str, float]) -> float:
    norm = K1 * (1 - B + B * length / AVERAGE_TERMS)
    total = 0.0
    for key, weight in prof.weights.items():
        tf = counts.get(key, 0)
        if tf:
            total += weight * idf[key] * tf * (K1 + 1) / (tf + norm)
    mass = sum(w * idf[k] for k, w in prof.weights.items())
    return total / math.sqrt(max(mass, REFERENCE_MASS) / REFERENCE_MASS)


def calibrate(scores: dict[uuid.UUID, float]) -> dict[uuid.UUID, float]:
    best = max(scores.values(), default=0.0)
    if best <= 0:
        return dict.fromkeys(scores, 0.0)
    scale = HALF_EVIDENCE / math.log(2)
    return {t: (1 - math.exp(-e / scale)) * (e / best) for t, e in scores.items()}


class LocalProvider:
    """Scores topics in a worker thread so a long text never stalls the event loop."""

    name = LOCAL

    async def classify(
        self,
        text: str,
        topics: Sequence[Topic],
        *,
        system_prompt: str | None,
        examples: learned.Examples | None = None,
    ) -> Verdict:
        # The system prompt is guidance for language models; a text model has no use for it.
        if not topics:
            return Verdict({}, MODEL)
        return await asyncio.to_thread(self.score, text, topics, examples)

    def score(
        self, text: str, topics: Sequence[Topic], examples: learned.Examples | None = None
    ) -> Verdict:
        profiles = [profile(t) for t in topics]
        idf = specificity(profiles)
        stems = textlib.terms(text)
        counts = document_counts(stems, {n for p in profiles for n in p.phrase_lengths})
        raw = {
            t.topic_id: evidence(p, counts, len(stems), idf)
            for t, p in zip(topics, profiles, strict=True)
        }
        confidences = calibrate(raw)
        model = MODEL
        if examples:
            weight = learned_weight(examples, topics)
            singles = {k: n for k, n in counts.items() if " " not in k}
            supervised = learned.posteriors(
                examples, topics, [p.weights for p in profiles], singles
            )
            # one factor for every topic, so it changes no ranking: only how sure the answer is
            fit = (1 - weight) + weight * supervised.fit
            confidences = {
                t: fit * ((1 - weight) * c + weight * supervised.topics.get(t, 0.0))
                for t, c in confidences.items()
            }
            model = LEARNED_MODEL
        for topic in topics:
            if rules.matches(topic.match, text):
                confidences[topic.topic_id] = max(confidences[topic.topic_id], RULE_CONFIDENCE)
        return Verdict({t: round(c, 4) for t, c in confidences.items()}, model)


def learned_weight(examples: learned.Examples, topics: Sequence[Topic]) -> float:
    """How far the examples outweigh the zero-shot score: m / (m + HALF_WEIGHT_EXAMPLES), with
    m the mean number of confirmed examples per topic (one weight for all, so a topic with more
    examples is not favoured by the blend itself)."""
    mean = sum(examples.documents(t.topic_id) for t in topics) / len(topics)
    return mean / (mean + HALF_WEIGHT_EXAMPLES)

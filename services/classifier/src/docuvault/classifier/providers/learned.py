"""The supervised half of the ``local`` provider: multinomial naive Bayes over confirmed examples.

Every confirmed assignment (``document.topics_assigned.v1``) adds the document's stem counts to
each topic it names; an assignment with no topic at all is an example of *none of them* (a class
that is scored but never reported, so a document like those gets no topic). A later assignment
of the same document replaces the earlier one (:meth:`Examples.remove` then :meth:`Examples.add`),
so learning is incremental: nothing waits for a nightly job.

The topic's zero-shot profile (name, keywords, description) is added to its counts as
``PROFILE_MASS`` pseudo-terms, so a topic with few examples still leans on what the owner wrote,
and a topic with none is still a candidate. Scores are the NB posteriors over the owner's topics
(and *none*), with the log-likelihoods divided by ``TEMPERATURE`` per √(document terms): raw NB
posteriors are 0 or 1 for any page of text, which would leave no room for suggestions below
the threshold. Nothing here comes from any document collection: it learns only what the owner
confirms.
"""

from __future__ import annotations

import math
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

from docuvault.classifier.providers.base import Topic

#: the class of documents confirmed with no topic (never reported as a topic)
NONE: Final = uuid.UUID(int=0)
BACKGROUND: Final = uuid.UUID(int=1)
#: pseudo-terms the topic's own profile is worth, spread by its field weights
PROFILE_MASS: Final = 30.0
#: additive (Lidstone) smoothing of every term's count
ALPHA: Final = 0.1
#: log-likelihoods are divided by TEMPERATURE · √terms before the softmax
TEMPERATURE: Final = 0.35


@dataclass
class TopicCounts:
    terms: Counter[str] = field(default_factory=Counter)
    total: int = 0
    documents: int = 0


@dataclass
class Examples:
    """An owner's confirmed examples, aggregated: stem counts per topic (and for *none*)."""

    topics: dict[uuid.UUID, TopicCounts] = field(default_factory=dict)
    vocabulary: Counter[str] = field(default_factory=Counter)  # documents per stem
    #: every example once, whatever its topics: the background a topic must beat
    pooled: TopicCounts = field(default_factory=TopicCounts)

    def add(self, counts: Mapping[str, int], topic_ids: Iterable[uuid.UUID]) -> None:
        self._apply(counts, topic_ids, +1)

    def remove(self, counts: Mapping[str, int], topic_ids: Iterable[uuid.UUID]) -> None:
        self._apply(counts, topic_ids, -1)

    def documents(self, topic_id: uuid.UUID) -> int:
        found = self.topics.get(topic_id)
        return found.documents if found else 0

    def __bool__(self) -> bool:
        return any(c.documents for c in self.topics.values())

    def _apply(self, counts: Mapping[str, int], topic_ids: Iterable[uuid.UUID], sign: int) -> None:
        labels = list(dict.fromkeys(topic_ids)) or [NONE]
        for topic_id in labels:
            stats = self.topics.setdefault(topic_id, TopicCounts())
            for term, n in counts.items():
                stats.terms[term] += sign * n
                if stats.terms[term] <= 0:
                    del stats.terms[term]
            stats.total += sign * sum(counts.values())
            stats.documents += sign
            if stats.documents <= 0:
                del self.topics[topic_id]
        for term, n in counts.items():
            self.vocabulary[term] += sign
            if self.vocabulary[term] <= 0:
                del self.vocabulary[term]
            self.pooled.terms[term] += sign * n
            if self.pooled.terms[term] <= 0:
                del self.pooled.terms[term]
        self.pooled.total += sign * sum(counts.values())
        self.pooled.documents += sign


@dataclass(frozen=True, slots=True)
class Posteriors:
    """``topics``: P(topic | document) among the owner's topics (and *none*, left out).

    ``fit``: 1 - P(background | document) when every example, pooled, competes as one more
    class. A document of one of the topics is likelier under that topic's sharper counts than
    under the pool; a document of none of them is likelier under the broad pool, so ``fit``
    falls and the confidences with it (the posteriors among topics would still sum to 1).
    """

    topics: dict[uuid.UUID, float]
    fit: float


def posteriors(
    examples: Examples,
    topics: Sequence[Topic],
    profiles: Sequence[Mapping[str, float]],
    counts: Mapping[str, int],
) -> Posteriors:
    """P(topic | document) over the owner's topics and *none* (*none* left out of the result),
    and how well the document fits them at all (see :class:`Posteriors`)."""
    classes = [t.topic_id for t in topics]
    pseudo = [_pseudo(p) for p in profiles]
    if examples.documents(NONE):
        classes.append(NONE)
        pseudo.append({})
    # built like a topic: from every example, plus the mean of the topics' profiles (so the
    # profile pseudo-terms, which dilute a topic with few examples, dilute the pool as much)
    classes.append(BACKGROUND)
    mean_profile: Counter[str] = Counter()
    for extra in pseudo[: len(topics)]:
        mean_profile.update({k: v / len(topics) for k, v in extra.items()})
    pseudo.append(dict(mean_profile))
    # the vocabulary: the examples' stems and the profiles' (few) others, never built as a set
    # per call (it grows with every example; this runs for every document)
    beyond = set().union(*pseudo).difference(examples.vocabulary)
    size = max(len(examples.vocabulary) + len(beyond), 1)
    known = {t: n for t, n in counts.items() if t in examples.vocabulary or t in beyond}
    length = sum(known.values())
    if not length:
        return Posteriors({}, 0.0)
    scores = []
    for class_id, extra in zip(classes, pseudo, strict=True):
        stats = (
            examples.pooled
            if class_id == BACKGROUND
            else examples.topics.get(class_id, TopicCounts())
        )
        denominator = math.log(stats.total + sum(extra.values()) + ALPHA * size)
        log_likelihood = sum(
            n * (math.log(stats.terms.get(term, 0) + extra.get(term, 0.0) + ALPHA) - denominator)
            for term, n in known.items()
        )
        scores.append(log_likelihood / (TEMPERATURE * math.sqrt(length)))
    return Posteriors(
        _softmax(classes[:-1], scores[:-1]), 1.0 - _softmax(classes, scores)[BACKGROUND]
    )


def _softmax(classes: list[uuid.UUID], scores: list[float]) -> dict[uuid.UUID, float]:
    top = max(scores)
    weights = [math.exp(s - top) for s in scores]
    total = sum(weights)
    return {c: w / total for c, w in zip(classes, weights, strict=True)}


def _pseudo(profile: Mapping[str, float]) -> dict[str, float]:
    """The profile's single stems as pseudo-counts worth PROFILE_MASS in all (phrases dropped)."""
    singles = {k: w for k, w in profile.items() if " " not in k}
    mass = sum(singles.values())
    return {k: PROFILE_MASS * w / mass for k, w in singles.items()} if mass else {}

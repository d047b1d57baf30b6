"""Order independence of the read model: any order, with duplicates, gives the same document."""

import itertools
import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from docuvault.catalog import domain
from docuvault.contracts import CloudEvent
from docuvault.contracts.events import (
    CatalogRebuildMarker,
    ClassificationFailed,
    ClassificationRequested,
    Classified,
    DocumentDeleted,
    DocumentUploaded,
    ExtractionFailed,
    ReprocessRequested,
    TextExtracted,
    TopicsAssigned,
    TopicScore,
)
from docuvault.runtime.events import fresh

DOC, OWNER, TOPIC = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
SHA = "a" * 64


def _ids(**extra: Any) -> dict[str, Any]:
    return {"document_id": DOC, "owner_id": OWNER, "generation": 1, **extra}


def uploaded() -> CloudEvent[Any]:
    return fresh(
        DocumentUploaded(
            **_ids(
                filename="a.pdf",
                content_type="application/pdf",
                size_bytes=10,
                sha256=SHA,
                object_key="k",
            )
        ),
        source="ingest",
    )


def extracted(generation: int = 1, pages: int = 2) -> CloudEvent[Any]:
    return fresh(
        TextExtracted(
            **_ids(
                generation=generation,
                page_count=pages,
                char_count=5,
                text_object_key="t",
                pages_object_key="p",
                text_sha256=SHA,
                text_preview="hello",
                extractor_version="1",
            )
        ),
        source="extractor",
    )


def classified(generation: int = 1, confidence: float = 0.9) -> CloudEvent[Any]:
    return fresh(
        Classified(
            **_ids(
                generation=generation,
                topics=[TopicScore(topic_id=TOPIC, name="Tax", confidence=confidence)],
                provider="local",
                model="m",
                text_sha256=SHA,
            )
        ),
        source="classifier",
    )


def _fold(events: list[CloudEvent[Any]]) -> domain.Document:
    doc = domain.new_document(events[0])
    for event in events:
        doc = domain.apply(doc, event)
    return doc


def test_every_order_gives_the_same_document() -> None:
    events = [uploaded(), extracted(), classified()]
    results = [_fold(list(order)) for order in itertools.permutations(events)]
    assert all(r == results[0] for r in results)
    doc = results[0]
    assert doc.status == "classified"
    assert doc.uploaded is not None
    assert doc.topic_ids == (TOPIC,)


def test_duplicates_change_nothing() -> None:
    events = [uploaded(), extracted(), classified()]
    noisy = events * 3
    random.Random(7).shuffle(noisy)
    assert _fold(noisy) == _fold(events)


def test_an_older_generation_never_overwrites_a_newer_one() -> None:
    newer, older = extracted(generation=2, pages=7), extracted(generation=1, pages=1)
    doc = _fold([uploaded(), newer, older])
    assert doc.text is not None
    assert doc.text.page_count == 7
    assert doc.generation == 2


def test_status_follows_the_latest_stage_results() -> None:
    assert _fold([uploaded()]).status == "received"
    assert _fold([uploaded(), extracted()]).status == "extracted"
    failed = fresh(
        ExtractionFailed(**_ids(reason="encrypted", detail="needs a password")), source="extractor"
    )
    doc = _fold([uploaded(), failed])
    assert doc.status == "extraction_failed"
    assert doc.failure == domain.Failure("extract", "encrypted", "needs a password")
    cls_failed = fresh(
        ClassificationFailed(**_ids(reason="no_text", detail="empty", provider="local")),
        source="classifier",
    )
    assert _fold([uploaded(), extracted(), cls_failed]).status == "classification_failed"
    # a re-extraction (generation 2) makes the old classification stale
    assert _fold([uploaded(), extracted(), classified(), extracted(2)]).status == "extracted"


def test_a_missing_text_is_explained_by_the_stage_it_waits_for() -> None:
    assert "not extracted yet (status received)" in _fold([uploaded()]).missing_text
    failed = fresh(
        ExtractionFailed(**_ids(reason="encrypted", detail="needs a password")), source="extractor"
    )
    assert "could not be extracted (encrypted: needs a password)" in (
        _fold([uploaded(), failed]).missing_text
    )
    early = _fold([uploaded(), classified()])  # the text's projection still being retried
    assert early.text is None
    assert early.status == "classified"
    assert "has not reached the catalog yet (status classified)" in early.missing_text


def test_a_deleted_document_ignores_later_events() -> None:
    from dataclasses import replace

    doc = replace(_fold([uploaded()]), deleted_at=uploaded().time)
    assert domain.apply(doc, extracted()) == doc


def test_manual_topics_win_over_the_classifier() -> None:
    from dataclasses import replace

    mine = uuid.uuid4()
    doc = replace(_fold([uploaded(), extracted(), classified()]), manual_topic_ids=(mine,))
    assert doc.topic_ids == (mine,)
    assert domain.apply(doc, classified(confidence=0.99)).topic_ids == (mine,)


# --- every event type, in any order (issue 4: a rebuild replays them all) -----------------------
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def at(event: CloudEvent[Any], seconds: float) -> CloudEvent[Any]:
    """The event as if it had happened ``seconds`` after T0 (the time decides ties)."""
    return event.model_copy(update={"time": T0 + timedelta(seconds=seconds)})


def assigned(version: int, *topics: uuid.UUID, generation: int = 1) -> CloudEvent[Any]:
    return fresh(
        TopicsAssigned(
            **_ids(generation=generation), topic_ids=list(topics), assigned_by="me", version=version
        ),
        source="catalog",
    )


def deleted(generation: int = 1) -> CloudEvent[Any]:
    return fresh(DocumentDeleted(**_ids(generation=generation)), source="catalog")


def reclassify(generation: int) -> CloudEvent[Any]:
    return fresh(
        ClassificationRequested(
            **_ids(generation=generation), text_object_key="t", text_sha256=SHA
        ),
        source="catalog",
    )


def reprocess(generation: int) -> CloudEvent[Any]:
    return fresh(
        ReprocessRequested(
            **_ids(generation=generation),
            stage="extract",
            object_key="k",
            content_type="application/pdf",
        ),
        source="catalog",
    )


def classified_as(generation: int, *topics: uuid.UUID) -> CloudEvent[Any]:
    return fresh(
        Classified(
            **_ids(generation=generation),
            topics=[TopicScore(topic_id=t, name="n", confidence=0.9) for t in topics],
            suggestions=[TopicScore(topic_id=t, name="n", confidence=0.2) for t in topics],
            provider="local",
            model="m",
            text_sha256=SHA,
        ),
        source="classifier",
    )


def _life() -> list[CloudEvent[Any]]:
    """A document's life: upload, extraction, classification, a manual assignment, a reclassify
    (generation 2) with its result, a re-extraction (generation 3) and a later assignment."""
    mine, other = uuid.uuid4(), uuid.uuid4()
    return [
        at(uploaded(), 0),
        at(extracted(1), 1),
        at(classified(1), 2),
        at(assigned(1, mine), 3),
        at(reclassify(2), 4),
        at(classified_as(2, other), 5),
        at(reprocess(3), 6),
        at(extracted(3, pages=9), 7),
        at(assigned(2, other, mine), 8),
    ]


def test_every_event_type_in_any_order_with_duplicates_gives_one_document() -> None:
    events = _life()
    expected = _fold(events)
    assert expected.generation == 3
    assert expected.status == "extracted"  # generation 3's classification has not come yet
    assert expected.text is not None
    assert expected.text.page_count == 9
    assert expected.manual_version == 2
    assert expected.topic_ids == tuple(events[-1].data.topic_ids)
    assert expected.updated_at == T0 + timedelta(seconds=8)
    assert expected.uploaded_at == T0
    rng = random.Random(4)
    for _ in range(300):
        noisy = events + rng.sample(events, 4)
        rng.shuffle(noisy)
        assert _fold(noisy) == expected


def test_a_lower_manual_version_never_replaces_a_higher_one() -> None:
    first, second = uuid.uuid4(), uuid.uuid4()
    v1, v2 = at(assigned(1, first), 5), at(assigned(2, second), 6)
    for order in ([v1, v2], [v2, v1]):
        doc = _fold([at(uploaded(), 0), at(classified(), 1), *order])
        assert doc.manual_topic_ids == (second,)
        assert doc.manual_version == 2
        assert doc.topic_ids == (second,)  # manual topics win over the classifier's


def test_manual_topics_win_whenever_the_classification_arrives() -> None:
    mine = uuid.uuid4()
    events = [at(uploaded(), 0), at(extracted(), 1), at(assigned(1, mine), 2)]
    late = at(classified_as(1, TOPIC), 3)
    for position in range(len(events) + 1):
        doc = _fold([*events[:position], late, *events[position:]])
        assert doc.topic_ids == (mine,)
        assert [t.topic_id for t in doc.classifier_topics] == [TOPIC]  # kept apart


def test_the_tombstone_is_the_same_wherever_the_deletion_falls() -> None:
    events = _life()
    gone = at(deleted(generation=3), 20)
    tombstones = {
        _fold([*events[:position], gone, *events[position:]]) for position in range(len(events) + 1)
    }
    assert len(tombstones) == 1
    (tomb,) = tombstones
    assert tomb.deleted
    assert tomb.deleted_at == tomb.updated_at == gone.time
    assert tomb.generation == 3
    assert tomb.uploaded is None
    assert tomb.text is None
    assert tomb.topic_ids == ()
    # later events, duplicates and a second deletion change nothing
    for event in [*events, gone, at(deleted(generation=4), 30)]:
        assert domain.apply(tomb, event) == tomb


def test_two_results_of_one_generation_give_the_later_one_in_either_order() -> None:
    ok = at(extracted(1), 5)
    failed = at(
        fresh(ExtractionFailed(**_ids(reason="timeout", detail="slow")), source="extractor"), 4
    )
    for order in ([ok, failed], [failed, ok]):
        doc = _fold([at(uploaded(), 0), *order])
        assert doc.status == "extracted"
        assert doc.extract_time == ok.time
    cls_failed = at(
        fresh(
            ClassificationFailed(**_ids(reason="internal", detail="x", provider="local")),
            source="classifier",
        ),
        9,
    )
    for order in ([at(classified(), 8), cls_failed], [cls_failed, at(classified(), 8)]):
        assert _fold([at(uploaded(), 0), ok, *order]).status == "classification_failed"


def test_requests_raise_the_generation_only() -> None:
    base = _fold([at(uploaded(), 0), at(extracted(), 1), at(classified(), 2)])
    for request in (at(reclassify(2), 3), at(reprocess(2), 3)):
        doc = domain.apply(base, request)
        assert doc.generation == 2
        assert doc.status == "classified"
        assert doc.updated_at == request.time
        assert doc.text == base.text
        assert doc.classifier_topics == base.classifier_topics


def test_a_deleted_topic_is_gone_whether_it_was_deleted_before_or_after() -> None:
    gone, kept, mine = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    events = [
        at(uploaded(), 0),
        at(extracted(), 1),
        at(classified_as(1, gone, kept), 2),
        at(assigned(1, gone, mine), 3),
    ]
    after = domain.forget_topic(_fold(events), gone)
    before = domain.new_document(events[0])
    for event in events:
        before = domain.apply(before, event, deleted_topics=frozenset({gone}))
    assert after == before
    assert after.topic_ids == (mine,)
    assert [t.topic_id for t in after.classifier_topics] == [kept]
    assert [t.topic_id for t in after.suggestions] == [kept]
    assert after.updated_at == T0 + timedelta(seconds=3)  # the document's own latest event


def test_only_classifications_and_assignments_name_topics() -> None:
    marker = fresh(CatalogRebuildMarker(rebuild_id=uuid.uuid4()), source="catalog")
    assert domain.topics_named(marker.data) == frozenset()
    assert domain.topics_named(classified_as(1, TOPIC).data) == frozenset({TOPIC})
    assert domain.topics_named(assigned(1, TOPIC).data) == frozenset({TOPIC})
    assert domain.topics_named(extracted().data) == frozenset()


def test_a_failed_reclassification_keeps_the_last_topics_in_any_order() -> None:
    failed = at(
        fresh(
            ClassificationFailed(
                **_ids(generation=3), reason="provider_unavailable", detail="x", provider="p"
            ),
            source="classifier",
        ),
        9,
    )
    events = [at(uploaded(), 0), at(extracted(), 1), at(classified_as(2, TOPIC), 5), failed]
    for order in itertools.permutations(events):
        doc = _fold(list(order))
        assert doc.status == "classification_failed"
        assert doc.topic_ids == (TOPIC,)  # from generation 2, the latest that succeeded
        assert doc.topics_generation == 2
        assert doc.failure == domain.Failure("classify", "provider_unavailable", "x")

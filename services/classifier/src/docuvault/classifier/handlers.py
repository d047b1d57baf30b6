"""The classifier's event handlers: plain functions; their collaborators are keyword arguments."""

from __future__ import annotations

import hashlib
import logging
import time
from collections import Counter
from collections.abc import Mapping
from typing import Any

from prometheus_client import Counter as Counting
from prometheus_client import Histogram

from docuvault.classifier import domain
from docuvault.classifier import text as textlib
from docuvault.classifier.cache import classify_cached
from docuvault.classifier.domain import Policy
from docuvault.classifier.providers.base import (
    LOCAL,
    ClassificationError,
    Provider,
    Topic,
    Verdict,
    validated,
)
from docuvault.classifier.replica import Replica, View
from docuvault.classifier.text import has_words, smart_cut
from docuvault.contracts import CloudEvent
from docuvault.contracts.events import (
    ClassificationFailed,
    ClassificationRequested,
    ClassificationSettingsChanged,
    Classified,
    DocumentEvent,
    ReprocessRequested,
    TextExtracted,
    TopicDeleted,
    TopicsAssigned,
    TopicUpserted,
)
from docuvault.runtime.blobstore import BlobNotFound, BlobStore
from docuvault.runtime.bus import Publish
from docuvault.runtime.events import follow_up

log = logging.getLogger("docuvault.classifier")
SOURCE = "classifier"

classifications = Counting(
    "docuvault_classifications_total", "Classification outcomes", ["provider", "outcome"]
)
answers_cached = Counting(
    "docuvault_classifier_cached_answers_total", "LLM answers served from the cache", ["provider"]
)
classification_seconds = Histogram(
    "docuvault_classification_seconds", "Time a provider took for one document", ["provider"]
)

Providers = Mapping[str, Provider]


async def on_text_extracted(
    event: CloudEvent[TextExtracted],
    *,
    blobs: BlobStore,
    replica: Replica,
    providers: Providers,
    policy: Policy,
    publish: Publish,
) -> None:
    """Classify freshly extracted text, unless the upload asked not to."""
    data = event.data
    if not data.auto_classify:
        log.info("auto-classification is off for this document")
        return
    await _classify(
        event,
        data.text_object_key,
        data.text_sha256,
        None,
        blobs=blobs,
        replica=replica,
        providers=providers,
        policy=policy,
        publish=publish,
    )


async def on_classification_requested(
    event: CloudEvent[ClassificationRequested],
    *,
    blobs: BlobStore,
    replica: Replica,
    providers: Providers,
    policy: Policy,
    publish: Publish,
) -> None:
    data = event.data
    await _classify(
        event,
        data.text_object_key,
        data.text_sha256,
        data.provider,
        blobs=blobs,
        replica=replica,
        providers=providers,
        policy=policy,
        publish=publish,
    )


async def on_reprocess_requested(
    event: CloudEvent[ReprocessRequested],
    *,
    blobs: BlobStore,
    replica: Replica,
    providers: Providers,
    policy: Policy,
    publish: Publish,
) -> None:
    """Stage ``classify`` only (the extractor acts on ``extract``)."""
    data = event.data
    if data.stage != "classify":
        return
    await _classify(
        event,
        data.text_object_key,
        None,
        None,
        blobs=blobs,
        replica=replica,
        providers=providers,
        policy=policy,
        publish=publish,
    )


async def on_topics_assigned(
    event: CloudEvent[TopicsAssigned], *, replica: Replica, blobs: BlobStore
) -> None:
    """Keep the confirmed labels (by version) with the text's stem counts, for the learner."""
    data = event.data
    terms: Counter[str] = Counter()
    try:
        text, _ = await _read_text(blobs, data.text_object_key)
        terms = Counter(textlib.terms(text))
    except ClassificationError as exc:
        log.info("confirmed topics kept without learning from them: %s", exc.detail)
    if not await replica.record_label(data, terms):
        log.info("topics_assigned version %d is not newer; ignored", data.version)


async def on_topic_changed(
    event: CloudEvent[TopicUpserted] | CloudEvent[TopicDeleted], *, replica: Replica
) -> None:
    if not await replica.apply_topic(event.data):
        log.info("%s version %d is not newer; ignored", event.type, event.data.version)


async def on_settings_changed(
    event: CloudEvent[ClassificationSettingsChanged], *, replica: Replica
) -> None:
    if not await replica.apply_settings(event.data):
        log.info("settings version %d is not newer; ignored", event.data.version)


async def _classify(
    event: CloudEvent[Any],
    text_key: str | None,
    text_sha256: str | None,
    override: str | None,
    *,
    blobs: BlobStore,
    replica: Replica,
    providers: Providers,
    policy: Policy,
    publish: Publish,
) -> None:
    data: DocumentEvent = event.data
    view = await replica.view(data.owner_id)  # topics and settings as of now
    choice = domain.choose(policy, view.settings, override)
    outcome: Classified | ClassificationFailed
    try:
        provider = _provider(choice.provider, providers, policy)
        text, actual_sha256 = await _read_text(blobs, text_key)
        if text_sha256 is not None and text_sha256 != actual_sha256:
            log.warning("the stored text differs from the one announced (re-extracted since?)")
        topics = list(view.topics)
        started = time.perf_counter()
        verdict = await _ask(
            provider, smart_cut(text, policy.max_chars), topics, choice, data, blobs, replica, view
        )
        classification_seconds.labels(provider.name).observe(time.perf_counter() - started)
    except ClassificationError as exc:
        classifications.labels(choice.provider, exc.reason).inc()
        log.info("classification failed: %s: %s", exc.reason, exc.detail)
        outcome = ClassificationFailed(
            document_id=data.document_id,
            owner_id=data.owner_id,
            generation=data.generation,
            reason=exc.reason,
            detail=exc.detail,
            provider=choice.provider,
        )
    else:
        verdict = validated(verdict, topics)
        decided = domain.split(verdict.confidences, topics, choice.apply_threshold)
        classifications.labels(provider.name, "classified").inc()
        log.info(
            "classified: %d applied, %d suggested", len(decided.applied), len(decided.suggestions)
        )
        outcome = Classified(
            document_id=data.document_id,
            owner_id=data.owner_id,
            generation=data.generation,
            topics=decided.applied,
            suggestions=decided.suggestions,
            suggested_new_topics=list(verdict.suggested_new_topics),
            provider=provider.name,
            model=verdict.model,
            text_sha256=text_sha256 or actual_sha256,
        )
    await publish(follow_up(outcome, cause=event, source=SOURCE))


async def _ask(
    provider: Provider,
    text: str,
    topics: list[Topic],
    choice: domain.Choice,
    data: DocumentEvent,
    blobs: BlobStore,
    replica: Replica,
    view: View,
) -> Verdict:
    """The local provider with the owner's examples; an LLM through the answer cache."""
    if provider.name == LOCAL:
        # only it learns from confirmations (an LLM is told the topics; it needs no examples)
        examples = await replica.examples(data.owner_id, view)
        return await provider.classify(
            text, topics, system_prompt=choice.system_prompt, examples=examples
        )
    model = getattr(provider, "model", None)
    if not isinstance(model, str):  # a provider that names no model cannot be cached safely
        return await provider.classify(text, topics, system_prompt=choice.system_prompt)
    verdict, cached = await classify_cached(
        blobs, data.owner_id, provider, model, text, topics, choice.system_prompt
    )
    if cached:
        answers_cached.labels(provider.name).inc()
    return verdict


def _provider(name: str, providers: Providers, policy: Policy) -> Provider:
    if name not in policy.enabled:
        enabled = ", ".join(sorted(policy.enabled))
        raise ClassificationError(
            "provider_not_enabled",
            f"provider {name!r} is not enabled on this deployment (enabled: {enabled}); "
            "choose one of them in the classification settings",
        )
    provider = providers.get(name)
    if provider is None:
        raise ClassificationError(
            "provider_unavailable",
            f"provider {name!r} is not available in this version of the classifier",
        )
    return provider


async def _read_text(blobs: BlobStore, key: str | None) -> tuple[str, str]:
    """The document's text and the SHA-256 of its bytes; ``no_text`` when there is none."""
    if key is None:
        raise ClassificationError("no_text", "the document has no extracted text to classify")
    try:
        raw = await blobs.get(key)
    except BlobNotFound as exc:
        raise ClassificationError(
            "no_text", "the extracted text is no longer in the object store"
        ) from exc
    text = raw.decode("utf-8", errors="replace")
    if not has_words(text):
        raise ClassificationError("no_text", "the extracted text is empty (no letter or digit)")
    return text, hashlib.sha256(raw).hexdigest()

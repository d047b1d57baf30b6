"""The only place that builds the classifier's real adapters and wires them to handlers."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

from docuvault.classifier import handlers, providers
from docuvault.classifier.config import ClassifierSettings
from docuvault.classifier.domain import Policy
from docuvault.classifier.replica import Replica
from docuvault.contracts.events import (
    ClassificationRequested,
    ClassificationSettingsChanged,
    ReprocessRequested,
    TextExtracted,
    TopicDeleted,
    TopicsAssigned,
    TopicUpserted,
)
from docuvault.runtime.blobstore import open_blobstore
from docuvault.runtime.bus import Broker, Handler, Subscriptions
from docuvault.runtime.bus.group import ConsumerGroup
from docuvault.runtime.health import ReadinessChecks

SERVICE = "classifier"
#: a document handler before its ports are bound (see handlers.on_text_extracted)
DocumentHandler = Callable[..., Awaitable[None]]


@dataclass(frozen=True)
class Classifier:
    settings: ClassifierSettings
    replica: Replica
    checks: ReadinessChecks


def policy_of(settings: ClassifierSettings) -> Policy:
    return Policy(
        enabled=settings.enabled_providers,
        default_provider=settings.classifier_provider,
        apply_threshold=settings.apply_threshold,
        max_chars=settings.classifier_max_chars,
    )


@asynccontextmanager
async def running(settings: ClassifierSettings) -> AsyncIterator[Classifier]:
    async with AsyncExitStack() as stack:
        blobs = await stack.enter_async_context(open_blobstore(settings))
        broker = Broker.from_settings(settings, SERVICE)
        broker.start()
        stack.push_async_callback(broker.close)
        replica = Replica(blobs)
        ports = providers.build(settings)
        for port in ports.values():
            close = getattr(port, "close", None)  # the LLM clients hold connection pools
            if close is not None:
                stack.push_async_callback(close)
        policy = policy_of(settings)

        def classifying(handler: DocumentHandler) -> Handler:
            return functools.partial(
                handler,
                blobs=blobs,
                replica=replica,
                providers=ports,
                policy=policy,
                publish=broker.publish,
            )

        documents: Subscriptions = {
            TextExtracted.event_name: classifying(handlers.on_text_extracted),
            ClassificationRequested.event_name: classifying(handlers.on_classification_requested),
            ReprocessRequested.event_name: classifying(handlers.on_reprocess_requested),
            TopicsAssigned.event_name: functools.partial(
                handlers.on_topics_assigned, replica=replica, blobs=blobs
            ),
        }
        topics: Subscriptions = {
            TopicUpserted.event_name: functools.partial(handlers.on_topic_changed, replica=replica),
            TopicDeleted.event_name: functools.partial(handlers.on_topic_changed, replica=replica),
            ClassificationSettingsChanged.event_name: functools.partial(
                handlers.on_settings_changed, replica=replica
            ),
        }
        subscriptions = {"classifier.documents": documents, "classifier.topics": topics}
        consumers = ConsumerGroup(broker, subscriptions, prefetch=settings.prefetch)
        consumers.start()
        stack.push_async_callback(consumers.stop)
        checks = {"s3": blobs.check, "rabbitmq": broker.check}
        yield Classifier(settings, replica, checks)

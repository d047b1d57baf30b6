"""Answers of the LLM providers, cached in the object store so no text is paid for twice.

Key: SHA-256 over the text as sent (after the character budget's cut), the topic set as the
model sees it (ids, names, descriptions, keywords), the provider, the model and the system
prompt; stored as ``{owner_id}/classifier/cache/{digest}.json``. Any change to one of them (a
topic renamed or added, another model, a new prompt) is a new key, so a cached answer is
never stale; an unchanged document classified again (reprocess, a classification request,
another upload of the same text) costs no request. Only verdicts are stored (topic ids,
confidences, suggested names), never the text. Failures are not cached. The ``local``
provider is not cached: it is cheap and learns from every confirmation, so its answer changes.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections.abc import Sequence

from pydantic import BaseModel, ValidationError

from docuvault.classifier.providers.base import Provider, Topic, Verdict
from docuvault.runtime.blobstore import BlobNotFound, BlobStore, BlobStoreError

log = logging.getLogger("docuvault.classifier")


class _Cached(BaseModel):
    confidences: dict[uuid.UUID, float]
    model: str
    suggested_new_topics: tuple[str, ...] = ()


def cache_key(
    owner_id: uuid.UUID,
    text: str,
    topics: Sequence[Topic],
    provider: str,
    model: str,
    system_prompt: str | None,
) -> str:
    seen = [[str(t.topic_id), t.name, t.description, list(t.keywords)] for t in topics]
    material = json.dumps(
        [hashlib.sha256(text.encode()).hexdigest(), seen, provider, model, system_prompt],
        ensure_ascii=False,
    )
    return f"{owner_id}/classifier/cache/{hashlib.sha256(material.encode()).hexdigest()}.json"


async def classify_cached(
    blobs: BlobStore,
    owner_id: uuid.UUID,
    provider: Provider,
    model: str,
    text: str,
    topics: Sequence[Topic],
    system_prompt: str | None,
) -> tuple[Verdict, bool]:
    """The provider's verdict, from the cache when this exact question was asked before;
    and whether it came from the cache."""
    key = cache_key(owner_id, text, topics, provider.name, model, system_prompt)
    try:
        held = _Cached.model_validate_json(await blobs.get(key))
        return Verdict(held.confidences, held.model, held.suggested_new_topics), True
    except BlobNotFound:
        pass
    except (ValidationError, BlobStoreError) as exc:  # a bad entry is asked again, not fatal
        log.warning("cached answer unreadable, asking the provider again: %s", exc)
    verdict = await provider.classify(text, topics, system_prompt=system_prompt)
    entry = _Cached(
        confidences=dict(verdict.confidences),
        model=verdict.model,
        suggested_new_topics=verdict.suggested_new_topics,
    )
    try:
        await blobs.put(key, entry.model_dump_json().encode(), content_type="application/json")
    except BlobStoreError as exc:  # the answer is good; only the saving is lost
        log.warning("could not cache the answer: %s", exc)
    return verdict, False

"""Each owner's confirmed examples, aggregated in memory from the label objects in the store.

State: the label objects ``{owner_id}/classifier/labels/{document_id}/v{version}.json`` (see
:mod:`replica`) carry the document's stem counts next to its confirmed topic ids, so the store
holds everything the learner needs: a restarted worker, or another replica, rebuilds the same
model from it, and no model object is ever rewritten by competing replicas. In memory, each
owner's :class:`Examples` is kept up to date *incrementally*: a sync lists the owner's labels
and only adds the documents whose newest label object it has not counted yet, removing what
their previous label had added (a relabelled document moves, it is not counted twice). A sync
runs when the owner's replica stamp changes (every confirmation rewrites it) or after
``SYNC_TTL_S``, so one confirmation is used by the very next classification.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

from pydantic import ValidationError

from docuvault.classifier.providers.learned import Examples
from docuvault.runtime.blobstore import BlobNotFound, BlobStore

log = logging.getLogger("docuvault.classifier")
_LABEL = re.compile(r"/labels/([0-9a-f-]{36})/v(\d{12})\.json$")
SYNC_TTL_S = 30.0


@dataclass
class _Counted:
    key: str
    terms: Counter[str]
    topic_ids: tuple[uuid.UUID, ...]


@dataclass
class _Owner:
    examples: Examples = field(default_factory=Examples)
    counted: dict[str, _Counted] = field(default_factory=dict)  # document id -> what it added
    token: str | None = None
    synced_at: float = float("-inf")
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class Learning:
    def __init__(self, blobs: BlobStore) -> None:
        self._blobs = blobs
        self._owners: dict[uuid.UUID, _Owner] = {}

    async def examples(self, owner_id: uuid.UUID, token: str | None) -> Examples:
        """The owner's examples as of the stamp ``token`` (re-synced when it changed)."""
        owner = self._owners.setdefault(owner_id, _Owner())
        async with owner.lock:
            fresh = time.monotonic() - owner.synced_at < SYNC_TTL_S
            if owner.token != token or not fresh or token is None:
                started = time.monotonic()
                await self._sync(owner_id, owner)
                owner.token, owner.synced_at = token, started
        return owner.examples

    async def _sync(self, owner_id: uuid.UUID, owner: _Owner) -> None:
        from docuvault.classifier.replica import LabelRecord  # replica imports this module

        newest: dict[str, tuple[int, str]] = {}
        for info in await self._blobs.list(f"{owner_id}/classifier/labels/"):
            match = _LABEL.search(info.key)
            if match and int(match.group(2)) > newest.get(match.group(1), (0, ""))[0]:
                newest[match.group(1)] = (int(match.group(2)), info.key)
        for document, counted in list(owner.counted.items()):
            if document not in newest:  # its labels are gone (the document was deleted)
                owner.examples.remove(counted.terms, counted.topic_ids)
                del owner.counted[document]
        for document, (_, key) in newest.items():
            previous = owner.counted.get(document)
            if previous is not None and previous.key == key:
                continue
            try:
                record = LabelRecord.model_validate_json(await self._blobs.get(key))
            except BlobNotFound:  # superseded meanwhile: the next sync counts the newer one
                continue
            except ValidationError as exc:
                log.error("unreadable label object %s ignored: %s", key, exc)
                continue
            if previous is not None:
                owner.examples.remove(previous.terms, previous.topic_ids)
                del owner.counted[document]
            if record.terms:  # a label whose text could not be read teaches nothing
                terms = Counter(record.terms)
                owner.examples.add(terms, record.topic_ids)
                owner.counted[document] = _Counted(key, terms, record.topic_ids)

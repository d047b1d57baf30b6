"""The classifier's replica of topics, settings and confirmed labels, kept in the object store.

Every change is written as its own immutable object whose key holds the version stamped by the
catalog, e.g. ``{owner_id}/classifier/topics/{topic_id}/v000000000003.json``; a reader lists the
prefix and takes the highest version. So competing replicas never overwrite each other's newer
state (there is no read-modify-write to race), a late or repeated event is a no-op, a deletion
is a tombstone version that an older upsert cannot outrank, and a new replica with no local
state sees everything. Superseded versions are removed after a newer one is written. Because
an object never changes once written, the parsed content is cached by key.

An owner's topics and settings (the *view* every classification needs) are cached too, under
the owner's **stamp**: ``{owner_id}/classifier/replica.stamp``, an object every topic or
settings write rewrites with a fresh random token *after* its versioned object is stored (the
stamp's whole content: one small GET reads it). A classification reads
the stamp (one small GET) and uses the cached view only when its token is the one the view was read
under, and lists and reads again otherwise. The token is read before the listing, so any write
finished before a classification starts — by this replica or any other — is seen by it: a
topic created before a document's text is classified is applied to it. A redelivered write
rewrites the stamp (its first attempt may have stopped before that), and a view is re-listed at
least every ``VIEW_TTL_S`` whatever the stamp says (writers of an older version do not stamp).
"""

from __future__ import annotations

import logging
import re
import secrets
import time
import uuid
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from docuvault.classifier.domain import OwnerSettings
from docuvault.classifier.learning import Learning
from docuvault.classifier.providers.base import Topic
from docuvault.classifier.providers.learned import Examples
from docuvault.contracts.events import (
    ClassificationSettingsChanged,
    TopicDeleted,
    TopicMatch,
    TopicsAssigned,
    TopicUpserted,
)
from docuvault.runtime.blobstore import BlobNotFound, BlobStore

log = logging.getLogger("docuvault.classifier")
_VERSION = re.compile(r"/v(\d{12})\.json$")
_READ_ATTEMPTS = 3
R = TypeVar("R", bound=BaseModel)
STAMP = "replica.stamp"
_STAMP_TYPE = "application/vnd.docuvault.replica-stamp"
#: a cached view is listed again after this long even if the stamp has not changed
VIEW_TTL_S = 30.0


class _Record(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    version: int = Field(ge=1)


class TopicRecord(_Record):
    topic_id: uuid.UUID
    deleted: bool = False
    name: str = ""
    description: str = ""
    keywords: tuple[str, ...] = ()
    match: TopicMatch = Field(default_factory=TopicMatch)


class SettingsRecord(_Record):
    provider: str
    system_prompt: str | None = None
    apply_threshold: float = Field(ge=0.0, le=1.0)


class LabelRecord(_Record):
    """A confirmed assignment (``document.topics_assigned.v1``): what the learner will use."""

    document_id: uuid.UUID
    generation: int
    topic_ids: tuple[uuid.UUID, ...]
    text_object_key: str | None = None
    text_sha256: str | None = None
    #: the document's stem counts (what the local provider learns from; not the text itself)
    terms: dict[str, int] = Field(default_factory=dict)


def _versioned(prefix: str, version: int) -> str:
    return f"{prefix}v{version:012d}.json"


def _stamp_key(owner_id: uuid.UUID) -> str:
    return f"{owner_id}/classifier/{STAMP}"


async def _token(blobs: BlobStore, owner_id: uuid.UUID) -> str | None:
    """The token in the owner's stamp (its content: an object store that seals objects keeps
    no content type of its own), None if there is no stamp yet."""
    try:
        return (await blobs.get(_stamp_key(owner_id), max_bytes=256)).decode() or None
    except BlobNotFound:
        return None


@dataclass(frozen=True)
class View:
    """What a classification needs of one owner, as read under one stamp token."""

    topics: tuple[Topic, ...]
    settings: OwnerSettings | None
    token: str | None
    read_at: float  # time.monotonic() before the stamp was read


class Replica:
    def __init__(
        self, blobs: BlobStore, *, cache_size: int = 4096, owners_cached: int = 1024
    ) -> None:
        self._blobs = blobs
        self._cache: OrderedDict[str, BaseModel] = OrderedDict()
        self._cache_size = cache_size
        self._views: OrderedDict[uuid.UUID, View] = OrderedDict()
        self._owners_cached = owners_cached
        self._learning = Learning(blobs)

    # --- what a classification reads --------------------------------------------------------
    async def view(self, owner_id: uuid.UUID) -> View:
        """The owner's topics and settings: from the cache when the stamp says nothing changed
        (one small GET), else listed and read again."""
        now = time.monotonic()
        token = await _token(self._blobs, owner_id)
        cached = self._views.get(owner_id)
        if cached is not None and cached.token == token and now - cached.read_at < VIEW_TTL_S:
            self._views.move_to_end(owner_id)
            return cached
        view = View(
            tuple(await self._read_topics(owner_id)),
            await self._read_settings(owner_id),
            token,
            now,
        )
        self._views[owner_id] = view
        self._views.move_to_end(owner_id)
        while len(self._views) > self._owners_cached:
            self._views.popitem(last=False)
        return view

    # --- topics -----------------------------------------------------------------------------
    async def topics(self, owner_id: uuid.UUID) -> list[Topic]:
        """The owner's live topics (latest version of each, tombstones left out), by name."""
        return list((await self.view(owner_id)).topics)

    async def _read_topics(self, owner_id: uuid.UUID) -> list[Topic]:
        latest = await self._latest_each(f"{owner_id}/classifier/topics/", TopicRecord)
        live = [r for r in latest.values() if not r.deleted]
        live.sort(key=lambda r: (r.name.casefold(), str(r.topic_id)))
        return [Topic(r.topic_id, r.name, r.description, r.keywords, r.match) for r in live]

    async def apply_topic(self, data: TopicUpserted | TopicDeleted) -> bool:
        """Store the change unless a version as new or newer is already held."""
        if isinstance(data, TopicDeleted):
            record = TopicRecord(version=data.version, topic_id=data.topic_id, deleted=True)
        else:
            record = TopicRecord(
                version=data.version,
                topic_id=data.topic_id,
                name=data.name,
                description=data.description,
                keywords=tuple(data.keywords),
                match=data.match,
            )
        prefix = f"{data.owner_id}/classifier/topics/{data.topic_id}/"
        return await self._write(prefix, record, stamp=data.owner_id)

    # --- settings ---------------------------------------------------------------------------
    async def settings(self, owner_id: uuid.UUID) -> OwnerSettings | None:
        return (await self.view(owner_id)).settings

    async def _read_settings(self, owner_id: uuid.UUID) -> OwnerSettings | None:
        found = await self._latest_each(f"{owner_id}/classifier/", SettingsRecord, "settings")
        record = found.get("settings")
        if record is None:
            return None
        return OwnerSettings(
            record.version, record.provider, record.system_prompt, record.apply_threshold
        )

    async def apply_settings(self, data: ClassificationSettingsChanged) -> bool:
        record = SettingsRecord(
            version=data.version,
            provider=data.provider,
            system_prompt=data.system_prompt,
            apply_threshold=data.apply_threshold,
        )
        prefix = f"{data.owner_id}/classifier/settings/"
        return await self._write(prefix, record, stamp=data.owner_id)

    # --- confirmed labels -------------------------------------------------------------------
    async def label(self, owner_id: uuid.UUID, document_id: uuid.UUID) -> LabelRecord | None:
        found = await self._latest_each(f"{owner_id}/classifier/labels/", LabelRecord, document_id)
        return found.get(str(document_id))

    async def record_label(self, data: TopicsAssigned, terms: Mapping[str, int]) -> bool:
        """Store the confirmation; then stamp the owner, so the next classification learns it."""
        record = LabelRecord(
            version=data.version,
            document_id=data.document_id,
            generation=data.generation,
            topic_ids=tuple(data.topic_ids),
            text_object_key=data.text_object_key,
            text_sha256=data.text_sha256,
            terms=dict(terms),
        )
        prefix = f"{data.owner_id}/classifier/labels/{data.document_id}/"
        return await self._write(prefix, record, stamp=data.owner_id)

    async def examples(self, owner_id: uuid.UUID, view: View | None = None) -> Examples:
        """The owner's confirmed examples, as of the stamp ``view`` was read under (a view read
        now when none is given; see learning)."""
        view = view or await self.view(owner_id)
        return await self._learning.examples(owner_id, view.token)

    # --- versioned objects ------------------------------------------------------------------
    async def _versions(self, prefix: str) -> list[tuple[int, str]]:
        found = []
        for info in await self._blobs.list(prefix):
            match = _VERSION.search(info.key)
            if match and "/" not in info.key[len(prefix) : match.start()]:
                found.append((int(match.group(1)), info.key))
        return sorted(found)

    async def _write(self, prefix: str, record: _Record, *, stamp: uuid.UUID | None = None) -> bool:
        """Store the record unless a version as new or newer is held; then, for a topic or
        settings record (``stamp`` = its owner), announce the change on the owner's stamp."""
        held = await self._versions(prefix)
        if held and held[-1][0] >= record.version:
            if stamp is not None and held[-1][0] == record.version:
                await self._stamp(stamp)  # a redelivery: the first attempt may not have stamped
            return False
        key = _versioned(prefix, record.version)
        await self._blobs.put(
            key, record.model_dump_json().encode(), content_type="application/json"
        )
        for _, older in held:
            await self._blobs.delete(older)
            self._cache.pop(older, None)
        if stamp is not None:
            await self._stamp(stamp)
        return True

    async def _stamp(self, owner_id: uuid.UUID) -> None:
        token = secrets.token_hex(16)
        await self._blobs.put(_stamp_key(owner_id), token.encode(), content_type=_STAMP_TYPE)
        self._views.pop(owner_id, None)  # this replica need not even read the stamp

    async def _latest_each(self, prefix: str, model: type[R], only: object = None) -> dict[str, R]:
        """Entity (first path segment after ``prefix``) → its record of the highest version."""
        scope = f"{prefix}{only}/" if only is not None else prefix
        for attempt in range(_READ_ATTEMPTS):
            newest: dict[str, tuple[int, str]] = {}
            for info in await self._blobs.list(scope):
                match = _VERSION.search(info.key)
                entity = info.key[len(prefix) :].split("/", 1)[0]
                if match and entity and int(match.group(1)) > newest.get(entity, (0, ""))[0]:
                    newest[entity] = (int(match.group(1)), info.key)
            try:
                found = {e: await self._read(key, model) for e, (_, key) in newest.items()}
            except BlobNotFound:  # superseded and removed between listing and reading
                log.debug("replica object vanished under %s (attempt %d)", scope, attempt + 1)
                continue
            return {e: r for e, r in found.items() if r is not None}
        raise BlobNotFound(f"replica objects under {scope} kept changing while being read")

    async def _read(self, key: str, model: type[R]) -> R | None:
        cached = self._cache.get(key)
        if isinstance(cached, model):
            self._cache.move_to_end(key)
            return cached
        raw = await self._blobs.get(key)
        try:
            record = model.model_validate_json(raw)
        except ValidationError as exc:
            log.error("unreadable replica object %s ignored: %s", key, exc)
            return None
        self._cache[key] = record
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return record

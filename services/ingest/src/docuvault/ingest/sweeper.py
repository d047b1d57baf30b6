"""The orphan sweeper (DESIGN §4): originals with no ledger row are removed after a grace period.

Ingest stores the original first and commits its ledger row (with the outbox event) after; a
crash in between leaves an object nobody announced. The sweeper lists the bucket, keeps only
keys of the exact form ``{owner uuid}/{document uuid}/original`` older than the grace period
(every other key belongs to someone else: the classifier's ``{owner}/classifier/…`` objects,
the extractor's output), asks the ledger which of those documents it knows, and removes the
whole ``{owner}/{document}/`` prefix of the others.

The grace period must exceed the longest upload: S3 dates a multipart object by the moment
its upload started.
"""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from prometheus_client import Counter

from docuvault.runtime.blobstore import BlobInfo, BlobStore
from docuvault.runtime.tasks import cancel_and_wait

log = logging.getLogger("docuvault.ingest.sweeper")

orphans_removed = Counter(
    "docuvault_sweeper_orphans_removed_total",
    "Originals without a ledger row removed by the sweeper (with their document prefix)",
)
sweeps = Counter("docuvault_sweeper_runs_total", "Sweeps of the bucket, by outcome", ["outcome"])

_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_ORIGINAL = re.compile(rf"({_UUID})/({_UUID})/original")
#: the bucket is listed in 256 slices (by the owner id's first two hex digits): memory stays
#: bounded by a slice, and no key that could be an original is outside them
SLICES = tuple(f"{a}{b}" for a in "0123456789abcdef" for b in "0123456789abcdef")


# --- pure rules ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Candidate:
    """An original old enough to be judged."""

    key: str
    owner_id: uuid.UUID
    document_id: uuid.UUID
    modified: datetime

    @property
    def prefix(self) -> str:
        return f"{self.owner_id}/{self.document_id}/"


def parse_original(key: str) -> tuple[uuid.UUID, uuid.UUID] | None:
    """``(owner_id, document_id)`` when ``key`` is exactly ``{uuid}/{uuid}/original`` (the
    canonical, lower-case form ingest writes), else None."""
    match = _ORIGINAL.fullmatch(key)
    if match is None:
        return None
    return uuid.UUID(match.group(1)), uuid.UUID(match.group(2))


def candidates(objects: Iterable[BlobInfo], *, now: datetime, grace: timedelta) -> list[Candidate]:
    """Originals last written at least ``grace`` before ``now``; objects without a date are
    never candidates (their age is unknown)."""
    found: list[Candidate] = []
    for blob in objects:
        ids = parse_original(blob.key)
        if ids is None or blob.modified is None:
            continue
        if now - blob.modified >= grace:
            found.append(Candidate(blob.key, ids[0], ids[1], blob.modified))
    return found


def orphans(found: Sequence[Candidate], recorded: set[uuid.UUID]) -> list[Candidate]:
    """The candidates whose document has no ledger row (deleted documents keep theirs)."""
    return [c for c in found if c.document_id not in recorded]


# --- ports and the task ----------------------------------------------------------------------
class UploadIndex(Protocol):
    async def recorded(self, document_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
        """Those of ``document_ids`` that have a ledger row."""
        ...


class Sweeper:
    def __init__(
        self,
        blobs: BlobStore,
        uploads: UploadIndex,
        *,
        interval_s: float,
        grace_s: float,
        first_after_s: float = 60.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.blobs = blobs
        self.uploads = uploads
        self.interval_s = interval_s
        self.grace = timedelta(seconds=grace_s)
        self.first_after_s = min(first_after_s, interval_s)
        self.clock = clock
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="orphan-sweeper")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)

    async def _run(self) -> None:
        await asyncio.sleep(self.first_after_s)
        while True:
            try:
                await self.sweep()
            except Exception as exc:  # the next round tries again; the task must not die
                sweeps.labels("error").inc()
                log.warning("sweep failed; next in %g s: %s", self.interval_s, exc, exc_info=exc)
            await asyncio.sleep(self.interval_s)

    async def sweep(self, *, prefix: str | None = None) -> list[Candidate]:
        """One pass over the bucket (or only under ``prefix``); returns what it removed."""
        now = self.clock()
        removed: list[Candidate] = []
        for part in (prefix,) if prefix is not None else SLICES:
            found = candidates(await self.blobs.list(part), now=now, grace=self.grace)
            if not found:
                continue
            recorded = await self.uploads.recorded([c.document_id for c in found])
            for orphan in orphans(found, recorded):
                objects = await self.blobs.delete_prefix(orphan.prefix)
                orphans_removed.inc()
                removed.append(orphan)
                log.info(
                    "removed an original that no ledger row records",
                    extra={
                        "key": orphan.key,
                        "owner_id": str(orphan.owner_id),
                        "document_id": str(orphan.document_id),
                        "age_s": round((now - orphan.modified).total_seconds()),
                        "objects_removed": objects,
                    },
                )
        sweeps.labels("ok").inc()
        if removed:
            log.info("sweep removed %d orphaned upload(s)", len(removed))
        return removed

"""Ingest's event handlers: plain functions; their collaborators are keyword arguments."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from typing import Protocol

from docuvault.contracts import CloudEvent
from docuvault.contracts.events import DocumentDeleted, TokenRevoked
from docuvault.ingest.domain import document_prefix
from docuvault.runtime.auth import DenyList
from docuvault.runtime.blobstore import BlobStore

log = logging.getLogger("docuvault.ingest")


class Ledger(Protocol):
    async def mark_deleted(self, document_id: uuid.UUID) -> None: ...


class Revocations(Protocol):
    async def add(self, jti: str, owner_id: uuid.UUID | None, expires_at: datetime) -> None: ...


async def on_document_deleted(
    event: CloudEvent[DocumentDeleted], *, blobs: BlobStore, ledger: Ledger
) -> None:
    """Purge every object under the document's prefix; idempotent (a second purge finds none)."""
    data = event.data
    removed = await blobs.delete_prefix(document_prefix(data.owner_id, data.document_id))
    await ledger.mark_deleted(data.document_id)
    log.info("purged deleted document", extra={"objects_removed": removed})


async def on_token_revoked(
    event: CloudEvent[TokenRevoked], *, revocations: Revocations, deny_list: DenyList
) -> None:
    """Refuse the token from now on: at once in this process, in the others within a second
    (they reload the deny-list from the database), and after any restart."""
    data = event.data
    await revocations.add(data.jti, data.owner_id, data.expires_at)
    deny_list.add(data.jti, data.expires_at)
    log.info("token revoked", extra={"jti": data.jti})

"""Ingest's own database: the upload ledger, written together with the outbox, and the
remembered answers of Idempotency-Keys."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import asyncpg

from docuvault.contracts import CloudEvent
from docuvault.contracts.events import DocumentUploaded
from docuvault.runtime import db, outbox

log = logging.getLogger("docuvault.ingest")

Wrap = Callable[[DocumentUploaded], CloudEvent[Any]]
#: the audit events of what was recorded and refused (committed with the ledger rows)
Audit = Callable[
    [list[DocumentUploaded], list[tuple[DocumentUploaded, uuid.UUID]]], Sequence[CloudEvent[Any]]
]
Answer = tuple[int, dict[str, Any]]
#: builds the answer from what was recorded and what was refused as a duplicate
Respond = Callable[[list[DocumentUploaded], list[tuple[DocumentUploaded, uuid.UUID]]], Answer]
#: a first request still running after this long is taken to have died
STALE_CLAIM = "10 minutes"
#: how long an upload whose COMMIT lost its connection waits to learn whether it committed
CONFIRM_S = 30.0


@dataclass(frozen=True)
class KeyClaim:
    owner_id: uuid.UUID
    key: str
    fingerprint: str | None = None


@dataclass(frozen=True)
class KeyState:
    kind: Literal["new", "in_progress", "done"]
    fingerprint: str | None = None
    status: int | None = None
    response: dict[str, Any] | None = None


class PostgresLedger:
    def __init__(self, pool: asyncpg.Pool, *, confirm_s: float = CONFIRM_S) -> None:
        self._pool = pool
        self._confirm_s = confirm_s

    async def record_uploads(
        self,
        uploads: Sequence[DocumentUploaded],
        wrap: Wrap,
        *,
        duplicates: str,
        respond: Respond,
        claim: KeyClaim | None = None,
        audit: Audit | None = None,
    ) -> tuple[Answer, list[tuple[DocumentUploaded, uuid.UUID]]]:
        """Commit the ledger rows, their events and the key's answer in one transaction.

        Duplicates (same sha256 for the owner, earlier files of the request included) are
        decided here: ``flag`` sets ``duplicate_of``, ``reject`` leaves them out (returned, so
        their objects can be removed), ``allow`` treats them as new.
        """
        recorded: list[DocumentUploaded] = []
        rejected: list[tuple[DocumentUploaded, uuid.UUID]] = []
        try:
            async with db.transaction(self._pool) as conn:
                for data in uploads:
                    original = None
                    if duplicates != "allow":
                        original = await conn.fetchval(
                            "SELECT document_id FROM uploads WHERE owner_id = $1 AND sha256 = $2"
                            " AND deleted_at IS NULL ORDER BY uploaded_at, document_id LIMIT 1",
                            data.owner_id,
                            data.sha256,
                        )
                    if original is not None and duplicates == "reject":
                        rejected.append((data, original))
                        continue
                    final = data.model_copy(update={"duplicate_of": original})
                    await conn.execute(
                        "INSERT INTO uploads (document_id, owner_id, filename, content_type,"
                        " size_bytes, sha256, object_key, duplicate_of)"
                        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                        final.document_id,
                        final.owner_id,
                        final.filename,
                        final.content_type,
                        final.size_bytes,
                        final.sha256,
                        final.object_key,
                        original,
                    )
                    recorded.append(final)
                if recorded:
                    await outbox.add(conn, *(wrap(data) for data in recorded))
                if audit is not None and (trail := audit(recorded, rejected)):
                    await outbox.add(conn, *trail)
                answer = respond(recorded, rejected)
                if claim is not None:
                    await _remember(conn, claim, answer)
        except db.CommitUncertain as exc:
            # nothing recorded means a refusal either way; otherwise the rows tell
            if recorded and not await self.committed([d.document_id for d in recorded]):
                raise ConnectionError(f"the upload ledger did not commit: {exc}") from exc
            log.warning("the upload ledger committed although its connection broke")
        return answer, rejected

    async def committed(self, document_ids: list[uuid.UUID]) -> bool:
        """Whether the rows of an uncertain COMMIT are there; waits up to ``confirm_s`` for
        the database to answer, and raises ``CommitUncertain`` if it does not."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._confirm_s
        while True:
            try:
                found = await self._pool.fetchval(
                    "SELECT count(*) FROM uploads WHERE document_id = ANY($1::uuid[])",
                    document_ids,
                    timeout=5,
                )
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                if loop.time() >= deadline:
                    raise db.CommitUncertain(
                        f"the database did not answer for {self._confirm_s:.0f} s: {exc}"
                    ) from exc
                await asyncio.sleep(0.5)
                continue
            if found not in (0, len(document_ids)):  # one transaction: all or nothing
                raise AssertionError(f"{found} of {len(document_ids)} uploads recorded")
            return bool(found)

    # --- Idempotency-Key -------------------------------------------------------------------
    async def claim_key(self, owner_id: uuid.UUID, key: str, ttl_s: float) -> KeyState:
        """Take the key for a first request, or tell what became of an earlier one."""
        async with db.transaction(self._pool) as conn:
            await conn.execute(
                "DELETE FROM idempotency_keys WHERE owner_id = $1 AND key = $2"
                " AND (created_at < now() - make_interval(secs => $3)"
                f" OR (fingerprint IS NULL AND created_at < now() - interval '{STALE_CLAIM}'))",
                owner_id,
                key,
                ttl_s,
            )
            taken = await conn.fetchval(
                "INSERT INTO idempotency_keys (owner_id, key) VALUES ($1, $2)"
                " ON CONFLICT DO NOTHING RETURNING true",
                owner_id,
                key,
            )
            if taken:
                return KeyState("new")
            row = await conn.fetchrow(
                "SELECT fingerprint, status, response FROM idempotency_keys"
                " WHERE owner_id = $1 AND key = $2",
                owner_id,
                key,
            )
        if row is None or row["fingerprint"] is None:
            return KeyState("in_progress")
        return KeyState("done", row["fingerprint"], row["status"], json.loads(row["response"]))

    async def remember(self, claim: KeyClaim, answer: Answer) -> None:
        """Keep a refusal as the key's answer (there were no uploads to commit with it)."""
        async with self._pool.acquire() as conn:
            await _remember(conn, claim, answer)

    async def release_key(self, owner_id: uuid.UUID, key: str) -> None:
        """Forget a key whose request failed for a passing reason: the client may retry it."""
        await self._pool.execute(
            "DELETE FROM idempotency_keys WHERE owner_id = $1 AND key = $2 AND fingerprint IS NULL",
            owner_id,
            key,
        )

    async def record_events(self, events: Sequence[CloudEvent[Any]]) -> None:
        """Queue events with no ledger change of their own (audit entries of refusals)."""
        if events:
            async with db.transaction(self._pool) as conn:
                await outbox.add(conn, *events)

    # --- the rest --------------------------------------------------------------------------
    async def mark_deleted(self, document_id: uuid.UUID) -> None:
        await self._pool.execute(
            "UPDATE uploads SET deleted_at = now() WHERE document_id = $1 AND deleted_at IS NULL",
            document_id,
        )

    async def check(self) -> None:
        async with self._pool.acquire(timeout=3) as conn:
            await conn.fetchval("SELECT 1")


async def _remember(conn: outbox.Connection, claim: KeyClaim, answer: Answer) -> None:
    status, body = answer
    await conn.execute(
        "UPDATE idempotency_keys SET fingerprint = $3, status = $4, response = $5"
        " WHERE owner_id = $1 AND key = $2",
        claim.owner_id,
        claim.key,
        claim.fingerprint,
        status,
        json.dumps(body),
    )


class PostgresUploadIndex:
    """The ledger as the sweeper reads it: ``uploads`` in ingest's own database."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def recorded(self, document_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
        if not document_ids:
            return set()
        rows = await self._pool.fetch(
            "SELECT document_id FROM uploads WHERE document_id = ANY($1::uuid[])",
            list(document_ids),
        )
        return {r["document_id"] for r in rows}

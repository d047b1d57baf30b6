"""The upload ledger against real PostgreSQL: a COMMIT whose connection breaks."""

import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from docuvault.contracts.events import DocumentUploaded
from docuvault.devstack import infra
from docuvault.devstack.config import StackConfig
from docuvault.ingest.adapters.ledger import Answer, PostgresLedger
from docuvault.ingest.bootstrap import MIGRATIONS
from docuvault.runtime import db
from docuvault.runtime.events import fresh


@pytest.fixture
async def pool(scratch_database: str) -> AsyncIterator[asyncpg.Pool]:
    await db.migrate(scratch_database, MIGRATIONS)
    pool = await db.create_pool(scratch_database)
    yield pool
    await pool.close()


def _upload() -> DocumentUploaded:
    document_id = uuid.uuid4()
    owner_id = uuid.uuid4()
    return DocumentUploaded(
        document_id=document_id,
        owner_id=owner_id,
        generation=1,
        filename="note.txt",
        content_type="text/plain",
        size_bytes=5,
        sha256=uuid.uuid4().hex * 2,
        object_key=f"{owner_id}/{document_id}/original",
        auto_classify=True,
    )


def _accept(recorded: list[DocumentUploaded], _: Any) -> Answer:
    return 202, {"documents": [str(d.document_id) for d in recorded]}


async def _record(ledger: PostgresLedger, upload: DocumentUploaded, respond: Any) -> Answer:
    answer, _ = await ledger.record_uploads(
        [upload], lambda d: fresh(d, source="test"), duplicates="flag", respond=respond
    )
    return answer


async def test_a_recorded_upload_is_committed(pool: asyncpg.Pool) -> None:
    ledger = PostgresLedger(pool)
    upload = _upload()
    assert await _record(ledger, upload, _accept) == (202, {"documents": [str(upload.document_id)]})
    assert await ledger.committed([upload.document_id])
    assert not await ledger.committed([uuid.uuid4()])


async def test_a_commit_that_lost_its_connection_is_checked_not_guessed(
    pool: asyncpg.Pool, stack_config: StackConfig, scratch_database: str
) -> None:
    """The backend dies just before COMMIT: the ledger reads again, finds nothing, and says the
    upload was not recorded (so its original can go) instead of 'unknown'."""
    database = scratch_database.rsplit("/", 1)[1]

    def kill_then_accept(recorded: list[DocumentUploaded], rejected: Any) -> Answer:
        infra.psql(
            stack_config,
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"  # noqa: S608
            f" WHERE datname = '{database}' AND state = 'idle in transaction'",
        )
        return _accept(recorded, rejected)

    ledger = PostgresLedger(pool)
    upload = _upload()
    with pytest.raises(ConnectionError, match="did not commit") as caught:
        await _record(ledger, upload, kill_then_accept)
    assert not isinstance(caught.value, db.CommitUncertain)
    assert not await ledger.committed([upload.document_id])


async def test_an_unreachable_database_leaves_the_outcome_unknown(scratch_database: str) -> None:
    closed = await db.create_pool(scratch_database)
    await closed.close()
    ledger = PostgresLedger(closed, confirm_s=0.5)
    with pytest.raises(db.CommitUncertain, match="did not answer for"):
        await ledger.committed([uuid.uuid4()])

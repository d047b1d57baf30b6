"""The orphan sweeper: its key rules, and one sweep against the private stack's S3 and ledger."""

import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from prometheus_client import REGISTRY

from docuvault.devstack.pytest_plugin import Api
from docuvault.devstack.stack import Stack
from docuvault.ingest import sweeper
from docuvault.ingest.adapters.ledger import PostgresUploadIndex
from docuvault.ingest.sweeper import Sweeper
from docuvault.runtime import db
from docuvault.runtime.auth import Keyring, owner_id_for
from docuvault.runtime.blobstore import BlobInfo, EncryptedBlobStore, S3BlobStore
from docuvault.runtime.testing import InMemoryBlobStore

OWNER = uuid.UUID("6f1c1c3e-8a35-4a8e-9d5e-3f1e2d0c4b71")
DOC = uuid.UUID("0b9e7c52-5d0e-4f0c-8f3a-2a7d6c1e9b44")
NOW = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def _blob(key: str, age: timedelta | None) -> BlobInfo:
    return BlobInfo(key, 1, None, None if age is None else NOW - age)


# --- pure rules ------------------------------------------------------------------------------
def test_only_exact_original_keys_are_parsed() -> None:
    assert sweeper.parse_original(f"{OWNER}/{DOC}/original") == (OWNER, DOC)
    for key in (
        f"{OWNER}/classifier/topics/{DOC}/v000000000001.json",
        f"{OWNER}/{DOC}/extracted/1/text.txt",
        f"{OWNER}/{DOC}/original.bak",
        f"{OWNER}/{DOC}/original/",
        f"x{OWNER}/{DOC}/original",
        f"{OWNER}/{DOC}/sub/original",
        f"{str(OWNER).upper()}/{DOC}/original",  # ingest writes the canonical lower-case form
        f"{OWNER.hex}/{DOC.hex}/original",
        f"{OWNER}/{DOC}",
        "original",
        "",
    ):
        assert sweeper.parse_original(key) is None, key


def test_candidates_are_originals_older_than_the_grace_period() -> None:
    old, young, undated = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    objects = [
        _blob(f"{OWNER}/{old}/original", HOUR + timedelta(seconds=1)),
        _blob(f"{OWNER}/{old}/extracted/1/text.txt", 2 * HOUR),
        _blob(f"{OWNER}/{young}/original", HOUR - timedelta(seconds=1)),
        _blob(f"{OWNER}/{undated}/original", None),
        _blob(f"{OWNER}/classifier/model.json", 10 * HOUR),
    ]
    found = sweeper.candidates(objects, now=NOW, grace=HOUR)
    assert [(c.owner_id, c.document_id) for c in found] == [(OWNER, old)]
    assert found[0].prefix == f"{OWNER}/{old}/"
    # exactly at the grace period counts as old enough
    edge = sweeper.candidates([_blob(f"{OWNER}/{DOC}/original", HOUR)], now=NOW, grace=HOUR)
    assert [c.document_id for c in edge] == [DOC]


def test_orphans_are_candidates_without_a_ledger_row() -> None:
    kept, lost = uuid.uuid4(), uuid.uuid4()
    found = sweeper.candidates(
        [_blob(f"{OWNER}/{kept}/original", 2 * HOUR), _blob(f"{OWNER}/{lost}/original", 2 * HOUR)],
        now=NOW,
        grace=HOUR,
    )
    assert [o.document_id for o in sweeper.orphans(found, {kept})] == [lost]
    assert sweeper.orphans(found, {kept, lost}) == []


class _Ledger:
    def __init__(self, known: set[uuid.UUID]) -> None:
        self.known = known
        self.asked: list[list[uuid.UUID]] = []

    async def recorded(self, document_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
        self.asked.append(list(document_ids))
        return self.known & set(document_ids)


async def test_sweep_over_every_slice_removes_only_unrecorded_prefixes() -> None:
    blobs = InMemoryBlobStore()
    owners = [uuid.UUID("00000000-0000-4000-8000-000000000001"), OWNER]  # two slices
    recorded, lost = uuid.uuid4(), uuid.uuid4()
    await blobs.put(f"{owners[0]}/{recorded}/original", b"a", content_type="text/plain")
    await blobs.put(f"{owners[1]}/{lost}/original", b"b", content_type="text/plain")
    await blobs.put(f"{owners[1]}/{lost}/extracted/1/text.txt", b"b", content_type="text/plain")
    await blobs.put(f"{owners[1]}/classifier/model.json", b"{}", content_type="application/json")
    ledger = _Ledger({recorded})
    later = datetime.now(UTC) + 2 * HOUR
    sweep = Sweeper(blobs, ledger, interval_s=3600, grace_s=3600, clock=lambda: later)
    removed = await sweep.sweep()
    assert [o.document_id for o in removed] == [lost]
    assert sorted(blobs.objects) == [
        f"{owners[0]}/{recorded}/original",
        f"{owners[1]}/classifier/model.json",
    ]
    # the ledger is asked only about old originals, slice by slice
    assert len(ledger.asked) == 2
    assert {tuple(ids) for ids in ledger.asked} == {(lost,), (recorded,)}
    # nothing is old enough an hour earlier
    blobs2 = InMemoryBlobStore()
    await blobs2.put(f"{OWNER}/{lost}/original", b"b", content_type="text/plain")
    early = Sweeper(blobs2, _Ledger(set()), interval_s=3600, grace_s=3600)
    assert await early.sweep() == []
    assert list(blobs2.objects) == [f"{OWNER}/{lost}/original"]


# --- against the private stack ---------------------------------------------------------------
@pytest.fixture
async def s3(stack: Stack) -> AsyncIterator[S3BlobStore]:
    env = stack.config.service_env("ingest")
    store = S3BlobStore(
        endpoint=env["DOCUVAULT_S3_ENDPOINT"],
        bucket=env["DOCUVAULT_S3_BUCKET"],
        access_key=env["DOCUVAULT_S3_ACCESS_KEY"],
        secret_key=env["DOCUVAULT_S3_SECRET_KEY"],
        region="us-east-1",
    )
    async with store:
        yield store


@pytest.fixture
async def uploads(stack: Stack) -> AsyncIterator[PostgresUploadIndex]:
    pool = await db.create_pool(stack.config.database_url("ingest", "app"))
    yield PostgresUploadIndex(pool)
    await pool.close()


def _removed_total() -> float:
    return REGISTRY.get_sample_value("docuvault_sweeper_orphans_removed_total") or 0.0


async def test_sweep_removes_an_old_orphan_and_keeps_recorded_and_foreign_objects(
    api: Api, stack: Stack, s3: S3BlobStore, uploads: PostgresUploadIndex
) -> None:
    name = f"sweeper-{uuid.uuid4()}"
    owner = owner_id_for(name)
    async with httpx.AsyncClient(timeout=30) as client:
        answer = await client.post(
            f"{api.ingest}/v1/documents",
            files=[("file", ("kept.txt", b"a document that was recorded"))],
            headers=api.auth(name),
        )
    assert answer.status_code == 202, answer.text
    recorded = uuid.UUID(answer.json()["documents"][0]["document_id"])
    orphan = uuid.uuid4()
    put = {"content_type": "text/plain"}
    await s3.put(f"{owner}/{orphan}/original", b"crashed before the ledger commit", **put)
    await s3.put(f"{owner}/{orphan}/extracted/1/text.txt", b"left beside it", **put)
    await s3.put(f"{owner}/classifier/model/{orphan}.json", b"{}", **put)
    await s3.put(f"{owner}/{uuid.uuid4()}/pages.json", b"[]", **put)
    before = {b.key for b in await s3.list(f"{owner}/")}
    assert f"{owner}/{recorded}/original" in before
    assert all(b.modified is not None for b in await s3.list(f"{owner}/"))
    assert await uploads.recorded([recorded, orphan]) == {recorded}

    # within the grace period nothing goes
    now = Sweeper(s3, uploads, interval_s=3600, grace_s=3600)
    assert await now.sweep(prefix=f"{owner}/") == []
    # (the extractor may add the recorded document's text meanwhile: compare as subsets)
    assert before <= {b.key for b in await s3.list(f"{owner}/")}

    counted = _removed_total()
    later = datetime.now(UTC) + 2 * HOUR
    aged = Sweeper(s3, uploads, interval_s=3600, grace_s=3600, clock=lambda: later)
    removed = await aged.sweep(prefix=f"{owner}/")
    assert [(o.owner_id, o.document_id) for o in removed] == [(owner, orphan)]
    after = {b.key for b in await s3.list(f"{owner}/")}
    gone = {f"{owner}/{orphan}/original", f"{owner}/{orphan}/extracted/1/text.txt"}
    assert not gone & after
    assert before - gone <= after
    assert f"{owner}/{recorded}/original" in after
    assert f"{owner}/classifier/model/{orphan}.json" in after
    assert _removed_total() == counted + 1
    keyring = Keyring(stack.config.service_env("ingest")["DOCUVAULT_SECRET_KEY"])
    sealed = EncryptedBlobStore(s3, keyring)  # what ingest wrote, read as the services read it
    assert await sealed.get(f"{owner}/{recorded}/original") == b"a document that was recorded"


async def test_ingest_runs_with_the_sweeper_metrics(api: Api) -> None:
    async with httpx.AsyncClient(timeout=10) as client:
        metrics = (await client.get(f"{api.ingest}/metrics")).text
    assert "docuvault_sweeper_orphans_removed_total" in metrics

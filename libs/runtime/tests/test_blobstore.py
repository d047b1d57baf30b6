"""S3BlobStore against the private stack's real S3 server (SeaweedFS)."""

import hashlib
import os
import uuid
from collections.abc import AsyncIterator

import pytest

from docuvault.devstack.stack import Stack
from docuvault.runtime.blobstore import PART_SIZE, BlobNotFound, BlobStoreError, S3BlobStore


def _store(stack: Stack, **override: str) -> S3BlobStore:
    env = stack.config.service_env("ingest")
    return S3BlobStore(
        endpoint=env["DOCUVAULT_S3_ENDPOINT"],
        bucket=override.get("bucket", env["DOCUVAULT_S3_BUCKET"]),
        access_key=override.get("access_key", env["DOCUVAULT_S3_ACCESS_KEY"]),
        secret_key=override.get("secret_key", env["DOCUVAULT_S3_SECRET_KEY"]),
        region="us-east-1",
    )


@pytest.fixture
async def blobs(stack: Stack) -> AsyncIterator[S3BlobStore]:
    async with _store(stack) as store:
        yield store


async def test_put_get_head_list_delete(blobs: S3BlobStore) -> None:
    prefix = f"{uuid.uuid4()}/{uuid.uuid4()}/"
    await blobs.put(prefix + "a", b"alpha", content_type="text/plain")
    await blobs.put(prefix + "b", b"beta!", content_type="application/json")
    assert await blobs.get(prefix + "a") == b"alpha"
    head = await blobs.head(prefix + "b")
    assert head is not None
    assert (head.size, head.content_type) == (5, "application/json")
    assert [b.key for b in await blobs.list(prefix)] == [prefix + "a", prefix + "b"]
    assert await blobs.delete_prefix(prefix) == 2
    assert await blobs.list(prefix) == []
    assert await blobs.head(prefix + "a") is None
    with pytest.raises(BlobNotFound):
        await blobs.get(prefix + "a")


async def test_large_object_streams_in_parts_and_back(blobs: S3BlobStore) -> None:
    key = f"{uuid.uuid4()}/big"
    data = os.urandom(PART_SIZE * 2 + 12345)
    async with blobs.writer(key, content_type="application/octet-stream") as writer:
        for start in range(0, len(data), 1 << 20):
            await writer.write(data[start : start + (1 << 20)])
    digest = hashlib.sha256()
    async for chunk in blobs.stream(key, chunk_size=1 << 20):
        digest.update(chunk)
    assert digest.hexdigest() == hashlib.sha256(data).hexdigest()
    await blobs.delete(key)


async def test_failed_write_leaves_nothing_behind(blobs: S3BlobStore) -> None:
    key = f"{uuid.uuid4()}/aborted"

    async def abandon(key: str, size: int) -> None:
        async with blobs.writer(key, content_type="application/octet-stream") as writer:
            await writer.write(os.urandom(size))
            raise RuntimeError("client went away")

    with pytest.raises(RuntimeError, match="client went away"):
        await abandon(key, PART_SIZE + 1)  # multipart upload begun, then aborted
    assert await blobs.head(key) is None
    small = f"{uuid.uuid4()}/small-aborted"
    with pytest.raises(RuntimeError, match="client went away"):
        await abandon(small, 3)
    assert await blobs.head(small) is None


async def test_wrong_credentials_are_a_clear_error(stack: Stack) -> None:
    async with _store(stack, secret_key="wrong-secret") as store:
        with pytest.raises(BlobStoreError, match="S3 answered"):
            await store.put(f"{uuid.uuid4()}/x", b"x", content_type="text/plain")
        with pytest.raises(BlobStoreError):
            await store.check()


async def test_check_passes_on_a_reachable_bucket(blobs: S3BlobStore) -> None:
    await blobs.check()

"""The ``BlobStore`` port — all object I/O of every service goes through it — its S3 adapter,
and ``EncryptedBlobStore``, the same port sealing every object before it reaches the store.

Large objects are written with multipart upload as they stream in, so memory stays flat.
Services open their store with ``open_blobstore(settings)``: encrypted unless
``DOCUVAULT_ENCRYPT_AT_REST=false``.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Protocol, Self

import aioboto3
from aiobotocore.config import AioConfig
from botocore.exceptions import BotoCoreError, ClientError

from docuvault.runtime import crypto, s3endpoint
from docuvault.runtime.auth import Keyring
from docuvault.runtime.settings import CommonSettings

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client

#: an object up to this size is one PUT; a bigger one goes up in parts of this size (S3 wants
#: ≥ 5 MiB). boto3's own threshold and part size: a sealed 5 MiB file (a few bytes over 5 MiB)
#: stays one request instead of three or four; a part in flight costs about three times this
PART_SIZE = 8 * 1024 * 1024


class BlobStoreError(Exception):
    """The object store failed or refused; the message says which operation and why."""


class BlobNotFound(BlobStoreError):
    pass


class BlobIntegrityError(BlobStoreError):
    """An encrypted object does not open: altered, truncated, misplaced, or its key is gone."""


@dataclass(frozen=True)
class BlobInfo:
    key: str
    size: int
    content_type: str | None
    #: when the object was last written (filled by ``list``; the sweeper judges age by it)
    modified: datetime | None = None


class BlobWriter(Protocol):
    async def write(self, chunk: bytes) -> None: ...


class BlobStore(Protocol):
    async def put(self, key: str, data: bytes, *, content_type: str) -> None: ...
    def writer(
        self, key: str, *, content_type: str
    ) -> contextlib.AbstractAsyncContextManager[BlobWriter]: ...
    async def get(self, key: str, *, max_bytes: int | None = None) -> bytes: ...
    def stream(
        self, key: str, *, chunk_size: int = 1 << 20, start: int = 0, end: int | None = None
    ) -> AsyncIterator[bytes]:
        """The object's bytes ``[start, end)`` (``end=None``: to its end); nothing past it."""
        ...

    async def head(self, key: str) -> BlobInfo | None: ...
    async def list(self, prefix: str) -> list[BlobInfo]: ...
    async def delete(self, key: str) -> None: ...
    async def delete_prefix(self, prefix: str) -> int: ...
    async def check(self) -> None: ...


def _fail(operation: str, key: str, exc: Exception) -> BlobStoreError:
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "?")
        if code in ("NoSuchKey", "404", "NotFound"):
            return BlobNotFound(f"{operation} {key}: no such object")
        return BlobStoreError(f"{operation} {key}: S3 answered {code}")
    return BlobStoreError(f"{operation} {key}: {type(exc).__name__}: {exc}")


class S3BlobStore:
    """A bucket reached over the S3 API (MinIO, SeaweedFS, AWS, …) with aioboto3."""

    def __init__(
        self, *, endpoint: str, bucket: str, access_key: str, secret_key: str, region: str
    ) -> None:
        self.bucket = bucket
        self._session = aioboto3.Session(
            aws_access_key_id=access_key, aws_secret_access_key=secret_key, region_name=region
        )
        self._endpoint = endpoint
        self._stack = contextlib.AsyncExitStack()
        self._client: S3Client | None = None

    @classmethod
    def from_settings(cls, settings: CommonSettings) -> S3BlobStore:
        return cls(
            endpoint=settings.s3_endpoint,
            bucket=settings.s3_bucket,
            access_key=settings.s3_access_key.get_secret_value(),
            secret_key=settings.s3_secret_key.get_secret_value(),
            region=settings.s3_region,
        )

    async def __aenter__(self) -> Self:
        config = AioConfig(
            retries={"max_attempts": 3, "mode": "standard"},
            connect_timeout=5,
            read_timeout=60,
            s3={"addressing_style": "path"},
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        self._client = await self._stack.enter_async_context(
            self._session.client("s3", endpoint_url=self._endpoint, config=config)
        )
        s3endpoint.cache_endpoints(self._client)
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._stack.aclose()

    @property
    def s3(self) -> S3Client:
        if self._client is None:
            raise RuntimeError("S3BlobStore used outside 'async with'")
        return self._client

    async def ensure_bucket(self) -> None:
        try:
            await self.s3.head_bucket(Bucket=self.bucket)
        except ClientError:
            await self.s3.create_bucket(Bucket=self.bucket)

    async def check(self) -> None:
        try:
            await self.s3.head_bucket(Bucket=self.bucket)
        except (ClientError, BotoCoreError, OSError) as exc:
            raise _fail("head bucket", self.bucket, exc) from exc

    async def put(self, key: str, data: bytes, *, content_type: str) -> None:
        try:
            await self.s3.put_object(
                Bucket=self.bucket, Key=key, Body=data, ContentType=content_type
            )
        except (ClientError, BotoCoreError, OSError) as exc:
            raise _fail("put", key, exc) from exc

    @contextlib.asynccontextmanager
    async def writer(self, key: str, *, content_type: str) -> AsyncIterator[BlobWriter]:
        """Stream an object in; on an exception inside the block nothing is left behind."""
        writer = _MultipartWriter(self, key, content_type)
        try:
            yield writer
            await writer.finish()
        except BaseException:
            await writer.abort()
            raise

    async def get(self, key: str, *, max_bytes: int | None = None) -> bytes:
        """The object, or only its first ``max_bytes`` (a Range request)."""
        try:
            if max_bytes:
                answer = await self.s3.get_object(
                    Bucket=self.bucket, Key=key, Range=f"bytes=0-{max_bytes - 1}"
                )
            else:
                answer = await self.s3.get_object(Bucket=self.bucket, Key=key)
            async with answer["Body"] as body:
                return await body.read()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "InvalidRange":
                return b""  # a range of an empty object
            raise _fail("get", key, exc) from exc
        except (BotoCoreError, OSError) as exc:
            raise _fail("get", key, exc) from exc

    async def stream(
        self, key: str, *, chunk_size: int = 1 << 20, start: int = 0, end: int | None = None
    ) -> AsyncIterator[bytes]:
        _check_range(start, end)
        if end is not None and end == start:
            return
        try:
            if start or end is not None:
                last = "" if end is None else str(end - 1)
                answer = await self.s3.get_object(
                    Bucket=self.bucket, Key=key, Range=f"bytes={start}-{last}"
                )
            else:
                answer = await self.s3.get_object(Bucket=self.bucket, Key=key)
            body = answer["Body"]
            async with body:  # releases the connection however the reader stops
                while chunk := await body.read(chunk_size):
                    yield chunk
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "InvalidRange":
                return  # the range starts past the end: nothing there
            raise _fail("get", key, exc) from exc
        except (BotoCoreError, OSError) as exc:
            raise _fail("get", key, exc) from exc

    async def head(self, key: str) -> BlobInfo | None:
        try:
            answer = await self.s3.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise _fail("head", key, exc) from exc
        except (BotoCoreError, OSError) as exc:
            raise _fail("head", key, exc) from exc
        return BlobInfo(key, answer["ContentLength"], answer.get("ContentType"))

    async def list(self, prefix: str) -> list[BlobInfo]:
        found: list[BlobInfo] = []
        try:
            paginator = self.s3.get_paginator("list_objects_v2")
            async for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                found += [
                    BlobInfo(o["Key"], o["Size"], None, o.get("LastModified"))
                    for o in page.get("Contents", [])
                ]
        except (ClientError, BotoCoreError, OSError) as exc:
            raise _fail("list", prefix, exc) from exc
        return found

    async def delete(self, key: str) -> None:
        try:
            await self.s3.delete_object(Bucket=self.bucket, Key=key)
        except (ClientError, BotoCoreError, OSError) as exc:
            raise _fail("delete", key, exc) from exc

    async def delete_prefix(self, prefix: str) -> int:
        if not prefix.endswith("/"):
            raise ValueError("delete_prefix needs a prefix ending in '/'")
        keys = [b.key for b in await self.list(prefix)]
        for start in range(0, len(keys), 1000):
            batch = keys[start : start + 1000]
            try:
                await self.s3.delete_objects(
                    Bucket=self.bucket,
                    Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True},
                )
            except (ClientError, BotoCoreError, OSError) as exc:
                raise _fail("delete", prefix, exc) from exc
        return len(keys)


class _MultipartWriter:
    """Buffers up to one part; a small object becomes one PUT, a large one a multipart upload."""

    def __init__(self, store: S3BlobStore, key: str, content_type: str) -> None:
        self._store = store
        self._key = key
        self._content_type = content_type
        # chunks as received: joined once per part (a bytearray that grows and is sliced
        # would hold two or three copies of a part at its peak)
        self._chunks: list[bytes] = []
        self._buffered = 0
        self._upload_id: str | None = None
        self._parts: list[dict[str, object]] = []

    async def write(self, chunk: bytes) -> None:
        self._chunks.append(chunk)
        self._buffered += len(chunk)
        if self._buffered >= PART_SIZE:
            await self._upload_part(self._take())

    def _take(self) -> bytes:
        data = b"".join(self._chunks)
        self._chunks.clear()
        self._buffered = 0
        return data

    async def _upload_part(self, part: bytes) -> None:
        s3, bucket, key = self._store.s3, self._store.bucket, self._key
        try:
            if self._upload_id is None:
                created = await s3.create_multipart_upload(
                    Bucket=bucket, Key=key, ContentType=self._content_type
                )
                self._upload_id = created["UploadId"]
            number = len(self._parts) + 1
            answer = await s3.upload_part(
                Bucket=bucket, Key=key, UploadId=self._upload_id, PartNumber=number, Body=part
            )
            self._parts.append({"ETag": answer["ETag"], "PartNumber": number})
        except (ClientError, BotoCoreError, OSError) as exc:
            raise _fail("upload part of", key, exc) from exc

    async def finish(self) -> None:
        if self._upload_id is None:
            await self._store.put(self._key, self._take(), content_type=self._content_type)
            return
        if self._buffered:
            await self._upload_part(self._take())
        try:
            await self._store.s3.complete_multipart_upload(
                Bucket=self._store.bucket,
                Key=self._key,
                UploadId=self._upload_id,
                MultipartUpload={"Parts": self._parts},  # type: ignore[typeddict-item]
            )
        except (ClientError, BotoCoreError, OSError) as exc:
            raise _fail("complete upload of", self._key, exc) from exc

    async def abort(self) -> None:
        if self._upload_id is None:
            return  # a small object is written only by finish(): nothing to undo
        with contextlib.suppress(Exception):
            await self._store.s3.abort_multipart_upload(
                Bucket=self._store.bucket, Key=self._key, UploadId=self._upload_id
            )


def _check_range(start: int, end: int | None) -> None:
    if start < 0 or (end is not None and end < start):
        raise ValueError(f"bad range [{start}, {end})")


# --- encryption at rest --------------------------------------------------------------------------
ENCRYPTED_CONTENT_TYPE = "application/octet-stream"


class EncryptedBlobStore:
    """The ``BlobStore`` port over another one, sealing every object (see ``crypto``).

    The stored objects say nothing but their size and key (content type
    ``application/octet-stream``); sizes reported by ``head`` and ``list`` are the plaintext's.
    Reads stream and check each segment as it comes; a range reads only its segments.
    """

    def __init__(self, inner: BlobStore, keyring: Keyring, *, segment_size: int = 0) -> None:
        self.inner = inner
        self.cipher = crypto.ObjectCipher(keyring, segment_size=segment_size or crypto.SEGMENT_SIZE)

    def _size(self, stored: int) -> int:
        return crypto.plain_size(stored, self.cipher.segment_size)

    def _opener(self, key: str, header: bytes) -> crypto.Opener:
        opener = self.cipher.opener(key, header)
        if opener.segment_size != self.cipher.segment_size:
            raise crypto.IntegrityError(
                f"object {key} has segments of {opener.segment_size} bytes, not "
                f"{self.cipher.segment_size}"
            )
        return opener

    async def check(self) -> None:
        await self.inner.check()

    async def put(self, key: str, data: bytes, *, content_type: str) -> None:
        sealed = self.cipher.seal(key, data)
        await self.inner.put(key, sealed, content_type=ENCRYPTED_CONTENT_TYPE)

    @contextlib.asynccontextmanager
    async def writer(self, key: str, *, content_type: str) -> AsyncIterator[BlobWriter]:
        sealer = self.cipher.sealer(key)
        async with self.inner.writer(key, content_type=ENCRYPTED_CONTENT_TYPE) as raw:
            await raw.write(sealer.header)
            yield _SealingWriter(raw, sealer)
            await raw.write(sealer.finish())

    async def get(self, key: str, *, max_bytes: int | None = None) -> bytes:
        parts = [c async for c in self.stream(key, end=max_bytes or None)]
        return b"".join(parts)

    async def stream(
        self, key: str, *, chunk_size: int = 1 << 20, start: int = 0, end: int | None = None
    ) -> AsyncIterator[bytes]:
        _check_range(start, end)
        if end is not None and end == start:
            return
        try:
            async for chunk in self._decrypt(key, chunk_size, start, end):
                yield chunk
        except (crypto.IntegrityError, crypto.UnknownKey) as exc:
            raise BlobIntegrityError(str(exc)) from exc

    async def _decrypt(
        self, key: str, chunk_size: int, start: int, end: int | None
    ) -> AsyncIterator[bytes]:
        size = self.cipher.segment_size
        stored = size + crypto.TAG
        first = start // size
        last = None if end is None else (end - 1) // size
        raw_end = None if last is None else crypto.HEADER_SIZE + (last + 1) * stored
        reader: crypto.SegmentReader | None = None
        header = bytearray()
        if first == 0:  # one request: the header and the segments
            raw = self.inner.stream(key, chunk_size=chunk_size, start=0, end=raw_end)
        else:  # the header, then only the range's segments
            head = await self.inner.get(key, max_bytes=crypto.HEADER_SIZE)
            reader = crypto.SegmentReader(self._opener(key, head), first)
            raw = self.inner.stream(
                key, chunk_size=chunk_size, start=crypto.HEADER_SIZE + first * stored, end=raw_end
            )

        def clip(index: int, plain: bytes) -> bytes:
            """The part of segment ``index`` inside [start, end)."""
            offset = index * size
            low = max(0, start - offset)
            high = len(plain) if end is None else min(len(plain), end - offset)
            return plain[low:high] if high > low else b""

        received = False
        async for chunk in raw:
            if reader is None:
                header += chunk
                if len(header) < crypto.HEADER_SIZE:
                    continue
                reader = crypto.SegmentReader(
                    self._opener(key, bytes(header[: crypto.HEADER_SIZE])), 0
                )
                chunk = bytes(header[crypto.HEADER_SIZE :])
            received = received or bool(chunk)
            index = reader.index
            for plain in reader.feed(chunk):
                if piece := clip(index, plain):
                    yield piece
                index += 1
        if reader is None:  # shorter than a header: not a sealed object
            crypto.Header.parse(bytes(header), key)
            return
        got_all = last is not None and reader.index > last
        if not received and first > 0:
            # nothing from segment ``first`` on: a range past the end, or a truncated object
            await self._check_ends_before(key, reader.opener, start)
            return
        index = reader.index
        for plain in reader.end(expect_final=not got_all):
            if piece := clip(index, plain):
                yield piece
            index += 1

    async def _check_ends_before(self, key: str, opener: crypto.Opener, start: int) -> None:
        """A range found nothing: the object must really end before ``start`` — its last
        segment (by the stored size) must open and be the final one."""
        info = await self.inner.head(key)
        if info is None:
            raise BlobNotFound(f"get {key}: no such object")
        body = info.size - crypto.HEADER_SIZE
        stored = opener.stored_segment
        count = -(-body // stored) if body > 0 else 0
        if count == 0 or (count - 1) * opener.segment_size >= start:
            raise crypto.IntegrityError(f"object {key} is truncated")
        offset = crypto.HEADER_SIZE + (count - 1) * stored
        sealed = b"".join([c async for c in self.inner.stream(key, start=offset)])
        _, final = opener.segment(count - 1, sealed)
        if not final:
            raise crypto.IntegrityError(f"object {key} is truncated (no final segment)")

    async def head(self, key: str) -> BlobInfo | None:
        info = await self.inner.head(key)
        if info is None:
            return None
        return BlobInfo(info.key, self._size(info.size), None, info.modified)

    async def list(self, prefix: str) -> list[BlobInfo]:
        return [
            BlobInfo(i.key, self._size(i.size), None, i.modified)
            for i in await self.inner.list(prefix)
        ]

    async def delete(self, key: str) -> None:
        await self.inner.delete(key)

    async def delete_prefix(self, prefix: str) -> int:
        return await self.inner.delete_prefix(prefix)


class _SealingWriter:
    def __init__(self, raw: BlobWriter, sealer: crypto.Sealer) -> None:
        self._raw = raw
        self._sealer = sealer

    async def write(self, chunk: bytes) -> None:
        sealed = self._sealer.update(chunk)
        if sealed:
            await self._raw.write(sealed)


@contextlib.asynccontextmanager
async def open_blobstore(settings: CommonSettings) -> AsyncIterator[BlobStore]:
    """The service's object store: S3, sealed with the keyring unless encryption is off."""
    async with S3BlobStore.from_settings(settings) as raw:
        if settings.encrypt_at_rest:
            yield EncryptedBlobStore(raw, settings.keyring())
        else:
            yield raw

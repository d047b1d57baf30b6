"""In-memory stand-ins for handler unit tests (DESIGN: fakes only for pure handler tests).

Integration tests use the real S3BlobStore and Broker against the tests' private stack.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from docuvault.contracts import CloudEvent, decode, encode
from docuvault.runtime.blobstore import BlobInfo, BlobNotFound, BlobWriter


class InMemoryBlobStore:
    """Implements the ``BlobStore`` port in a dict."""

    def __init__(self) -> None:
        self.objects: dict[str, tuple[bytes, str]] = {}
        #: last write of each key (tests may set it to age an object); ``list`` reports it
        self.modified: dict[str, datetime] = {}

    async def put(self, key: str, data: bytes, *, content_type: str) -> None:
        self.objects[key] = (bytes(data), content_type)
        self.modified[key] = datetime.now(UTC)

    @contextlib.asynccontextmanager
    async def writer(self, key: str, *, content_type: str) -> AsyncIterator[BlobWriter]:
        chunks: list[bytes] = []

        class _Writer:
            async def write(self, chunk: bytes) -> None:
                chunks.append(bytes(chunk))

        yield _Writer()
        self.objects[key] = (b"".join(chunks), content_type)
        self.modified[key] = datetime.now(UTC)

    async def get(self, key: str, *, max_bytes: int | None = None) -> bytes:
        if key not in self.objects:
            raise BlobNotFound(f"get {key}: no such object")
        return self.objects[key][0][:max_bytes]

    async def stream(
        self, key: str, *, chunk_size: int = 1 << 20, start: int = 0, end: int | None = None
    ) -> AsyncIterator[bytes]:
        data = (await self.get(key))[start:end]
        for offset in range(0, len(data), chunk_size):
            yield data[offset : offset + chunk_size]

    async def head(self, key: str) -> BlobInfo | None:
        if key not in self.objects:
            return None
        data, content_type = self.objects[key]
        return BlobInfo(key, len(data), content_type)

    async def list(self, prefix: str) -> list[BlobInfo]:
        return [
            BlobInfo(k, len(v[0]), v[1], self.modified.get(k))
            for k, v in sorted(self.objects.items())
            if k.startswith(prefix)
        ]

    async def delete(self, key: str) -> None:
        self.objects.pop(key, None)
        self.modified.pop(key, None)

    async def delete_prefix(self, prefix: str) -> int:
        doomed = [k for k in self.objects if k.startswith(prefix)]
        for key in doomed:
            del self.objects[key]
            self.modified.pop(key, None)
        return len(doomed)

    async def check(self) -> None:
        return None


class RecordingPublisher:
    """A ``Publish`` callable that keeps what it was given (after a wire round trip)."""

    def __init__(self) -> None:
        self.events: list[CloudEvent[Any]] = []

    async def __call__(self, event: CloudEvent[Any]) -> None:
        self.events.append(decode(encode(event)))

    def of_type(self, name: str) -> list[CloudEvent[Any]]:
        return [e for e in self.events if e.routing_key == name]

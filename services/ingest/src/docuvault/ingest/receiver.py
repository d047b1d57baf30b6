"""Streams a multipart upload straight into the object store while hashing and sniffing it.

Nothing touches the local disk and memory stays bounded (one S3 part per file in flight): the
body is parsed as it arrives and each file's bytes are written on as they come.
"""

from __future__ import annotations

import contextlib
import hashlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from python_multipart.multipart import MultipartParser, parse_options_header

from docuvault.ingest import domain, ooxml
from docuvault.runtime.blobstore import BlobStore, BlobWriter

FIELD_LIMIT = 1024
#: form fields (not files) one request may carry
MAX_FIELDS = 16
#: the headers of one part, all together
PART_HEADER_LIMIT = 8 * 1024
#: headers one part may have
MAX_PART_HEADERS = 16
_BOOLEAN = {"true", "false", "1", "0", "yes", "no", "on", "off"}


@dataclass(frozen=True)
class StoredFile:
    document_id: uuid.UUID
    filename: str
    content_type: str
    size_bytes: int
    sha256: str
    object_key: str


@dataclass(frozen=True)
class FileError:
    filename: str
    status: int
    detail: str


@dataclass
class Received:
    files: list[StoredFile] = field(default_factory=list)
    errors: list[FileError] = field(default_factory=list)
    fields: dict[str, str] = field(default_factory=dict)
    #: what the body held, in order: file names and hashes (or refusals), form fields
    parts: list[str] = field(default_factory=list)

    @property
    def fingerprint(self) -> str:
        """Equal for two bodies that carry the same files and fields in the same order."""
        return hashlib.sha256("\n".join(self.parts).encode()).hexdigest()


class BadRequestBody(ValueError):
    """The request is not the multipart form the endpoint takes."""


class _FilePart:
    def __init__(self, receiver: UploadReceiver, filename: str) -> None:
        self.r = receiver
        self.filename = domain.clean_filename(filename)
        self.document_id = uuid.uuid4()
        self.key = domain.original_key(receiver.owner_id, self.document_id)
        self.head = bytearray()
        self.hash = hashlib.sha256()
        self.size = 0
        self.content_type: str | None = None
        self.error: FileError | None = None
        #: the last bytes of a ZIP: its central directory tells a DOCX from any ZIP
        self.tail = bytearray()
        self._cm: contextlib.AbstractAsyncContextManager[BlobWriter] | None = None
        self._writer: BlobWriter | None = None

    async def data(self, chunk: bytes) -> None:
        if self.error is not None:
            return
        self.size += len(chunk)
        if self.size > self.r.max_bytes:
            await self._fail(413, f"file is larger than the limit of {self.r.max_bytes} bytes")
            return
        self.hash.update(chunk)
        if self._writer is None:
            self.head += chunk
            if len(self.head) >= domain.SNIFF_BYTES:
                await self._open()
        else:
            if self.content_type == domain.DOCX:
                self._keep_tail(chunk)
            await self._writer.write(chunk)

    def _keep_tail(self, chunk: bytes) -> None:
        self.tail += chunk
        if len(self.tail) > ooxml.TAIL_BYTES:
            del self.tail[: len(self.tail) - ooxml.TAIL_BYTES]

    async def _open(self) -> None:
        head = bytes(self.head)
        self.content_type = domain.sniff(head[: domain.SNIFF_BYTES], self.filename)
        if self.content_type is None:
            await self._fail(415, f"unsupported type: {domain.describe_unknown(head)}")
            return
        if self.content_type == domain.DOCX:
            self._keep_tail(head)
        if self.r.store:
            self._cm = self.r.blobs.writer(self.key, content_type=self.content_type)
            self._writer = await self._cm.__aenter__()
        else:
            self._writer = _Discard()
        await self._writer.write(head)
        self.head.clear()

    async def end(self) -> StoredFile | FileError:
        if self.error is None and self.size == 0:
            await self._fail(400, "file is empty")
        if self.error is None and self._writer is None:
            await self._open()
        if self.error is None and self.content_type == domain.DOCX:
            problem = ooxml.word_document_problem(bytes(self.tail), self.size)
            if problem is not None:
                await self._fail(415, f"unsupported type: {problem}")
        if self.error is not None:
            return self.error
        assert self.content_type is not None
        if self._cm is not None:
            cm, self._cm = self._cm, None
            await cm.__aexit__(None, None, None)
        return StoredFile(
            self.document_id,
            self.filename,
            self.content_type,
            self.size,
            self.hash.hexdigest(),
            self.key,
        )

    async def abort(self, exc: BaseException | None = None) -> None:
        """Remove whatever was written of this file."""
        if self._cm is not None:
            cm, self._cm, self._writer = self._cm, None, None
            err = exc or RuntimeError("upload abandoned")
            with contextlib.suppress(BaseException):
                await cm.__aexit__(type(err), err, err.__traceback__)

    async def _fail(self, status: int, detail: str) -> None:
        self.error = FileError(self.filename, status, detail)
        await self.abort()


class _Discard:
    """The writer of a receiver that only hashes (an Idempotency-Key replay)."""

    async def write(self, chunk: bytes) -> None:
        return None


class _FieldPart:
    def __init__(self, name: str) -> None:
        self.name = name
        self.value = bytearray()

    async def data(self, chunk: bytes) -> None:
        if len(self.value) + len(chunk) > FIELD_LIMIT:
            raise BadRequestBody(f"form field {self.name!r} is longer than {FIELD_LIMIT} bytes")
        self.value += chunk


class UploadReceiver:
    def __init__(
        self,
        *,
        blobs: BlobStore,
        owner_id: uuid.UUID,
        max_bytes: int,
        max_files: int,
        store: bool = True,
    ) -> None:
        """``store=False`` only reads and hashes the body (to compare a repeated request)."""
        self.blobs = blobs
        self.owner_id = owner_id
        self.max_bytes = max_bytes
        self.max_files = max_files
        self.store = store

    async def receive(self, content_type: str, body: AsyncIterator[bytes]) -> Received:
        """Parse the body, store each acceptable file; stored objects are removed on failure."""
        kind, params = parse_options_header(content_type)
        boundary = params.get(b"boundary")
        if kind != b"multipart/form-data" or not boundary:
            raise BadRequestBody("send the files as multipart/form-data in the field 'file'")
        events: list[tuple[Any, ...]] = []
        header: dict[str, bytearray] = {"field": bytearray(), "value": bytearray()}

        part_header_bytes = 0

        def header_data(which: str, data: bytes, start: int, end: int) -> None:
            nonlocal part_header_bytes
            part_header_bytes += end - start
            if part_header_bytes > PART_HEADER_LIMIT:
                raise BadRequestBody(f"a part's headers are longer than {PART_HEADER_LIMIT} bytes")
            header[which].extend(data[start:end])

        def header_end() -> None:
            events.append(("header", bytes(header["field"]), bytes(header["value"])))
            header["field"].clear()
            header["value"].clear()

        def part_begin() -> None:
            nonlocal part_header_bytes
            part_header_bytes = 0
            events.append(("begin",))

        parser = MultipartParser(
            boundary,
            {
                "on_part_begin": part_begin,
                "on_header_field": lambda d, s, e: header_data("field", d, s, e),
                "on_header_value": lambda d, s, e: header_data("value", d, s, e),
                "on_header_end": header_end,
                "on_headers_finished": lambda: events.append(("headers_done",)),
                "on_part_data": lambda d, s, e: events.append(("data", bytes(d[s:e]))),
                "on_part_end": lambda: events.append(("end",)),
            },
        )
        state = _State(self)
        try:
            async for chunk in body:
                try:
                    parser.write(chunk)
                except BadRequestBody:
                    raise
                except Exception as exc:
                    raise BadRequestBody(f"malformed multipart body: {exc}") from exc
                for event in events:
                    await state.apply(event)
                events.clear()
            if state.part is not None:
                raise BadRequestBody("the multipart body ended in the middle of a part")
        except BaseException as exc:
            await state.discard(exc)
            raise
        return state.received

    async def remove(self, files: list[StoredFile]) -> None:
        for stored in files:
            with contextlib.suppress(Exception):
                await self.blobs.delete(stored.object_key)


class _State:
    def __init__(self, receiver: UploadReceiver) -> None:
        self.r = receiver
        self.received = Received()
        self.headers: dict[str, str] = {}
        self.part: _FilePart | _FieldPart | None = None
        self.file_count = 0
        self.field_count = 0

    async def apply(self, event: tuple[Any, ...]) -> None:
        match event:
            case ("begin",):
                self.headers = {}
            case ("header", name, value):
                # kept as latin-1 (one char per byte) to parse; names are UTF-8 in practice
                self.headers[name.decode("latin-1").lower()] = value.decode("latin-1")
                if len(self.headers) > MAX_PART_HEADERS:
                    raise BadRequestBody(f"a part has more than {MAX_PART_HEADERS} headers")
            case ("headers_done",):
                self.part = self._new_part()
            case ("data", chunk):
                if self.part is not None:
                    await self.part.data(chunk)
            case ("end",):
                await self._end_part()

    def _new_part(self) -> _FilePart | _FieldPart | None:
        _, params = parse_options_header(self.headers.get("content-disposition", ""))
        name = params.get(b"name", b"").decode("utf-8", "replace")
        filename = params.get(b"filename")
        if name == "file" and filename is None:
            raise BadRequestBody("the field 'file' must carry a file (a part with a filename)")
        if filename is not None:
            self.file_count += 1
            part = _FilePart(self.r, (filename or b"").decode("utf-8", "replace"))
            if self.file_count > self.r.max_files:
                part.error = FileError(
                    part.filename, 413, f"more than {self.r.max_files} files in one request"
                )
            return part
        self.field_count += 1
        if self.field_count > MAX_FIELDS:
            raise BadRequestBody(f"more than {MAX_FIELDS} form fields in one request")
        return _FieldPart(name)

    async def _end_part(self) -> None:
        part, self.part = self.part, None
        if isinstance(part, _FieldPart):
            value = part.value.decode("utf-8", "replace")
            if part.name == "auto_classify" and value.lower() not in _BOOLEAN:
                raise BadRequestBody(f"auto_classify must be true or false, not {value[:20]!r}")
            self.received.fields[part.name] = value
            self.received.parts.append(f"field {part.name}={value}")
        elif isinstance(part, _FilePart):
            outcome = await part.end()
            if isinstance(outcome, StoredFile):
                self.received.files.append(outcome)
                self.received.parts.append(f"file {outcome.filename} {outcome.sha256}")
            else:
                self.received.errors.append(outcome)
                self.received.parts.append(f"refused {outcome.filename} {outcome.status}")

    async def discard(self, exc: BaseException) -> None:
        if isinstance(self.part, _FilePart):
            await self.part.abort(exc)
        await self.r.remove(self.received.files)

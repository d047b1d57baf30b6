"""The streaming multipart receiver, on the in-memory BlobStore."""

import hashlib
import uuid
from collections.abc import AsyncIterator

import pytest

from docuvault.ingest.receiver import BadRequestBody, UploadReceiver
from docuvault.runtime.testing import InMemoryBlobStore

BOUNDARY = "----docuvault-test-boundary"
OWNER = uuid.uuid4()


def _body(*parts: tuple[str, str | None, bytes]) -> bytes:
    out = b""
    for name, filename, data in parts:
        disposition = f'form-data; name="{name}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        out += f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n\r\n".encode()
        out += data + b"\r\n"
    return out + f"--{BOUNDARY}--\r\n".encode()


async def _chunks(data: bytes, size: int = 1000) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def _receiver(blobs: InMemoryBlobStore, max_bytes: int = 50_000) -> UploadReceiver:
    return UploadReceiver(blobs=blobs, owner_id=OWNER, max_bytes=max_bytes, max_files=3)


CONTENT_TYPE = f"multipart/form-data; boundary={BOUNDARY}"


async def test_files_are_stored_hashed_and_typed_while_streaming() -> None:
    blobs = InMemoryBlobStore()
    text = b"hello world\n" * 2000
    pdf = b"%PDF-1.4\n" + b"0" * 30_000
    body = _body(("file", "a.txt", text), ("file", "b.pdf", pdf), ("auto_classify", None, b"no"))
    received = await _receiver(blobs).receive(CONTENT_TYPE, _chunks(body, 777))
    assert received.errors == []
    assert received.fields == {"auto_classify": "no"}
    first, second = received.files
    assert (first.filename, first.content_type, first.size_bytes) == ("a.txt", "text/plain", 24000)
    assert first.sha256 == hashlib.sha256(text).hexdigest()
    assert second.content_type == "application/pdf"
    assert blobs.objects[first.object_key] == (text, "text/plain")
    assert first.object_key == f"{OWNER}/{first.document_id}/original"


async def test_an_oversized_file_is_reported_and_removed_the_others_stand() -> None:
    blobs = InMemoryBlobStore()
    body = _body(("file", "big.txt", b"x" * 60_000), ("file", "ok.txt", b"fine"))
    received = await _receiver(blobs).receive(CONTENT_TYPE, _chunks(body))
    assert [f.filename for f in received.files] == ["ok.txt"]
    [error] = received.errors
    assert (error.filename, error.status) == ("big.txt", 413)
    assert "50000 bytes" in error.detail
    assert list(blobs.objects) == [received.files[0].object_key]


async def test_bad_files_get_their_own_error() -> None:
    blobs = InMemoryBlobStore()
    body = _body(
        ("file", "empty.txt", b""),
        ("file", "prog.exe", b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff"),
        ("file", "fine.md", b"# ok"),
        ("file", "fourth.txt", b"one too many"),
    )
    received = await _receiver(blobs).receive(CONTENT_TYPE, _chunks(body))
    statuses = {e.filename: e.status for e in received.errors}
    assert statuses == {"empty.txt": 400, "prog.exe": 415, "fourth.txt": 413}
    assert [f.content_type for f in received.files] == ["text/markdown"]
    assert len(blobs.objects) == 1


async def test_malformed_body_is_a_bad_request_and_stores_nothing() -> None:
    blobs = InMemoryBlobStore()
    body = _body(("file", "a.txt", b"x" * 20_000))[:-300]  # cut mid-part
    with pytest.raises(BadRequestBody, match="ended in the middle"):
        await _receiver(blobs).receive(CONTENT_TYPE, _chunks(body))
    assert blobs.objects == {}


async def test_not_multipart_is_refused() -> None:
    with pytest.raises(BadRequestBody, match="multipart/form-data"):
        await _receiver(InMemoryBlobStore()).receive("application/json", _chunks(b"{}"))


async def test_path_tricks_in_filenames_never_reach_the_key() -> None:
    blobs = InMemoryBlobStore()
    body = _body(("file", "../../../../tmp/evil.txt", b"text"))
    [stored] = (await _receiver(blobs).receive(CONTENT_TYPE, _chunks(body))).files
    assert stored.filename == "evil.txt"
    assert ".." not in stored.object_key
    assert "evil" not in stored.object_key


def _zip_bytes(**members: bytes) -> bytes:
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


async def test_a_zip_that_is_not_a_word_document_is_refused_and_removed() -> None:
    import os

    blobs = InMemoryBlobStore()
    noise = _zip_bytes(**{"noise.bin": os.urandom(20_000)})
    word = _zip_bytes(**{"[Content_Types].xml": b"<x/>", "word/document.xml": b"<w/>"})
    body = _body(("file", "noise.zip", noise), ("file", "letter.docx", word))
    received = await _receiver(blobs).receive(CONTENT_TYPE, _chunks(body))
    [error] = received.errors
    assert (error.filename, error.status) == ("noise.zip", 415)
    assert "not a Word (DOCX) document" in error.detail
    [stored] = received.files
    assert stored.content_type.endswith("wordprocessingml.document")
    assert list(blobs.objects) == [stored.object_key]


async def test_the_fingerprint_is_the_files_not_the_boundary() -> None:
    first = await _receiver(InMemoryBlobStore()).receive(
        CONTENT_TYPE, _chunks(_body(("file", "a.txt", b"alpha"), ("file", "b.txt", b"beta")))
    )
    other_boundary = _body(("file", "a.txt", b"alpha"), ("file", "b.txt", b"beta")).replace(
        BOUNDARY.encode(), b"another-boundary"
    )
    dry_blobs = InMemoryBlobStore()
    dry = UploadReceiver(
        blobs=dry_blobs, owner_id=OWNER, max_bytes=50_000, max_files=3, store=False
    )
    again = await dry.receive(
        "multipart/form-data; boundary=another-boundary", _chunks(other_boundary)
    )
    assert again.fingerprint == first.fingerprint
    assert dry_blobs.objects == {}  # a replay only reads
    changed = await _receiver(InMemoryBlobStore()).receive(
        CONTENT_TYPE, _chunks(_body(("file", "a.txt", b"alpha"), ("file", "b.txt", b"BETA")))
    )
    assert changed.fingerprint != first.fingerprint

"""Issue 9, encryption at rest: the bucket, read raw, holds no document's plaintext — not in the
clear, not compressed (gzip, zlib, raw deflate, zip). The objects open with the key derived as
``crypto``'s docstring says (re-implemented here from the primitives, so the format is what it
claims), and one flipped byte makes every read fail with a clear error."""

import asyncio
import contextlib
import gzip
import hashlib
import io
import uuid
import zipfile
import zlib

import docx
import httpx
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from docuvault.devstack.pytest_plugin import Api
from docuvault.runtime.auth import Keyring, key_id, owner_id_for
from docuvault.runtime.blobstore import BlobIntegrityError, EncryptedBlobStore, S3BlobStore
from docuvault.runtime.crypto import HEADER_SIZE, SEGMENT_SIZE, TAG

DONE = {"classified", "extraction_failed", "classification_failed"}


def _raw_store(api: Api) -> S3BlobStore:
    env = api.stack.config.service_env("ingest")
    return S3BlobStore(
        endpoint=env["DOCUVAULT_S3_ENDPOINT"],
        bucket=env["DOCUVAULT_S3_BUCKET"],
        access_key=env["DOCUVAULT_S3_ACCESS_KEY"],
        secret_key=env["DOCUVAULT_S3_SECRET_KEY"],
        region="us-east-1",
    )


def _inflations(data: bytes) -> list[bytes]:
    """Everything ``data`` decompresses to as gzip, zlib, raw deflate or a zip archive."""
    found: list[bytes] = []
    for wbits in (31, 15, -15, 47):  # gzip, zlib, raw deflate (zip members), auto-detected
        with contextlib.suppress(zlib.error):
            found.append(zlib.decompressobj(wbits).decompress(data))
    with contextlib.suppress(OSError, EOFError):
        found.append(gzip.decompress(data))
    with (
        contextlib.suppress(zipfile.BadZipFile, OSError, EOFError, ValueError),
        zipfile.ZipFile(io.BytesIO(data)) as archive,
    ):
        found += [archive.read(member) for member in archive.namelist()]
    return found


def _open_by_hand(secret: str, key: str, sealed: bytes) -> bytes:
    """Decrypt an object from the documented layout with nothing but HKDF and AES-GCM."""
    owner = uuid.UUID(key.split("/", 1)[0])
    kek = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=b"docuvault/blob-kek/v1", info=owner.bytes
    ).derive(secret.encode())
    header = sealed[:HEADER_SIZE]
    assert header[:4] == b"DVE1"
    assert header[8:24].decode() == key_id(secret)
    data_key = AESGCM(kek).decrypt(
        header[24:36], header[36:HEADER_SIZE], header[:24] + key.encode()
    )
    context = hashlib.sha256(header + b"\x00" + key.encode()).digest()
    size = 1 << header[5]
    assert size == SEGMENT_SIZE
    body = sealed[HEADER_SIZE:]
    stored = size + TAG
    pieces = [body[i : i + stored] for i in range(0, len(body), stored)]
    plain = b""
    for index, piece in enumerate(pieces):
        final = b"\x01" if index == len(pieces) - 1 else b"\x00"
        aad = context + index.to_bytes(8, "big") + final
        plain += AESGCM(data_key).decrypt(index.to_bytes(12, "big"), piece, aad)
    return plain


def _word_file(text: str) -> bytes:
    document = docx.Document()
    document.add_paragraph(text)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


async def _wait_done(client: httpx.AsyncClient, api: Api, owner: str, document_id: str) -> None:
    status = None
    for _ in range(300):
        seen = await client.get(
            f"{api.catalog}/v1/documents/{document_id}", headers=api.auth(owner)
        )
        status = seen.json().get("status") if seen.status_code == 200 else None
        if status in DONE:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{document_id} not processed within 30 s: {status}")


async def test_the_bucket_read_raw_reveals_no_plaintext_and_tampering_fails(api: Api) -> None:
    owner = f"sealed-{uuid.uuid4()}"
    marker = f"confidential-{uuid.uuid4().hex}"
    # compressible on purpose: a store that gzips before "encrypting" would still leak it
    letter = (f"Medical letter {marker}. The patient is well. " * 2000).encode()
    files = {
        "letter.txt": letter,
        "letter.docx": _word_file(f"Tax statement {marker} for the year."),
    }
    secret = api.stack.config.secrets()["DOCUVAULT_SECRET_KEY"]
    async with httpx.AsyncClient(timeout=30) as client:
        answer = await client.post(
            f"{api.ingest}/v1/documents",
            files=[("file", (name, data)) for name, data in files.items()],
            headers=api.auth(owner),
        )
        assert answer.status_code == 202, answer.text
        ids = {d["filename"]: d["document_id"] for d in answer.json()["documents"]}
        await asyncio.gather(*(_wait_done(client, api, owner, i) for i in ids.values()))
        text = await client.get(
            f"{api.catalog}/v1/documents/{ids['letter.txt']}/text", headers=api.auth(owner)
        )
        assert marker in text.text

        prefix = f"{owner_id_for(owner)}/"
        async with _raw_store(api) as raw:
            everything = await raw.list("")
            mine = [b.key for b in everything if b.key.startswith(prefix)]
            # originals, extracted text and pages of both, the classifier's state of the owner
            assert {f"{prefix}{i}/original" for i in ids.values()} <= set(mine)
            assert len(mine) >= 2 * len(ids) + 1, mine
            for info in everything:
                stored = await raw.get(info.key)
                assert marker.encode() not in stored, info.key
                for inflated in _inflations(stored):
                    assert marker.encode() not in inflated, info.key
                if info.key in mine:
                    assert stored[:4] == b"DVE1", f"{info.key} is not sealed"

            original_key = f"{prefix}{ids['letter.txt']}/original"
            sealed = await raw.get(original_key)
            assert _open_by_hand(secret, original_key, sealed) == letter
            assert len(sealed) > 2 * SEGMENT_SIZE  # several segments: each opened on its own

            # one flipped byte, in the header, the first segment or the last: every read fails
            sealed_store = EncryptedBlobStore(raw, Keyring(secret))
            for position in (30, HEADER_SIZE + 5, len(sealed) - 3):
                damaged = bytearray(sealed)
                damaged[position] ^= 0x01
                await raw.put(original_key, bytes(damaged), content_type="application/octet-stream")
                with pytest.raises(BlobIntegrityError, match=r"altered|authentication|truncated"):
                    await sealed_store.get(original_key)
                served = await _served(client, api, owner, ids["letter.txt"])
                if position < len(sealed) - SEGMENT_SIZE:  # found before the response begins
                    assert served.startswith("the stored file failed its integrity check"), served
                else:  # found after the first segments went out: the body is cut short
                    assert served.startswith("cut short"), served
            await raw.put(original_key, sealed, content_type="application/octet-stream")
            assert await sealed_store.get(original_key) == letter


async def _served(client: httpx.AsyncClient, api: Api, owner: str, document_id: str) -> str:
    """How the catalog's /content fails on an altered object."""
    url = f"{api.catalog}/v1/documents/{document_id}/content"
    try:
        answer = await client.get(url, headers=api.auth(owner))
    except httpx.HTTPError as exc:  # failed after the headers went out: the body is cut short
        return f"cut short: {type(exc).__name__}"
    assert answer.status_code == 500, "the catalog served an altered file as if it were fine"
    detail: str = answer.json()["detail"]
    return detail

"""Encryption at rest (issue 9): the segmented AES-256-GCM format inside the ``BlobStore`` port."""

import os
import random
import uuid

import pytest

from docuvault.runtime import crypto
from docuvault.runtime.auth import Keyring
from docuvault.runtime.blobstore import BlobIntegrityError, BlobNotFound, EncryptedBlobStore
from docuvault.runtime.testing import InMemoryBlobStore

CURRENT = "current-secret-" + "k" * 20 + "0123456789"
OLD = "an-older-secret-" + "z" * 20 + "9876543210"
SEGMENT = 1024  # small segments: many of them in small test objects
OWNER = uuid.uuid4()
SIZES = [0, 1, SEGMENT - 1, SEGMENT, SEGMENT + 1, 3 * SEGMENT, 3 * SEGMENT + 17]


def _store(keyring: Keyring | None = None) -> tuple[EncryptedBlobStore, InMemoryBlobStore]:
    raw = InMemoryBlobStore()
    return EncryptedBlobStore(raw, keyring or Keyring(CURRENT), segment_size=SEGMENT), raw


def _key(name: str = "original") -> str:
    return f"{OWNER}/{uuid.uuid4()}/{name}"


@pytest.mark.parametrize("size", SIZES)
async def test_round_trip_put_writer_get_stream(size: int) -> None:
    store, raw = _store()
    data = os.urandom(size)
    key = _key()
    await store.put(key, data, content_type="application/pdf")
    assert await store.get(key) == data
    assert b"".join([c async for c in store.stream(key)]) == data
    stored = raw.objects[key][0]
    assert len(stored) == crypto.sealed_size(size, SEGMENT)
    assert raw.objects[key][1] == "application/octet-stream"  # the type is not revealed
    head = await store.head(key)
    assert head is not None
    assert head.size == size
    # the same bytes written as a stream, in awkward chunks
    other = _key()
    async with store.writer(other, content_type="text/plain") as writer:
        for start in range(0, size, 333):
            await writer.write(data[start : start + 333])
    assert await store.get(other) == data
    assert len(raw.objects[other][0]) == len(stored)


async def test_ranges_read_only_their_segments_and_match_the_plaintext() -> None:
    store, _ = _store()
    data = os.urandom(5 * SEGMENT + 100)
    key = _key()
    await store.put(key, data, content_type="x")
    rng = random.Random(7)
    cases: list[tuple[int, int | None]] = [(0, 1), (0, SEGMENT), (SEGMENT, 2 * SEGMENT)]
    cases.append((SEGMENT - 1, SEGMENT + 1))
    cases += [(len(data) - 1, len(data)), (len(data) - 5, None), (3 * SEGMENT, None)]
    cases += [(len(data), None), (len(data) + 10, len(data) + 20), (5, 5)]
    for _ in range(40):
        a = rng.randrange(len(data))
        cases.append((a, rng.randrange(a, len(data) + 50)))
    for start, end in cases:
        got = b"".join([c async for c in store.stream(key, start=start, end=end)])
        assert got == data[start:end], (start, end)
    assert await store.get(key, max_bytes=10) == data[:10]


async def test_no_plaintext_in_what_is_stored() -> None:
    store, raw = _store()
    text = b"Confidential medical letter for Jane Example, patient number 12345. " * 50
    key = _key()
    await store.put(key, text, content_type="text/plain")
    stored = raw.objects[key][0]
    assert b"Confidential" not in stored
    assert b"Jane Example" not in stored
    # the same plaintext twice gives unrelated ciphertexts (a fresh data key each time)
    await store.put(key + "2", text, content_type="text/plain")
    assert raw.objects[key + "2"][0][crypto.HEADER_SIZE :] != stored[crypto.HEADER_SIZE :]


async def test_flipping_any_byte_makes_the_read_fail() -> None:
    store, raw = _store()
    data = os.urandom(2 * SEGMENT + 50)
    key = _key()
    await store.put(key, data, content_type="x")
    sealed = raw.objects[key][0]
    positions = list(range(crypto.HEADER_SIZE))  # every header byte
    positions += [*range(crypto.HEADER_SIZE, len(sealed), 97), len(sealed) - 1]
    for position in positions:
        tampered = bytearray(sealed)
        tampered[position] ^= 0x01
        raw.objects[key] = (bytes(tampered), "x")
        with pytest.raises(BlobIntegrityError):
            await store.get(key)
    raw.objects[key] = (sealed, "x")
    assert await store.get(key) == data


async def test_truncating_extending_reordering_or_moving_fails() -> None:
    store, raw = _store()
    data = os.urandom(3 * SEGMENT)
    key = _key()
    await store.put(key, data, content_type="x")
    sealed = raw.objects[key][0]
    stored = SEGMENT + crypto.TAG
    h = crypto.HEADER_SIZE
    segments = [sealed[h + i * stored : h + (i + 1) * stored] for i in range(3)]
    variants = {
        "truncated at a segment boundary": sealed[: h + 2 * stored],
        "truncated inside a segment": sealed[:-5],
        "header only": sealed[:h],
        "extended": sealed + b"\x00" * 16,
        "an extra segment": sealed + segments[0],
        "segments swapped": sealed[:h] + segments[1] + segments[0] + segments[2],
        "empty": b"",
    }
    for body in variants.values():
        raw.objects[key] = (body, "x")
        with pytest.raises(BlobIntegrityError):
            await store.get(key)
    # the intact object copied under another key (same owner, or another owner's prefix)
    for elsewhere in (_key(), f"{uuid.uuid4()}/{uuid.uuid4()}/original"):
        raw.objects[elsewhere] = (sealed, "x")
        with pytest.raises(BlobIntegrityError, match="data key does not open"):
            await store.get(elsewhere)
    # a truncated object read by range: the missing end is noticed
    raw.objects[key] = (sealed[: h + stored], "x")
    with pytest.raises(BlobIntegrityError, match="truncated"):
        _ = [c async for c in store.stream(key, start=SEGMENT + 5, end=SEGMENT + 10)]
    with pytest.raises(BlobIntegrityError, match="truncated"):
        _ = [c async for c in store.stream(key, start=5)]


async def test_plaintext_objects_are_refused_not_passed_through() -> None:
    store, raw = _store()
    key = _key()
    raw.objects[key] = (b"%PDF-1.7 written without encryption" + b"." * 200, "application/pdf")
    with pytest.raises(BlobIntegrityError, match="not an encrypted DocuVault object"):
        await store.get(key)


async def test_missing_object_is_not_found() -> None:
    store, _ = _store()
    with pytest.raises(BlobNotFound):
        await store.get(_key())
    with pytest.raises(BlobNotFound):
        _ = [c async for c in store.stream(_key(), start=SEGMENT * 3)]


async def test_rotation_old_objects_stay_readable_new_ones_use_the_current_key() -> None:
    before, raw = _store(Keyring(OLD))
    key = _key()
    await before.put(key, b"sealed before the rotation", content_type="x")
    rotated = EncryptedBlobStore(raw, Keyring(CURRENT, previous=[OLD]), segment_size=SEGMENT)
    assert await rotated.get(key) == b"sealed before the rotation"
    retired = EncryptedBlobStore(raw, Keyring(CURRENT, retired=[OLD]), segment_size=SEGMENT)
    assert await retired.get(key) == b"sealed before the rotation"
    new = _key()
    await rotated.put(new, b"after", content_type="x")
    header = crypto.Header.parse(raw.objects[new][0], new)
    assert header.kid == Keyring(CURRENT).current.kid
    forgotten = EncryptedBlobStore(raw, Keyring(CURRENT), segment_size=SEGMENT)
    with pytest.raises(BlobIntegrityError, match="not in the keyring"):
        await forgotten.get(key)


def test_decrypting_with_the_derived_key_by_hand() -> None:
    """The documented format, read with nothing but the key hierarchy and AES-GCM."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    keyring = Keyring(CURRENT)
    cipher = crypto.ObjectCipher(keyring)
    key = _key("extracted/1/text.txt")
    plaintext = os.urandom(crypto.SEGMENT_SIZE + 10)
    sealed = cipher.seal(key, plaintext)
    header = sealed[: crypto.HEADER_SIZE]
    assert header[:4] == b"DVE1"
    assert header[8:24].decode() == keyring.current.kid
    kek = crypto.owner_key(CURRENT.encode(), OWNER)
    data_key = AESGCM(kek).decrypt(header[24:36], header[36:84], header[:24] + key.encode())
    import hashlib

    context = hashlib.sha256(header + b"\x00" + key.encode()).digest()
    body = sealed[crypto.HEADER_SIZE :]
    stored = crypto.SEGMENT_SIZE + crypto.TAG
    out = b""
    for index, offset in enumerate(range(0, len(body), stored)):
        final = offset + stored >= len(body)
        aad = context + index.to_bytes(8, "big") + (b"\x01" if final else b"\x00")
        out += AESGCM(data_key).decrypt(
            index.to_bytes(12, "big"), body[offset : offset + stored], aad
        )
    assert out == plaintext


def test_sizes_convert_both_ways() -> None:
    for size in [*SIZES, 10 * SEGMENT - 1, 10 * SEGMENT]:
        assert crypto.plain_size(crypto.sealed_size(size, SEGMENT), SEGMENT) == size


def test_owner_of_key_prefix() -> None:
    assert crypto.owner_of(f"{OWNER}/x/original") == OWNER
    assert crypto.owner_of("bench/x") == crypto.NIL_OWNER
    assert crypto.owner_key(b"s", OWNER) != crypto.owner_key(b"s", uuid.uuid4())

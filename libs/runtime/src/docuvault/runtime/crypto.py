"""Encryption at rest: AES-256-GCM in fixed-size segments, so objects stream and seek.

Key hierarchy
  root secret (keyring entry, ``kid``)
    └─ owner key  = HKDF-SHA256(secret, salt=b"docuvault/blob-kek/v1", info=owner id bytes)
         └─ data key: 32 random bytes per object, stored wrapped (AES-256-GCM) in the header

The owner is the UUID the object key starts with (``{owner_id}/…``); a key with no owner
prefix uses the nil UUID.

Object layout (integers big-endian)::

    header, HEADER_SIZE = 84 bytes
       0  4  magic b"DVE1"
       4  1  format version (1)
       5  1  log2 of the segment size (16: 64 KiB)
       6  2  zero
       8 16  kid of the root secret (ASCII hex)
      24 12  nonce of the wrapped data key
      36 48  wrapped data key (32 bytes + 16-byte tag),
             AAD = header[0:24] || object key (UTF-8)
    segments: segment i = AES-256-GCM(data key, nonce = i as 12 bytes,
             AAD = SHA-256(header || 0x00 || object key) || i (8 bytes) || final (1 byte)),
             ciphertext || 16-byte tag; every segment holds SEGMENT_SIZE plaintext bytes but
             the last, which holds 1…SEGMENT_SIZE (0 only for an empty object) and is the only
             one marked final.

Binding each segment to its index, to the object's key and header, and marking the last one
means that changing, swapping, moving, truncating or extending any byte makes the read fail
(``IntegrityError``); a range of segments can still be read and checked on its own.
"""

from __future__ import annotations

import hashlib
import os
import struct
import uuid
from collections import OrderedDict
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from docuvault.runtime.auth import Keyring

MAGIC = b"DVE1"
VERSION = 1
SEGMENT_LOG2 = 16
SEGMENT_SIZE = 1 << SEGMENT_LOG2
TAG = 16
HEADER_SIZE = 84
KID_BYTES = 16
NIL_OWNER = uuid.UUID(int=0)
_KEK_SALT = b"docuvault/blob-kek/v1"


class IntegrityError(Exception):
    """An encrypted object failed authentication: altered, truncated, or not ours."""


class UnknownKey(Exception):
    """An object was sealed with a secret that is not in the keyring."""


def owner_of(key: str) -> uuid.UUID:
    """The owner whose key seals an object: the UUID its key starts with, else the nil UUID."""
    head = key.split("/", 1)[0]
    try:
        return uuid.UUID(head)
    except ValueError:
        return NIL_OWNER


def owner_key(secret: bytes, owner: uuid.UUID) -> bytes:
    """The per-owner key-encryption key derived from one root secret."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=_KEK_SALT, info=owner.bytes).derive(
        secret
    )


def segment_count(plain_size: int, segment_size: int = SEGMENT_SIZE) -> int:
    return max(1, -(-plain_size // segment_size))


def sealed_size(plain_size: int, segment_size: int = SEGMENT_SIZE) -> int:
    return HEADER_SIZE + plain_size + TAG * segment_count(plain_size, segment_size)


def plain_size(stored_size: int, segment_size: int = SEGMENT_SIZE) -> int:
    """The plaintext size of a sealed object of ``stored_size`` bytes (0 if it cannot be one)."""
    body = stored_size - HEADER_SIZE
    if body < TAG:
        return 0
    segments = -(-body // (segment_size + TAG))
    return max(0, body - TAG * segments)


@dataclass(frozen=True)
class Header:
    raw: bytes
    kid: str
    segment_size: int
    wrap_nonce: bytes
    wrapped_key: bytes

    @classmethod
    def parse(cls, raw: bytes, key: str) -> Header:
        if len(raw) < HEADER_SIZE:
            raise IntegrityError(f"object {key} is too short to be encrypted ({len(raw)} bytes)")
        raw = raw[:HEADER_SIZE]
        magic, version, log2, zero = struct.unpack(">4sBBH", raw[:8])
        if magic != MAGIC or version != VERSION or zero != 0 or not 10 <= log2 <= 24:
            raise IntegrityError(
                f"object {key} is not an encrypted DocuVault object (bad header): altered, or "
                "written without encryption"
            )
        try:
            kid = raw[8:24].decode("ascii")
        except UnicodeDecodeError as exc:
            raise IntegrityError(f"object {key} has a damaged key id") from exc
        return cls(raw, kid, 1 << log2, raw[24:36], raw[36:HEADER_SIZE])


class ObjectCipher:
    """Seals and opens objects with the keyring (new objects: the current secret)."""

    def __init__(self, keyring: Keyring, *, segment_size: int = SEGMENT_SIZE) -> None:
        if segment_size.bit_length() - 1 not in range(10, 25) or segment_size & (segment_size - 1):
            raise ValueError("segment size must be a power of two between 1 KiB and 16 MiB")
        self.keyring = keyring
        self.segment_size = segment_size
        self._keks: OrderedDict[tuple[str, uuid.UUID], AESGCM] = OrderedDict()

    def _kek(self, kid: str, owner: uuid.UUID, key: str) -> AESGCM:
        cached = self._keks.get((kid, owner))
        if cached is not None:
            self._keks.move_to_end((kid, owner))
            return cached
        root = self.keyring.get(kid)
        if root is None:
            raise UnknownKey(
                f"object {key} was encrypted with key id {kid}, which is not in the keyring: "
                "add its secret to DOCUVAULT_PREVIOUS_SECRET_KEYS or _RETIRED_SECRET_KEYS"
            )
        kek = AESGCM(owner_key(root.material, owner))
        self._keks[(kid, owner)] = kek
        while len(self._keks) > 4096:
            self._keks.popitem(last=False)
        return kek

    # --- sealing -------------------------------------------------------------------------------
    def sealer(self, key: str) -> Sealer:
        kid = self.keyring.current.kid
        data_key = AESGCM.generate_key(bit_length=256)
        nonce = os.urandom(12)
        prefix = struct.pack(">4sBBH", MAGIC, VERSION, self.segment_size.bit_length() - 1, 0)
        prefix += kid.encode("ascii")
        wrapped = self._kek(kid, owner_of(key), key).encrypt(nonce, data_key, prefix + key.encode())
        header = prefix + nonce + wrapped
        assert len(header) == HEADER_SIZE
        return Sealer(header, key, data_key, self.segment_size)

    def seal(self, key: str, plaintext: bytes) -> bytes:
        sealer = self.sealer(key)
        return sealer.header + sealer.update(plaintext) + sealer.finish()

    # --- opening -------------------------------------------------------------------------------
    def opener(self, key: str, header: bytes) -> Opener:
        parsed = Header.parse(header, key)
        kek = self._kek(parsed.kid, owner_of(key), key)
        try:
            data_key = kek.decrypt(
                parsed.wrap_nonce, parsed.wrapped_key, parsed.raw[:24] + key.encode()
            )
        except InvalidTag as exc:
            raise IntegrityError(
                f"object {key}: its data key does not open (header altered, object moved from "
                "another key, or another owner's)"
            ) from exc
        return Opener(parsed, key, data_key)

    def open(self, key: str, data: bytes) -> bytes:
        """The plaintext of a whole sealed object (checks every segment and the end)."""
        opener = self.opener(key, data[:HEADER_SIZE])
        return b"".join(opener.open_all(data[HEADER_SIZE:]))


def _context(header: bytes, key: str) -> bytes:
    return hashlib.sha256(header + b"\x00" + key.encode()).digest()


def _aad(context: bytes, index: int, final: bool) -> bytes:
    return context + index.to_bytes(8, "big") + (b"\x01" if final else b"\x00")


def _nonce(index: int) -> bytes:
    return index.to_bytes(12, "big")


class Sealer:
    """Encrypts a stream: ``update`` returns the complete segments so far, ``finish`` the last."""

    def __init__(self, header: bytes, key: str, data_key: bytes, segment_size: int) -> None:
        self.header = header
        self._aead = AESGCM(data_key)
        self._context = _context(header, key)
        self._size = segment_size
        self._buffer = bytearray()
        self._index = 0
        self._done = False

    def update(self, data: bytes) -> bytes:
        if self._done:
            raise RuntimeError("sealer already finished")
        self._buffer += data
        out = bytearray()
        # keep at least one byte back: the last segment is sealed by finish(), marked final
        while len(self._buffer) > self._size:
            out += self._seal(bytes(self._buffer[: self._size]), final=False)
            del self._buffer[: self._size]
        return bytes(out)

    def finish(self) -> bytes:
        if self._done:
            raise RuntimeError("sealer already finished")
        self._done = True
        last = self._seal(bytes(self._buffer), final=True)
        self._buffer.clear()
        return last

    def _seal(self, plain: bytes, *, final: bool) -> bytes:
        sealed = self._aead.encrypt(
            _nonce(self._index), plain, _aad(self._context, self._index, final)
        )
        self._index += 1
        return sealed


class Opener:
    """Decrypts and checks segments of one object, in order or from any segment on."""

    def __init__(self, header: Header, key: str, data_key: bytes) -> None:
        self.header = header
        self.key = key
        self.segment_size = header.segment_size
        self.stored_segment = header.segment_size + TAG
        self._aead = AESGCM(data_key)
        self._context = _context(header.raw, key)

    def segment(self, index: int, sealed: bytes) -> tuple[bytes, bool]:
        """The plaintext of segment ``index`` and whether it is the object's last one."""
        if len(sealed) < TAG or len(sealed) > self.stored_segment:
            raise IntegrityError(f"object {self.key}: segment {index} has a wrong length")
        # a short segment can only be the last; a full one is usually not (try that first)
        tries = (False, True) if len(sealed) == self.stored_segment else (True,)
        for final in tries:
            try:
                plain = self._aead.decrypt(_nonce(index), sealed, _aad(self._context, index, final))
            except InvalidTag:
                continue
            return plain, final
        raise IntegrityError(
            f"object {self.key}: segment {index} fails authentication (altered, reordered "
            "or truncated)"
        )

    def open_all(self, body: bytes, first: int = 0) -> list[bytes]:
        """Every segment of ``body`` (sealed segments from ``first`` on, to the object's end)."""
        out: list[bytes] = []
        reader = SegmentReader(self, first)
        out += reader.feed(body)
        out += reader.end(expect_final=True)
        return out


class SegmentReader:
    """Feeds sealed bytes from segment ``first`` on; returns each segment's plaintext."""

    def __init__(self, opener: Opener, first: int = 0) -> None:
        self.opener = opener
        self.index = first
        self.final_seen = False
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        self._buffer += data
        out: list[bytes] = []
        size = self.opener.stored_segment
        while len(self._buffer) >= size:
            out.append(self._next(bytes(self._buffer[:size])))
            del self._buffer[:size]
        return out

    def end(self, *, expect_final: bool) -> list[bytes]:
        """The data ended: open what is left; ``expect_final`` when it should be the object's
        end (a read to the end, or a range that came back short)."""
        out: list[bytes] = []
        if self._buffer:
            out.append(self._next(bytes(self._buffer)))
            self._buffer.clear()
        if expect_final and not self.final_seen:
            raise IntegrityError(f"object {self.opener.key} is truncated (no final segment)")
        return out

    def _next(self, sealed: bytes) -> bytes:
        if self.final_seen:
            raise IntegrityError(f"object {self.opener.key} has data after its final segment")
        plain, self.final_seen = self.opener.segment(self.index, sealed)
        self.index += 1
        return plain

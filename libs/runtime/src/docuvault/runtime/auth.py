"""Bearer tokens (DESIGN §5): JWT HS256 signed with a key derived by HKDF-SHA256 from a secret.

The secrets form a **keyring** (``Keyring``): the current secret signs new tokens (and seals new
objects, see ``crypto``); previous secrets still verify the tokens they signed until those
expire; retired secrets verify no token any more but still open the objects they sealed. Each
secret is named by a key id (``kid``) derived from it, carried in the token's header and in the
header of every encrypted object.

Revoked tokens are refused through a ``DenyList`` each service fills from its own database.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

import jwt
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

ISSUER = "docuvault"
AUDIENCE = "docuvault-api"
DEFAULT_SCOPES = ("documents:read", "documents:write", "topics:write")
ALL_SCOPES = (*DEFAULT_SCOPES, "admin")
DEFAULT_TTL = timedelta(days=30)
#: the longest lifetime a token may have: longer ones are neither issued nor accepted, so a
#: revoked jti whose expiry is unknown is refused for this long (DESIGN §3 auth.token_revoked.v1)
MAX_TTL = timedelta(days=366)
#: clock skew tolerated on a token's lifetime cap and a revocation's end (never on ``exp``:
#: an expired token is refused at once)
LEEWAY = timedelta(seconds=30)
#: fixed namespace: the same owner name gives the same owner id on every installation
OWNER_NAMESPACE = uuid.UUID("5b0f4a7e-3c1d-5e8a-9f26-d0c0a17e5a11")

log = logging.getLogger("docuvault.auth")


def owner_id_for(name: str) -> uuid.UUID:
    return uuid.uuid5(OWNER_NAMESPACE, name)


def key_id(secret: str) -> str:
    """The key id of a secret: names it without revealing it (a hash of its JWT key)."""
    return SigningKey.derive(secret).kid


@dataclass(frozen=True)
class SigningKey:
    kid: str
    key: bytes

    @classmethod
    def derive(cls, secret: str) -> SigningKey:
        key = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=b"docuvault", info=b"jwt-hs256-v1"
        ).derive(secret.encode())
        # the key id names the key without revealing it: a hash of the derived key
        return cls(kid=hashlib.sha256(b"kid:" + key).hexdigest()[:16], key=key)


KeyState = Literal["current", "previous", "retired"]


@dataclass(frozen=True)
class RootKey:
    """One secret of the keyring. ``material`` is the secret itself: only key derivations
    (HKDF with a purpose of their own) ever use it."""

    kid: str
    state: KeyState
    signing: SigningKey
    material: bytes

    def __repr__(self) -> str:  # never print key material
        return f"RootKey(kid={self.kid!r}, state={self.state!r})"


class Keyring:
    """The installation's secrets: one current, any number of previous and retired ones."""

    def __init__(
        self, current: str, previous: Iterable[str] = (), retired: Iterable[str] = ()
    ) -> None:
        self._keys: dict[str, RootKey] = {}
        states: list[tuple[KeyState, Iterable[str]]] = [
            ("current", [current]),
            ("previous", previous),
            ("retired", retired),
        ]
        for state, secrets in states:
            for secret in secrets:
                signing = SigningKey.derive(secret)
                if signing.kid in self._keys:
                    continue  # the same secret listed twice keeps its first (strongest) role
                self._keys[signing.kid] = RootKey(signing.kid, state, signing, secret.encode())
        self.current = self._keys[SigningKey.derive(current).kid]

    @classmethod
    def of(cls, keys: str | Keyring) -> Keyring:
        return keys if isinstance(keys, Keyring) else cls(keys)

    def get(self, kid: str) -> RootKey | None:
        return self._keys.get(kid)

    def verifying(self, kid: str) -> SigningKey | None:
        """The key that may verify a token with this ``kid``: current or previous only."""
        root = self._keys.get(kid)
        return root.signing if root is not None and root.state != "retired" else None

    @property
    def kids(self) -> dict[str, KeyState]:
        return {kid: k.state for kid, k in self._keys.items()}


@dataclass(frozen=True)
class Principal:
    """Who is calling: the owner whose documents they may touch, and what they may do."""

    owner_id: uuid.UUID
    name: str | None
    scopes: frozenset[str]
    jti: str
    expires_at: datetime


class InvalidToken(Exception):
    """The token is missing, malformed, expired, or not signed by this installation."""


def issue_token(
    secret: str | Keyring,
    owner: str,
    *,
    ttl: timedelta = DEFAULT_TTL,
    scopes: tuple[str, ...] = DEFAULT_SCOPES,
    now: datetime | None = None,
) -> str:
    """A token for ``owner`` signed with the current key (of the keyring, or of ``secret``)."""
    unknown = set(scopes) - set(ALL_SCOPES)
    if unknown:
        raise ValueError(f"unknown scope(s) {sorted(unknown)}; known: {' '.join(ALL_SCOPES)}")
    if ttl > MAX_TTL:
        raise ValueError(f"a token lives at most {MAX_TTL.days} days")
    signing = Keyring.of(secret).current.signing
    issued = now or datetime.now(UTC)
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": str(owner_id_for(owner)),
        "name": owner,
        "iat": int(issued.timestamp()),
        "exp": int((issued + ttl).timestamp()),
        "jti": uuid.uuid4().hex,
        "scope": " ".join(scopes),
    }
    return jwt.encode(claims, signing.key, algorithm="HS256", headers={"kid": signing.kid})


@dataclass(frozen=True)
class TokenFacts:
    """What a token says about itself once its signature is checked (expired or not)."""

    jti: str
    owner_id: uuid.UUID | None
    expires_at: datetime


class TokenVerifier:
    def __init__(self, keys: str | Keyring) -> None:
        self.keyring = Keyring.of(keys)

    def _key(self, token: str) -> SigningKey:
        kid = jwt.get_unverified_header(token).get("kid")
        if not isinstance(kid, str):
            raise InvalidToken("token has no key id: create a new one")
        root = self.keyring.get(kid)
        if root is None:
            raise InvalidToken("token was not signed by a key of this installation")
        if root.state == "retired":
            raise InvalidToken("token was signed with a retired key: create a new one")
        return root.signing

    def verify(self, token: str) -> Principal:
        try:
            claims = jwt.decode(
                token,
                self._key(token).key,
                algorithms=["HS256"],
                audience=AUDIENCE,
                issuer=ISSUER,
                options={"require": ["exp", "sub", "jti", "iss", "aud"]},
            )
            expires_at = datetime.fromtimestamp(claims["exp"], UTC)
            if expires_at > datetime.now(UTC) + MAX_TTL + LEEWAY:
                raise InvalidToken(f"token lives longer than {MAX_TTL.days} days: create a new one")
            return Principal(
                owner_id=uuid.UUID(claims["sub"]),
                name=claims.get("name"),
                scopes=frozenset(str(claims.get("scope", "")).split()),
                jti=str(claims["jti"]),
                expires_at=expires_at,
            )
        except jwt.ExpiredSignatureError as exc:
            raise InvalidToken("token has expired: create a new one") from exc
        except (jwt.PyJWTError, ValueError, TypeError) as exc:
            raise InvalidToken(f"token is invalid: {exc}") from exc

    def facts(self, token: str) -> TokenFacts:
        """The jti, owner and expiry of a token this installation signed (even if expired or
        signed with a retired key): what revoking it needs."""
        try:
            kid = jwt.get_unverified_header(token).get("kid")
            root = self.keyring.get(kid) if isinstance(kid, str) else None
            if root is None:
                raise InvalidToken("token was not signed by a key of this installation")
            claims = jwt.decode(
                token,
                root.signing.key,
                algorithms=["HS256"],
                audience=AUDIENCE,
                issuer=ISSUER,
                options={"verify_exp": False, "require": ["exp", "jti"]},
            )
            owner = claims.get("sub")
            return TokenFacts(
                jti=str(claims["jti"]),
                owner_id=uuid.UUID(owner) if isinstance(owner, str) else None,
                expires_at=datetime.fromtimestamp(claims["exp"], UTC),
            )
        except (jwt.PyJWTError, ValueError, TypeError) as exc:
            raise InvalidToken(f"token is invalid: {exc}") from exc


# --- revocation ----------------------------------------------------------------------------------
Loader = Callable[[], Awaitable[Mapping[str, datetime]]]


class DenyList:
    """The revoked tokens (jti → until when) a service refuses, kept in memory.

    The service's database is the truth: ``keep_fresh`` reloads it every ``interval_s`` (so
    every process of a service learns a revocation within that time, and after a restart),
    and ``add`` takes effect at once in the process that learnt it first.
    A list not loaded for ``stale_after_s`` is *stale*: callers then refuse to trust tokens.
    """

    def __init__(self, *, stale_after_s: float = 60.0) -> None:
        self._entries: dict[str, datetime] = {}
        self._loaded_at: float | None = None
        self.stale_after_s = stale_after_s

    def add(self, jti: str, expires_at: datetime) -> None:
        self._entries[jti] = max(expires_at, self._entries.get(jti, expires_at))

    def replace(self, entries: Mapping[str, datetime]) -> None:
        local = {j: t for j, t in self._entries.items() if j not in entries}
        self._entries = {**entries}
        now = datetime.now(UTC)
        # keep what this process learnt and its database does not show yet
        for jti, until in local.items():
            if until > now:
                self._entries[jti] = until
        self._loaded_at = time.monotonic()

    def revoked(self, jti: str) -> bool:
        until = self._entries.get(jti)
        return until is not None and until > datetime.now(UTC) - LEEWAY

    @property
    def stale(self) -> bool:
        return self._loaded_at is None or time.monotonic() - self._loaded_at > self.stale_after_s

    def __len__(self) -> int:
        return len(self._entries)

    async def keep_fresh(
        self,
        load: Loader,
        *,
        interval_s: float = 1.0,
        prune: Callable[[], Awaitable[object]] | None = None,
        prune_every_s: float = 600.0,
    ) -> None:
        """Reload from the database forever (run it as a task; cancel it to stop)."""
        pruned = time.monotonic()
        while True:
            try:
                self.replace(await load())
                if prune is not None and time.monotonic() - pruned > prune_every_s:
                    pruned = time.monotonic()
                    await prune()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("could not reload revoked tokens: %s", exc)
            await asyncio.sleep(interval_s)

"""FastAPI dependencies that turn a bearer token into a ``Principal`` and enforce scopes, and the
request limits of the HTTP APIs.

``install(app, settings)`` gives an app what these dependencies use: the token verifier (with
the keyring), the deny-list of revoked tokens, per-token rate limits and the limits on headers
and bodies. Every refusal is a problem document without internal names.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from docuvault.runtime.auth import DenyList, InvalidToken, Keyring, Principal, TokenVerifier
from docuvault.runtime.blobstore import BlobIntegrityError, BlobStore
from docuvault.runtime.problems import Problem, problem_response
from docuvault.runtime.settings import ServiceSettings

log = logging.getLogger("docuvault.security")
_bearer = HTTPBearer(auto_error=False, description="a token from `docuvault token create`")
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="docuvault"'}
#: headers a request may have (beyond: 431)
MAX_HEADERS = 100


class RateLimiter:
    """Token buckets by key (a token's jti, a client address): ``rate`` per second on average,
    ``burst`` at once. Idle buckets are forgotten (the map is bounded)."""

    def __init__(self, rate: float, burst: int, *, max_keys: int = 100_000) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.max_keys = max_keys
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def take(self, key: str, now: float | None = None) -> float | None:
        """Take one request from ``key``'s bucket: None if allowed, else seconds to wait."""
        now = time.monotonic() if now is None else now
        level, then = self._buckets.pop(key, (self.burst, now))
        level = min(self.burst, level + (now - then) * self.rate)
        if level >= 1.0:
            self._buckets[key] = (level - 1.0, now)
            self._trim()
            return None
        self._buckets[key] = (level, now)
        return (1.0 - level) / self.rate

    def _trim(self) -> None:
        while len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)  # the least recently used


def _state(request: Request, name: str) -> Any:
    return getattr(request.app.state, name, None)


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _too_many(wait: float, what: str) -> Problem:
    return Problem(
        429,
        f"too many requests {what}; retry after {math.ceil(wait)} s",
        headers={"Retry-After": str(max(1, math.ceil(wait)))},
    )


async def current_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None:
        raise Problem(
            401,
            "missing bearer token: send 'Authorization: Bearer <token>' "
            "(create one with 'docuvault token create --owner NAME')",
            headers=_CHALLENGE,
        )
    verifier: TokenVerifier = request.app.state.token_verifier
    try:
        principal = verifier.verify(credentials.credentials)
    except InvalidToken as exc:
        failures: RateLimiter | None = _state(request, "auth_failure_limiter")
        wait = failures.take(_client(request)) if failures is not None else None
        if wait is not None:
            raise _too_many(wait, "with invalid tokens from this address") from exc
        raise Problem(401, str(exc), headers=_CHALLENGE) from exc
    # recorded before the checks below: the audit names the caller of a refusal too
    request.state.principal = principal
    deny: DenyList | None = _state(request, "deny_list")
    if deny is not None:
        if deny.revoked(principal.jti):
            raise Problem(401, "token has been revoked: create a new one", headers=_CHALLENGE)
        if deny.stale:
            raise Problem(
                503,
                "the service cannot check token revocations right now; try again shortly",
                headers={"Retry-After": "5"},
            )
    limiter: RateLimiter | None = _state(request, "rate_limiter")
    if limiter is not None:
        wait = limiter.take(principal.jti)
        if wait is not None:
            raise _too_many(wait, "with this token")
    return principal


PrincipalDep = Annotated[Principal, Depends(current_principal)]


def require(scope: str) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency that answers 403 unless the token carries ``scope``."""

    async def dependency(principal: PrincipalDep) -> Principal:
        if scope not in principal.scopes:
            raise Problem(403, f"this token lacks the scope '{scope}'; create one that has it")
        return principal

    return dependency


ReaderDep = Annotated[Principal, Depends(require("documents:read"))]
WriterDep = Annotated[Principal, Depends(require("documents:write"))]
TopicWriterDep = Annotated[Principal, Depends(require("topics:write"))]
AdminDep = Annotated[Principal, Depends(require("admin"))]


def token_fingerprint(token: str) -> str:
    """A short, non-reversible name of a raw token (for logs)."""
    return hashlib.sha256(token.encode()).hexdigest()[:12]


# --- downloads ----------------------------------------------------------------------------------
async def checked_download(blobs: BlobStore, key: str, **span: int) -> AsyncIterator[bytes]:
    """``blobs.stream(key)`` with its first chunk already read and checked, for a streamed
    response: an altered header or first segment answers a clear 500 before the response has
    begun (a later segment that fails cuts the body short: its length then does not match)."""
    stream = blobs.stream(key, **span)
    try:
        first = await anext(stream, b"")
    except BlobIntegrityError as exc:
        log.error("refused to serve %s: %s", key, exc)
        raise Problem(
            500,
            "the stored file failed its integrity check (altered or damaged) and was not "
            "served; the operator has been told in the service log",
        ) from exc

    async def rest() -> AsyncIterator[bytes]:
        if first:
            yield first
        async for chunk in stream:
            yield chunk

    return rest()


# --- wiring --------------------------------------------------------------------------------------
def install(
    app: FastAPI,
    settings: ServiceSettings,
    *,
    deny_list: DenyList | None = None,
    unlimited_body_paths: Iterable[str] = (),
) -> DenyList:
    """Tokens (keyring, deny-list, rate limits) and request limits for an API app.

    ``unlimited_body_paths`` are routes that enforce body limits of their own (uploads).
    Returns the deny-list the app consults; the service keeps it filled.
    """
    keyring: Keyring = settings.keyring()
    deny = deny_list or DenyList()
    app.state.token_verifier = TokenVerifier(keyring)
    app.state.deny_list = deny
    app.state.rate_limiter = RateLimiter(settings.rate_limit_per_s, settings.rate_limit_burst)
    app.state.auth_failure_limiter = RateLimiter(
        settings.auth_failures_per_s, max(1, int(settings.auth_failures_per_s * 10))
    )
    app.add_middleware(
        RequestLimits,
        max_header_bytes=settings.max_header_bytes,
        max_body_bytes=settings.max_body_bytes,
        unlimited_body_paths=tuple(unlimited_body_paths),
    )
    return deny


class RequestLimits:
    """ASGI middleware: too many or too large headers → 431; a body over the limit → 413
    (from Content-Length before reading, or as soon as a chunked body passes it)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_header_bytes: int,
        max_body_bytes: int,
        unlimited_body_paths: tuple[str, ...] = (),
    ) -> None:
        self.app = app
        self.max_header_bytes = max_header_bytes
        self.max_body_bytes = max_body_bytes
        self.unlimited = frozenset(unlimited_body_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers: list[tuple[bytes, bytes]] = scope["headers"]
        size = sum(len(k) + len(v) + 4 for k, v in headers)
        if len(headers) > MAX_HEADERS or size > self.max_header_bytes:
            answer = problem_response(
                431,
                f"request headers too large: at most {MAX_HEADERS} headers and "
                f"{self.max_header_bytes} bytes",
            )
            await answer(scope, receive, send)
            return
        if scope["path"] in self.unlimited:
            await self.app(scope, receive, send)
            return
        limit = self.max_body_bytes
        declared = next((v for k, v in headers if k == b"content-length"), None)
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await problem_response(413, f"request body over the limit of {limit} bytes")(
                scope, receive, send
            )
            return
        await _CountedBody(limit, receive, send).run(self.app, scope)


class _CountedBody:
    """A body without Content-Length, counted as it arrives. Past the limit, the 413 is sent
    from here (raising from ``receive`` would not do: ``BaseHTTPMiddleware`` wraps the error
    in an ExceptionGroup and FastAPI answers "400 error parsing the body"); the app is told
    the client went away and whatever it answers then is dropped."""

    def __init__(self, limit: int, receive: Receive, send: Send) -> None:
        self.limit = limit
        self._receive = receive
        self._send = send
        self.seen = 0
        self.started = False
        self.refused = False
        self.scope: Scope = {"type": "http"}

    async def run(self, app: ASGIApp, scope: Scope) -> None:
        self.scope = scope
        try:
            await app(scope, self.receive, self.send)
        except Exception:
            if not self.refused:
                raise
            log.debug("request refused as too large; the app's error is dropped")

    async def receive(self) -> Message:
        message = await self._receive()
        if message["type"] == "http.request":
            self.seen += len(message.get("body", b""))
            if self.seen > self.limit:
                if not self.refused and not self.started:
                    self.refused = True
                    answer = problem_response(
                        413, f"request body over the limit of {self.limit} bytes"
                    )
                    await answer(self.scope, self._receive, self._send)
                return {"type": "http.disconnect"}
        return message

    async def send(self, message: Message) -> None:
        if self.refused:
            return
        if message["type"] == "http.response.start":
            self.started = True
        await self._send(message)

"""Issue 9, abuse: the limits ``security.install`` gives both APIs — per-token rate limits (429
with Retry-After), bad tokens per address, header and body limits — answered as problem
documents without internals. An app wired exactly as ingest and the catalog wire theirs."""

import contextlib
import uuid
from collections.abc import AsyncIterator

import httpx
from fastapi import FastAPI
from pydantic import BaseModel, SecretStr

from docuvault.runtime import security
from docuvault.runtime.app import create_app
from docuvault.runtime.auth import issue_token
from docuvault.runtime.security import ReaderDep
from docuvault.runtime.settings import ServiceSettings

SECRET = "a-secret-for-the-limits-tests-" + uuid.uuid4().hex


class Note(BaseModel):
    text: str


def _app(**limits: float) -> FastAPI:
    settings = ServiceSettings(
        _env_file=None,
        env="test",
        secret_key=SecretStr(SECRET),
        s3_access_key=SecretStr("unused"),
        s3_secret_key=SecretStr("unused"),
        database_url=SecretStr("postgresql://unused/unused"),
        **limits,  # type: ignore[arg-type]
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield

    app = create_app(title="limits", description="test app", lifespan=lifespan)
    deny = security.install(app, settings)
    deny.replace({})  # loaded: nothing revoked

    @app.post("/v1/notes")
    async def post_note(note: Note, principal: ReaderDep) -> dict[str, str]:
        return {"owner": str(principal.owner_id), "text": note.text}

    return app


def _client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


def _bearer(owner: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(SECRET, owner)}"}


async def test_a_token_over_its_rate_gets_429_with_retry_after_others_do_not() -> None:
    app = _app(rate_limit_per_s=0.5, rate_limit_burst=3)
    busy, calm = _bearer("busy"), _bearer("calm")
    async with _client(app) as client:
        answers = [
            await client.post("/v1/notes", json={"text": "hi"}, headers=busy) for _ in range(5)
        ]
        other = await client.post("/v1/notes", json={"text": "hi"}, headers=calm)
    assert [a.status_code for a in answers] == [200, 200, 200, 429, 429]
    refused = answers[-1]
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert int(refused.headers["Retry-After"]) >= 1
    assert "too many requests with this token" in refused.json()["detail"]
    assert other.status_code == 200  # the limit is per token


async def test_guessing_tokens_from_one_address_is_slowed_down() -> None:
    app = _app(auth_failures_per_s=1)
    async with _client(app) as client:
        statuses = [
            (
                await client.post(
                    "/v1/notes",
                    json={"text": "hi"},
                    headers={"Authorization": f"Bearer guess.{n}.x"},
                )
            ).status_code
            for n in range(12)
        ]
    assert statuses[:10] == [401] * 10  # burst: ten times the rate
    assert statuses[10:] == [429, 429]


async def test_headers_and_bodies_over_their_limits_are_refused() -> None:
    app = _app(max_header_bytes=2048, max_body_bytes=1024)
    async with _client(app) as client:
        big_header = await client.post(
            "/v1/notes", json={"text": "hi"}, headers={**_bearer("a"), "X-Pad": "p" * 4096}
        )
        many = {f"X-H{i}": "1" for i in range(120)}
        many_headers = await client.post(
            "/v1/notes", json={"text": "hi"}, headers={**_bearer("a"), **many}
        )
        big_body = await client.post("/v1/notes", json={"text": "x" * 2000}, headers=_bearer("a"))

        async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it comes
            yield b'{"text": "'
            for _ in range(10):
                yield b"y" * 200
            yield b'"}'

        streamed = await client.post(
            "/v1/notes",
            content=chunks(),
            headers={**_bearer("a"), "Content-Type": "application/json"},
        )
    assert big_header.status_code == 431
    assert many_headers.status_code == 431
    assert big_body.status_code == 413
    assert streamed.status_code == 413
    for answer in (big_header, big_body, streamed):
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert "Traceback" not in answer.text


async def test_errors_name_no_internals() -> None:
    app = _app()
    async with _client(app) as client:
        missing = await client.post("/v1/notes", json={"text": "hi"})
        malformed = await client.post("/v1/notes", content=b"{not json", headers=_bearer("a"))
    assert missing.status_code == 401
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    assert malformed.status_code == 422
    for answer in (missing, malformed):
        body = answer.text
        assert "Traceback" not in body
        assert "docuvault." not in body  # no module names
        assert "postgresql" not in body

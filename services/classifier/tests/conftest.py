"""Fixtures of the classifier's tests: the in-memory ports and a fake LLM HTTP server."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import uvicorn

from docuvault.classifier.domain import Policy
from docuvault.classifier.replica import Replica
from docuvault.runtime.testing import InMemoryBlobStore, RecordingPublisher


@pytest.fixture
def blobs() -> InMemoryBlobStore:
    return InMemoryBlobStore()


@pytest.fixture
def replica(blobs: InMemoryBlobStore) -> Replica:
    return Replica(blobs)


@pytest.fixture
def publisher() -> RecordingPublisher:
    return RecordingPublisher()


@pytest.fixture
def policy() -> Policy:
    """``openai`` is enabled but given no port here, to exercise ``provider_unavailable``."""
    return Policy(
        enabled=frozenset({"local", "openai"}),
        default_provider="local",
        apply_threshold=0.5,
        max_chars=100_000,
    )


# --- a local HTTP server speaking the Anthropic Messages and OpenAI Chat Completions APIs -----
@dataclass
class Reply:
    """One scripted answer: status, JSON body (or raw text), headers, delay before answering."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0


@dataclass
class Seen:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    at: float


class FakeLLM:
    """Answers each request with the next scripted reply (the last one repeats); records them.

    A test sets ``script``; ``respond`` may instead compute a reply from the request (a model
    that reads the prompt, e.g. one obeying an injected instruction).
    """

    #: test modules cannot import conftest (importlib mode): they reach Reply through the fixture
    Reply = Reply

    def __init__(self) -> None:
        self.script: list[Reply] = []
        self.respond: Callable[[Seen], Reply] | None = None
        self.seen: list[Seen] = []
        self.base_url = ""

    def reset(self) -> None:
        self.script, self.respond, self.seen = [], None, []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        raw = b""
        while True:
            message = await receive()
            raw += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        seen = Seen(scope["path"], headers, json.loads(raw or b"{}"), time.monotonic())
        self.seen.append(seen)
        if self.respond is not None:
            reply = self.respond(seen)
        else:
            reply = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        if reply.delay_s:
            await asyncio.sleep(reply.delay_s)
        payload = reply.body if isinstance(reply.body, str) else json.dumps(reply.body)
        out = [(b"content-type", b"application/json")]
        out += [(k.encode(), v.encode()) for k, v in reply.headers.items()]
        await send({"type": "http.response.start", "status": reply.status, "headers": out})
        await send({"type": "http.response.body", "body": payload.encode()})


@pytest.fixture(scope="session")
async def llm_server() -> AsyncIterator[FakeLLM]:
    """A FakeLLM served by uvicorn on 127.0.0.1 at a free port, for the whole session."""
    fake = FakeLLM()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    fake.base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    config = uvicorn.Config(
        fake, lifespan="off", ws="none", log_level="warning", timeout_graceful_shutdown=1
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    for _ in range(500):  # uvicorn offers no event to await; it starts in a few milliseconds
        if server.started:
            break
        await asyncio.sleep(0.01)
    yield fake
    server.should_exit = True
    await task
    sock.close()


@pytest.fixture
def fake_llm(llm_server: FakeLLM) -> FakeLLM:
    llm_server.reset()
    return llm_server

"""What every service's app shares: the trace context of a request."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI, Request

from docuvault.runtime.app import create_app
from docuvault.runtime.tracing import current_traceparent, trace_id

PARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


@asynccontextmanager
async def _nothing(app: FastAPI) -> AsyncIterator[None]:
    yield


def _app() -> FastAPI:
    app = create_app(title="t", description="t", lifespan=_nothing)

    @app.post("/echo")
    async def echo(request: Request) -> dict[str, str | int | None]:
        body = b"".join([chunk async for chunk in request.stream()])
        return {"seen": current_traceparent.get(), "size": len(body)}

    return app


async def _post(headers: dict[str, str]) -> httpx.Response:
    transport = httpx.ASGITransport(app=_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        return await client.post("/echo", headers=headers, content=b"x" * 100_000)


async def test_a_request_continues_the_callers_trace_in_a_span_of_its_own() -> None:
    answer = await _post({"traceparent": PARENT})
    echoed = answer.headers["traceparent"]
    assert answer.json() == {"seen": echoed, "size": 100_000}
    assert trace_id(echoed) == trace_id(PARENT)
    assert echoed != PARENT  # a child span, not the caller's


async def test_a_request_without_a_valid_trace_starts_one() -> None:
    for headers in ({}, {"traceparent": "garbage"}):
        answer = await _post(headers)
        echoed = answer.headers["traceparent"]
        assert trace_id(echoed) not in (None, trace_id(PARENT))
        assert answer.json()["seen"] == echoed

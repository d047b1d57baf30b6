"""What every service's FastAPI app shares: problem details, health routes, tokens, trace ids."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

from fastapi import FastAPI
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from docuvault.runtime import health
from docuvault.runtime.auth import TokenVerifier
from docuvault.runtime.problems import install_problem_handlers
from docuvault.runtime.tracing import child_of, current_traceparent

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


def create_app(
    *, title: str, description: str, lifespan: Lifespan, secret_key: str | None = None
) -> FastAPI:
    app = FastAPI(title=title, description=description, version="1.0.0", lifespan=lifespan)
    install_problem_handlers(app)
    app.include_router(health.router)
    if secret_key is not None:
        app.state.token_verifier = TokenVerifier(secret_key)

    app.add_middleware(TraceContext)
    return app


class TraceContext:
    """Continue the caller's trace (``traceparent`` header) or start one; echo it back.

    Plain ASGI, not ``BaseHTTPMiddleware``: that one hands every chunk of a request body to the
    app through a stream and a task of its own, a cost paid on each chunk of every upload.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        parent = next((v for k, v in scope["headers"] if k == b"traceparent"), b"")
        traceparent = child_of(parent.decode("latin-1") or None)
        current_traceparent.set(traceparent)

        async def send_with_trace(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)["traceparent"] = traceparent
            await send(message)

        await self.app(scope, receive, send_with_trace)

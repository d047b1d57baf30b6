"""The catalog's OpenAPI, complete: every answer a route can give is documented.

FastAPI documents only a route's success and its validation error (as plain JSON); the catalog
answers every error as an RFC 9457 problem document (DESIGN §5), which is added here to every
``/v1`` operation, with the statuses any of them can give. A 405 names every method the path
has in ``Allow``.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.openapi.utils import get_openapi

from docuvault.runtime.problems import PROBLEM_JSON, problem_response

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
    },
}
#: statuses any ``/v1`` route may answer (authentication, scopes, limits, storage outages)
COMMON = {
    "400": "a body that is not JSON",
    "401": "missing, invalid, expired or revoked token",
    "403": "the token lacks the scope this route needs",
    "413": "request body too large",
    "422": "a parameter or the body is not valid, or a query that cannot be honoured",
    "429": "too many requests of this token or client (Retry-After)",
    "431": "request headers too large",
    "503": "the database or the object store is unavailable",
}
#: statuses of the routes that name a document or topic, or change one
NAMED = {
    "404": "no such document or topic (another owner's answers the same)",
    "409": "a conflict with the current state (no text yet, a topic name taken …)",
}


def install(app: FastAPI) -> None:
    app.add_exception_handler(405, _method_not_allowed(app))

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            _add_problems(schema)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _method_not_allowed(app: FastAPI) -> Callable[[Request, Exception], Awaitable[Response]]:
    """405 with every method the path has, as the OpenAPI document lists them: Starlette's
    ``Allow`` names only the first route whose path matches."""
    paths: list[tuple[re.Pattern[str], set[str]]] = []

    async def answer(request: Request, exc: Exception) -> Response:
        if not paths:
            for path, operations in app.openapi()["paths"].items():
                pattern = re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(path))
                paths.append((re.compile(f"^{pattern}$"), {m.upper() for m in operations}))
        path = request.url.path
        # a literal path (``/v1/documents/facets``) wins over a template that also matches it
        exact = [m for p, m in paths if p.pattern == f"^{re.escape(path)}$"]
        allowed = set().union(*(exact or [m for p, m in paths if p.match(path)]))
        return problem_response(
            405, "Method Not Allowed", headers={"Allow": ", ".join(sorted(allowed))}
        )

    return answer


def _add_problems(schema: dict[str, Any]) -> None:
    for path, operations in schema.get("paths", {}).items():
        if not path.startswith("/v1/"):
            continue
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            for status, description in {**COMMON, **NAMED}.items():
                answer = responses.setdefault(status, {"description": description})
                # a problem document is the only body an error has (not FastAPI's plain JSON)
                answer["content"] = {PROBLEM_JSON: {"schema": PROBLEM_SCHEMA}}

"""``/healthz`` (alive), ``/readyz`` (dependencies reachable) and ``/metrics`` for every service."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

#: name → an awaitable that raises when the dependency is not usable
ReadinessChecks = Mapping[str, Callable[[], Awaitable[None]]]
CHECK_TIMEOUT_S = 3.0

router = APIRouter(tags=["operations"])


async def _run(check: Callable[[], Awaitable[None]]) -> str:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_S):
            await check()
    except TimeoutError:
        return f"error: no answer within {CHECK_TIMEOUT_S:g} s"
    except Exception as exc:
        return f"error: {exc}"[:300]
    return "ok"


@router.get("/healthz", summary="The process is alive")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Every dependency answers",
    responses={503: {"description": "a dependency is down; `checks` says which"}},
)
async def readyz(request: Request) -> JSONResponse:
    checks: ReadinessChecks = getattr(request.app.state, "readiness_checks", {})
    results = await asyncio.gather(*(_run(c) for c in checks.values()))
    named = dict(zip(checks, results, strict=True))
    ok = all(r == "ok" for r in results)
    return JSONResponse(
        {"status": "ok" if ok else "degraded", "checks": named}, status_code=200 if ok else 503
    )


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

"""The upload audit (issue 9): every upload, accepted or refused, reaches the catalog's trail.

Per-file entries are written with the upload (in its transaction when it is recorded); a request
answered without them (refused before or instead of reading the files, or replayed) gets one
entry for the request from ``AuditRefusals``. Requests without a valid token name nobody and are
only logged.
"""

from __future__ import annotations

import logging
import uuid
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from docuvault.contracts import CloudEvent
from docuvault.contracts.events import AuditRecorded, DocumentUploaded
from docuvault.runtime.audit import StatusWatch, audit_event, remote_of
from docuvault.runtime.auth import Principal

if TYPE_CHECKING:
    from docuvault.ingest.bootstrap import Ingest
    from docuvault.ingest.receiver import Received

log = logging.getLogger("docuvault.ingest")
UPLOAD_PATH = "/v1/documents"
UPLOAD_ACTION = "document.upload"


def _entry(
    request: Request, principal: Principal | None, target: str | None, result: str
) -> CloudEvent[AuditRecorded]:
    return audit_event(
        principal, UPLOAD_ACTION, target, remote_of(request), result, source="ingest"
    )


def file_audit(
    request: Request,
    principal: Principal,
    recorded: list[DocumentUploaded],
    duplicates: list[tuple[DocumentUploaded, uuid.UUID]],
    received: Received,
) -> list[CloudEvent[Any]]:
    """One entry per file: the document id of an accepted one, the name of a refused one."""
    trail: list[CloudEvent[Any]] = [
        _entry(request, principal, f"document:{d.document_id}", "accepted") for d in recorded
    ]
    trail += [
        _entry(request, principal, f"file:{d.filename}", "refused:409") for d, _ in duplicates
    ]
    trail += [
        _entry(request, principal, f"file:{e.filename}", f"refused:{e.status}")
        for e in received.errors
    ]
    return trail


async def record(request: Request, ingest: Ingest, trail: list[CloudEvent[Any]]) -> None:
    """Audit entries outside an upload's transaction: best effort (the log keeps a failure)."""
    request.state.audited = True
    try:
        await ingest.ledger.record_events(trail)
    except Exception as exc:
        log.error("audit entries not recorded (%s): %s", len(trail), exc)


class AuditRefusals:
    """ASGI middleware (not ``BaseHTTPMiddleware``, which would pass every chunk of a large
    upload through an extra stream): one entry for an upload request left without any."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != UPLOAD_PATH:
            await self.app(scope, receive, send)
            return
        watch = StatusWatch(send)
        try:
            await self.app(scope, receive, watch)
        finally:
            request = Request(scope)
            principal: Principal | None = getattr(request.state, "principal", None)
            ingest: Ingest | None = getattr(request.app.state, "ingest", None)
            if principal is not None and ingest is not None and not _audited(request):
                result = getattr(request.state, "audit_result", None) or _result(watch.status)
                await record(request, ingest, [_entry(request, principal, None, result)])


def _audited(request: Request) -> bool:
    return bool(getattr(request.state, "audited", False))


def _result(status: int) -> str:
    if status < 400:
        return f"accepted:{status}"
    return f"{'refused' if status < 500 else 'failed'}:{status}"

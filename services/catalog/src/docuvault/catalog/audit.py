"""What the catalog records in its audit trail: every mutation and every read of content or
text through its API — who (owner, jti), what (action, target), when, from where, result.

``AuditTrail`` is ASGI middleware: once an audited request is answered it appends one entry,
unless the route recorded its own inside the transaction of its change (``mark_recorded``).
Requests without a valid token name nobody: they are only logged.
"""

from __future__ import annotations

import logging
import re
import urllib.parse
from typing import Any

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from docuvault.runtime.audit import StatusWatch, audit_event, remote_of
from docuvault.runtime.auth import Principal

log = logging.getLogger("docuvault.catalog.audit")
SOURCE = "catalog"
MUTATIONS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: reads of a document's content or text, and of the trail itself, are recorded too
AUDITED_READS = (
    re.compile(r"^/v1/documents/[^/]+/(content|text)$"),
    re.compile(r"^/v1/audit$"),
)
#: the names of the actions (method, route); any other audited route is named by its path
ACTIONS = {
    ("GET", "/v1/documents"): "document.search",
    ("GET", "/v1/documents/{document_id}/content"): "document.content.read",
    ("GET", "/v1/documents/{document_id}/text"): "document.text.read",
    ("DELETE", "/v1/documents/{document_id}"): "document.delete",
    ("PUT", "/v1/documents/{document_id}/topics"): "document.topics.assign",
    ("POST", "/v1/documents/{document_id}/classify"): "document.classify",
    ("POST", "/v1/documents/reprocess"): "document.reprocess",
    ("POST", "/v1/documents/bulk/classify"): "document.bulk.classify",
    ("POST", "/v1/documents/bulk/topics"): "document.bulk.topics.assign",
    ("POST", "/v1/documents/bulk/delete"): "document.bulk.delete",
    ("POST", "/v1/topics"): "topic.create",
    ("PATCH", "/v1/topics/{topic_id}"): "topic.update",
    ("DELETE", "/v1/topics/{topic_id}"): "topic.delete",
    ("PUT", "/v1/settings/classification"): "settings.classification.update",
    ("POST", "/v1/tokens/revoke"): "token.revoke",
    ("GET", "/v1/audit"): "audit.read",
}
#: path parameters that name the target of an action
TARGETS = {"document_id": "document", "topic_id": "topic"}


def result_of(status: int) -> str:
    if status < 400:
        return f"ok:{status}"
    return f"{'refused' if status < 500 else 'failed'}:{status}"


def mark_recorded(request: Request) -> None:
    """The route wrote its audit entry itself (in the transaction of its change)."""
    request.state.audit_recorded = True


def _audited(method: str, path: str, query: bytes) -> bool:
    if not path.startswith("/v1/"):
        return False
    if method in MUTATIONS:
        return True
    if method == "GET" and path == "/v1/documents":
        # a search reads the text (its snippets)
        q = urllib.parse.parse_qs(query.decode("latin-1")).get("q", [])
        return any(v.strip() for v in q)
    return method == "GET" and any(p.match(path) for p in AUDITED_READS)


def _action(method: str, scope: Scope) -> tuple[str, str | None]:
    route = scope.get("route")
    template = str(getattr(route, "path", scope["path"]))
    action = ACTIONS.get((method, template), f"{method.lower()} {template}")
    params: dict[str, Any] = scope.get("path_params", {})
    target = next(
        (f"{kind}:{params[name]}" for name, kind in TARGETS.items() if name in params), None
    )
    return action, target


class AuditTrail:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _audited(
            scope["method"], scope["path"], scope.get("query_string", b"")
        ):
            await self.app(scope, receive, send)
            return
        watch = StatusWatch(send)
        try:
            await self.app(scope, receive, watch)
        finally:
            await self._record(scope, watch.status)

    async def _record(self, scope: Scope, status: int) -> None:
        request = Request(scope)
        principal: Principal | None = getattr(request.state, "principal", None)
        if getattr(request.state, "audit_recorded", False):
            return
        action, target = _action(scope["method"], scope)
        if principal is None:
            log.info("unauthenticated %s refused (%s)", action, status)
            return
        catalog = getattr(request.app.state, "catalog", None)
        if catalog is None:
            return
        event = audit_event(
            principal, action, target, remote_of(request), result_of(status), source=SOURCE
        )
        try:
            await catalog.audit.record([event])
        except Exception as exc:
            log.error("audit entry not recorded (%s %s): %s", action, result_of(status), exc)

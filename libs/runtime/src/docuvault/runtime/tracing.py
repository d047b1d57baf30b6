"""W3C trace context: every request and every event carries a ``traceparent``."""

from __future__ import annotations

import re
import secrets
from contextvars import ContextVar

_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")

#: the trace the current task works for; logs and new events pick it up
current_traceparent: ContextVar[str | None] = ContextVar("traceparent", default=None)
#: the document the current task works on, for logs
current_document_id: ContextVar[str | None] = ContextVar("document_id", default=None)


def new_traceparent() -> str:
    return f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-01"


def child_of(parent: str | None) -> str:
    """A new span in the parent's trace, or a new trace when the parent is absent or invalid."""
    match = _TRACEPARENT.match(parent or "")
    if match is None or match.group(1) == "0" * 32:
        return new_traceparent()
    return f"00-{match.group(1)}-{secrets.token_hex(8)}-{match.group(3)}"


def trace_id(traceparent: str | None) -> str | None:
    match = _TRACEPARENT.match(traceparent or "")
    return match.group(1) if match else None


def outgoing_traceparent() -> str:
    """The traceparent for an event published now: a child of the current trace."""
    return child_of(current_traceparent.get())

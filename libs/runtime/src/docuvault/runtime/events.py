"""Building the events a service emits."""

from __future__ import annotations

import uuid
from typing import Any, TypeVar

from docuvault.contracts import CloudEvent, EventData, new_event
from docuvault.runtime.tracing import child_of, outgoing_traceparent

D = TypeVar("D", bound=EventData)


def follow_up(data: D, *, cause: CloudEvent[Any], source: str) -> CloudEvent[D]:
    """The event a handler emits in response to ``cause``.

    Its id is derived from the cause's id, so a redelivered cause produces the same event id
    and consumers with an inbox apply it once.
    """
    return new_event(
        data,
        source=source,
        traceparent=child_of(cause.traceparent),
        event_id=uuid.uuid5(cause.id, f"{data.event_name}/{data.subject()}"),
    )


def fresh(data: D, *, source: str) -> CloudEvent[D]:
    """An event caused by the current request or task (continuing its trace)."""
    return new_event(data, source=source, traceparent=outgoing_traceparent())

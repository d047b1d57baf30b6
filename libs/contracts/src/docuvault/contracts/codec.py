"""Bytes on the wire ⇄ typed events. The only place that knows the JSON form."""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from docuvault.contracts.envelope import TYPE_PREFIX, CloudEvent, EventData
from docuvault.contracts.events import BY_NAME


class MalformedEvent(ValueError):
    """The bytes are not a DocuVault event this version understands; the reason says why."""


class UnknownEventType(MalformedEvent):
    """A well-formed CloudEvent of a type this consumer does not know."""


def encode(event: CloudEvent[Any]) -> bytes:
    return event.model_dump_json(exclude_none=False).encode()


def decode(body: bytes) -> CloudEvent[EventData]:
    try:
        raw = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MalformedEvent(f"body is not JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise MalformedEvent("body is not a JSON object")
    event_type = raw.get("type")
    if not isinstance(event_type, str) or not event_type.startswith(TYPE_PREFIX):
        raise MalformedEvent(f"missing or foreign CloudEvents type: {event_type!r}")
    model = BY_NAME.get(event_type.removeprefix(TYPE_PREFIX))
    if model is None:
        raise UnknownEventType(f"unknown event type {event_type}")
    try:
        return CloudEvent[model].model_validate(raw)  # type: ignore[valid-type]
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()[:5]
        )
        raise MalformedEvent(f"invalid {event_type}: {problems}") from exc

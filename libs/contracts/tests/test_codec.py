"""encode/decode: every event type round-trips, and the wire form matches the committed schemas."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator, FormatChecker, ValidationError

from docuvault.contracts import (
    EVENT_TYPES,
    CloudEvent,
    EventData,
    MalformedEvent,
    UnknownEventType,
    decode,
    encode,
    new_event,
)
from docuvault.contracts.events import DocumentUploaded
from docuvault.contracts.schemas import ENVELOPE_FILE, schema_filename

SCHEMA_DIR = Path(__file__).resolve().parents[1] / "schemas"
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
IDS = [model.event_name for model in EVENT_TYPES]


def _event(data: EventData) -> CloudEvent[Any]:
    return new_event(data, source=data.producer, traceparent=TRACEPARENT)


def _wire(data: EventData) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(encode(_event(data)))
    return loaded


def _format_checker() -> FormatChecker:
    """jsonschema's checkers, plus RFC 3339 date-time (its own needs an optional package)."""
    checker = FormatChecker()
    checker.checkers = dict(Draft202012Validator.FORMAT_CHECKER.checkers)  # a copy: no global edit

    @checker.checks("date-time", raises=ValueError)
    def is_datetime(instance: object) -> bool:
        if not isinstance(instance, str):
            return True
        return "T" in instance.upper() and datetime.fromisoformat(instance).tzinfo is not None

    return checker


def _validator(name: str) -> Draft202012Validator:
    schema = json.loads((SCHEMA_DIR / name).read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=_format_checker())


def test_samples_cover_every_event_type(samples: dict[type[EventData], EventData]) -> None:
    assert set(samples) == set(EVENT_TYPES)


@pytest.mark.parametrize("model", EVENT_TYPES, ids=IDS)
def test_roundtrip(model: type[EventData], samples: dict[type[EventData], EventData]) -> None:
    event = _event(samples[model])
    decoded = decode(encode(event))
    assert type(decoded.data) is model
    assert decoded == event
    assert decoded.routing_key == model.event_name
    assert decoded.dataschema == model.schema_uri()


@pytest.mark.parametrize("model", EVENT_TYPES, ids=IDS)
def test_wire_form_validates_against_committed_schemas(
    model: type[EventData], samples: dict[type[EventData], EventData]
) -> None:
    wire = _wire(samples[model])
    _validator(ENVELOPE_FILE).validate(wire)
    _validator(schema_filename(model)).validate(wire["data"])


def test_wire_form_with_defaults_omitted_still_validates(
    samples: dict[type[EventData], EventData],
) -> None:
    # An older producer may not send a field added later with a default: still valid v1.
    data = _wire(samples[DocumentUploaded])["data"]
    del data["auto_classify"], data["duplicate_of"]
    _validator(schema_filename(DocumentUploaded)).validate(data)


@pytest.mark.parametrize(
    ("field", "value"),
    [("document_id", "not-a-uuid"), ("size_bytes", -1), ("sha256", "XYZ"), ("filename", None)],
)
def test_committed_schema_rejects_bad_data(
    samples: dict[type[EventData], EventData], field: str, value: object
) -> None:
    data = _wire(samples[DocumentUploaded])["data"]
    data[field] = value
    with pytest.raises(ValidationError):
        _validator(schema_filename(DocumentUploaded)).validate(data)


@pytest.mark.parametrize(
    ("attribute", "value"),
    [("time", "17 May 2024"), ("time", "2024-05-17T09:30:12"), ("specversion", None)],
)
def test_committed_envelope_schema_rejects_bad_envelope(
    samples: dict[type[EventData], EventData], attribute: str, value: object
) -> None:
    wire = _wire(samples[DocumentUploaded])
    if value is None:
        del wire[attribute]
    else:
        wire[attribute] = value
    with pytest.raises(ValidationError):
        _validator(ENVELOPE_FILE).validate(wire)


def test_unknown_fields_are_ignored(samples: dict[type[EventData], EventData]) -> None:
    wire = _wire(samples[DocumentUploaded])
    wire["futureattr"] = "x"
    wire["data"]["page_count"] = 3
    decoded = decode(json.dumps(wire).encode())
    assert decoded.data == samples[DocumentUploaded]
    assert not hasattr(decoded.data, "page_count")


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"{not json", "not JSON"),
        (b"\xff\xfe", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b'{"data": {}}', "missing or foreign CloudEvents type"),
        (b'{"type": "com.example.thing.v1"}', "missing or foreign CloudEvents type"),
    ],
)
def test_malformed_bodies(body: bytes, problem: str) -> None:
    with pytest.raises(MalformedEvent, match=problem):
        decode(body)


def test_unknown_type(samples: dict[type[EventData], EventData]) -> None:
    wire = _wire(samples[DocumentUploaded])
    wire["type"] = "io.docuvault.document.teleported.v1"
    with pytest.raises(UnknownEventType, match=r"unknown event type .*document\.teleported\.v1"):
        decode(json.dumps(wire).encode())
    assert issubclass(UnknownEventType, MalformedEvent)


@pytest.mark.parametrize(
    ("path", "value", "problem"),
    [
        (("data", "size_bytes"), "big", "data.size_bytes"),
        (("data", "sha256"), "XYZ", "data.sha256"),
        (("data", "document_id"), None, "data.document_id"),
        (("ownerid",), "nobody", "ownerid"),
        (("traceparent",), "bad", "traceparent"),
    ],
)
def test_invalid_payload(
    samples: dict[type[EventData], EventData], path: tuple[str, ...], value: object, problem: str
) -> None:
    wire = _wire(samples[DocumentUploaded])
    *parents, last = path
    target = wire
    for key in parents:
        target = target[key]
    if value is None:
        del target[last]
    else:
        target[last] = value
    with pytest.raises(
        MalformedEvent, match=r"invalid io\.docuvault\.document\.uploaded\.v1"
    ) as exc:
        decode(json.dumps(wire).encode())
    assert problem in str(exc.value)


def test_retry_keeps_the_event_id(samples: dict[type[EventData], EventData]) -> None:
    event_id = uuid.uuid4()
    data = samples[DocumentUploaded]
    first = new_event(data, source="ingest", traceparent=TRACEPARENT, event_id=event_id)
    assert decode(encode(first)).id == event_id

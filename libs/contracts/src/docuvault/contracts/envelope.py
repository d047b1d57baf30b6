"""The CloudEvents 1.0 envelope (structured JSON mode) that carries every DocuVault event."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar, Generic, Literal, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

TYPE_PREFIX = "io.docuvault."
CONTENT_TYPE = "application/cloudevents+json"
SCHEMA_BASE = "https://docuvault.io/schemas/events/"


class EventData(BaseModel):
    """Base of every event payload. Unknown fields are ignored so that additive changes are safe."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    #: routing key, e.g. ``document.uploaded.v1``; set by every concrete event class
    event_name: ClassVar[str]
    #: the service that publishes it (DESIGN §3): ingest, extractor, classifier or catalog
    producer: ClassVar[str]

    @classmethod
    def event_type(cls) -> str:
        return TYPE_PREFIX + cls.event_name

    @classmethod
    def schema_uri(cls) -> str:
        return f"{SCHEMA_BASE}{cls.event_name}.json"

    def subject(self) -> str:
        """The CloudEvents ``subject``: the id of the entity the event is about."""
        raise NotImplementedError

    def owner(self) -> uuid.UUID:
        """The owner the event belongs to (CloudEvents extension ``ownerid``)."""
        raise NotImplementedError


DataT = TypeVar("DataT", bound=EventData)


class CloudEvent(BaseModel, Generic[DataT]):
    """A CloudEvents 1.0 event in structured JSON mode, typed by its payload model."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    specversion: Literal["1.0"] = "1.0"
    id: uuid.UUID = Field(description="Unique event id; reused when a publish is retried")
    source: str = Field(pattern=r"^/docuvault/[a-z-]+$", description="/docuvault/<service>")
    type: str = Field(pattern=r"^io\.docuvault\.[a-z_.]+\.v[0-9]+$")
    subject: str
    time: AwareDatetime
    datacontenttype: Literal["application/json"] = "application/json"
    dataschema: str
    ownerid: uuid.UUID = Field(description="Extension: the id of the owner the event belongs to")
    traceparent: str = Field(
        pattern=r"^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$",
        description="Extension: W3C trace context of the work that caused the event",
    )
    data: DataT

    @property
    def routing_key(self) -> str:
        return self.type.removeprefix(TYPE_PREFIX)


def new_event(
    data: DataT,
    *,
    source: str,
    traceparent: str,
    event_id: uuid.UUID | None = None,
    time: datetime | None = None,
) -> CloudEvent[DataT]:
    """Wrap a payload in its envelope; ``source`` is the producing service's name."""
    # Parametrised by the payload's concrete class, as decode() does, so the two compare equal.
    envelope: type[CloudEvent[DataT]] = CloudEvent[type(data)]  # type: ignore[misc,assignment]
    return envelope(
        id=event_id or uuid.uuid4(),
        source=f"/docuvault/{source}",
        type=data.event_type(),
        subject=data.subject(),
        time=time or datetime.now(UTC),
        dataschema=data.schema_uri(),
        ownerid=data.owner(),
        traceparent=traceparent,
        data=data,
    )


def envelope_json_schema() -> dict[str, Any]:
    """JSON Schema of the envelope, with ``data`` left open (each type has its own schema)."""

    class _AnyData(EventData):
        model_config = ConfigDict(extra="allow", title="data")
        event_name: ClassVar[str] = "any"

    schema = CloudEvent[_AnyData].model_json_schema()
    schema["title"] = "DocuVault CloudEvent envelope"
    schema["properties"]["data"] = {"type": "object", "description": "the event's payload"}
    schema.pop("$defs", None)
    # Attributes with a default are still always present on the wire: CloudEvents requires them.
    schema["required"] = [name for name in CloudEvent.model_fields if name != "data"] + ["data"]
    return schema

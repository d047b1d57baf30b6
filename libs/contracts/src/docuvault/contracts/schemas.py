"""JSON Schemas and the AsyncAPI 3 document, generated from the models (DESIGN §3).

Each event's schema describes ``data`` as consumers receive it. Fields with a default are always
emitted by our producers, yet they stay optional in the schema: a v1 consumer must accept
messages from producers older than an additive field, and an added optional field must not read
as a new required one to the compatibility check.
"""

from __future__ import annotations

import json
from typing import Any

from docuvault.contracts.envelope import (
    CONTENT_TYPE,
    SCHEMA_BASE,
    EventData,
    envelope_json_schema,
)
from docuvault.contracts.events import EVENT_TYPES

Schema = dict[str, Any]

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
ENVELOPE_SCHEMA_URI = f"{SCHEMA_BASE}envelope.json"
ENVELOPE_FILE = "envelope.schema.json"
ASYNCAPI_FILE = "asyncapi.json"
FROZEN_DIR = "frozen"
EXCHANGE = "docuvault.events"
PRODUCERS = frozenset({"ingest", "extractor", "classifier", "catalog"})
AMQP_BINDING_VERSION = "0.3.0"
_ENVELOPE_COMPONENT = "CloudEventEnvelope"


def schema_filename(model: type[EventData]) -> str:
    """``document.uploaded.v1.schema.json``: the routing key plus ``.schema.json``."""
    return f"{model.event_name}.schema.json"


def data_schema(model: type[EventData]) -> Schema:
    """Draft 2020-12 schema of one event type's ``data``, identified by its ``dataschema`` URI."""
    schema = model.model_json_schema(mode="serialization")
    return {"$schema": JSON_SCHEMA_DIALECT, "$id": model.schema_uri(), **schema}


def envelope_schema() -> Schema:
    """Draft 2020-12 schema of the CloudEvents envelope; ``data`` is any object."""
    return {"$schema": JSON_SCHEMA_DIALECT, "$id": ENVELOPE_SCHEMA_URI, **envelope_json_schema()}


def frozen_candidates() -> dict[str, Schema]:
    """File name → schema of everything that gets frozen: the envelope and every event type."""
    docs = {ENVELOPE_FILE: envelope_schema()}
    docs.update({schema_filename(model): data_schema(model) for model in EVENT_TYPES})
    return docs


def generate() -> dict[str, Schema]:
    """File name → document of every current (non-frozen) file in the schema directory."""
    return {**frozen_candidates(), ASYNCAPI_FILE: asyncapi_document()}


def dumps(document: Schema) -> str:
    """The one deterministic JSON form of the committed files."""
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _component_schemas() -> Schema:
    """Envelope, every event's data and their nested models, with refs into the components."""
    components: Schema = {_ENVELOPE_COMPONENT: envelope_json_schema()}
    for model in EVENT_TYPES:
        schema = model.model_json_schema(
            mode="serialization", ref_template="#/components/schemas/{model}"
        )
        for name, definition in schema.pop("$defs", {}).items():
            if components.setdefault(name, definition) != definition:
                raise ValueError(f"two different nested models are both named {name}")
        components[model.event_name] = schema
    return components


def _message(model: type[EventData]) -> Schema:
    payload = {
        "allOf": [
            {"$ref": f"#/components/schemas/{_ENVELOPE_COMPONENT}"},
            {
                "type": "object",
                "properties": {
                    "type": {"const": model.event_type()},
                    "dataschema": {"const": model.schema_uri()},
                    "data": {"$ref": f"#/components/schemas/{model.event_name}"},
                },
            },
        ]
    }
    message: Schema = {
        "name": model.event_name,
        "title": model.__name__,
        "contentType": CONTENT_TYPE,
        "payload": payload,
        "bindings": {
            "amqp": {"messageType": model.event_type(), "bindingVersion": AMQP_BINDING_VERSION}
        },
    }
    if model.__doc__:
        message["summary"] = model.__doc__.strip().splitlines()[0]
    return message


def _channel(model: type[EventData]) -> Schema:
    exchange = {"name": EXCHANGE, "type": "topic", "durable": True, "autoDelete": False}
    return {
        "address": model.event_name,
        "title": model.event_type(),
        "messages": {
            model.event_name: {"$ref": f"#/components/messages/{model.event_name}"},
        },
        "bindings": {
            "amqp": {
                "is": "routingKey",
                "exchange": {**exchange, "vhost": "/"},
                "bindingVersion": AMQP_BINDING_VERSION,
            }
        },
    }


def _operation(model: type[EventData]) -> Schema:
    if model.producer not in PRODUCERS:
        raise ValueError(f"{model.__name__}.producer {model.producer!r} is not a service")
    channel = f"#/channels/{model.event_name}"
    return {
        "action": "send",
        "title": f"{model.producer} publishes {model.event_name}",
        "channel": {"$ref": channel},
        "messages": [{"$ref": f"{channel}/messages/{model.event_name}"}],
        "tags": [{"name": f"producer:{model.producer}"}],
        "x-producer": model.producer,
        # deliveryMode and timestamp belong to the AMQP *operation* binding, not the message one.
        "bindings": {
            "amqp": {"deliveryMode": 2, "timestamp": True, "bindingVersion": AMQP_BINDING_VERSION}
        },
    }


def asyncapi_document() -> Schema:
    """AsyncAPI 3.0.0: one channel per routing key on the ``docuvault.events`` topic exchange."""
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "DocuVault events",
            "version": "1.0.0",
            "description": (
                "CloudEvents 1.0 (structured JSON mode) published on the durable topic exchange "
                f"`{EXCHANGE}`; the routing key is the event type without `io.docuvault.`. "
                "Consumers ignore unknown fields."
            ),
        },
        "defaultContentType": CONTENT_TYPE,
        "channels": {model.event_name: _channel(model) for model in EVENT_TYPES},
        "operations": {
            f"{model.producer}.send.{model.event_name}": _operation(model) for model in EVENT_TYPES
        },
        "components": {
            "schemas": _component_schemas(),
            "messages": {model.event_name: _message(model) for model in EVENT_TYPES},
        },
    }

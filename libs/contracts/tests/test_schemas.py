"""The committed schemas: current (no forgotten `make schemas`), frozen, compatible, AsyncAPI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from docuvault.contracts import __main__ as cli
from docuvault.contracts.compat import check_compatible
from docuvault.contracts.envelope import EventData
from docuvault.contracts.events import EVENT_TYPES
from docuvault.contracts.schemas import (
    ASYNCAPI_FILE,
    ENVELOPE_FILE,
    JSON_SCHEMA_DIALECT,
    PRODUCERS,
    dumps,
    frozen_candidates,
    generate,
    schema_filename,
)

SCHEMA_DIR = Path(__file__).resolve().parents[1] / "schemas"
FROZEN_DIR = SCHEMA_DIR / "frozen"
IDS = [model.event_name for model in EVENT_TYPES]


def _load(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return loaded


@pytest.mark.parametrize("name", sorted(generate()))
def test_committed_schema_is_current(name: str) -> None:
    path = SCHEMA_DIR / name
    assert path.exists(), f"{path} is missing: run `make schemas`"
    assert path.read_text(encoding="utf-8") == dumps(generate()[name]), (
        f"{path} is stale: run `make schemas` and commit the result"
    )


@pytest.mark.parametrize("model", EVENT_TYPES, ids=IDS)
def test_every_event_type_has_a_frozen_schema(model: type[EventData]) -> None:
    assert (FROZEN_DIR / schema_filename(model)).is_file()


def test_envelope_is_frozen_and_compatible() -> None:
    frozen = _load(FROZEN_DIR / ENVELOPE_FILE)
    assert check_compatible(frozen, frozen_candidates()[ENVELOPE_FILE]) == []


@pytest.mark.parametrize("model", EVENT_TYPES, ids=IDS)
def test_model_is_compatible_with_its_frozen_schema(model: type[EventData]) -> None:
    # The frozen file is read from disk as committed: never regenerated before comparing.
    frozen = _load(FROZEN_DIR / schema_filename(model))
    assert check_compatible(frozen, frozen_candidates()[schema_filename(model)]) == []


def test_no_frozen_schema_lost_its_model() -> None:
    current = set(frozen_candidates())
    assert {path.name for path in FROZEN_DIR.glob("*.schema.json")} <= current


@pytest.mark.parametrize("model", EVENT_TYPES, ids=IDS)
def test_data_schema_is_identified(model: type[EventData]) -> None:
    schema = _load(SCHEMA_DIR / schema_filename(model))
    assert schema["$schema"] == JSON_SCHEMA_DIALECT
    assert schema["$id"] == model.schema_uri()
    assert model.producer in PRODUCERS


def test_envelope_requires_every_attribute() -> None:
    required = set(_load(SCHEMA_DIR / ENVELOPE_FILE)["required"])
    assert {"specversion", "datacontenttype", "id", "type", "data", "ownerid"} <= required


def _resolve(document: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = document
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return own + [ref for value in node.values() for ref in _refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _refs(value)]
    return []


def test_asyncapi_document_is_structurally_valid() -> None:
    doc = _load(SCHEMA_DIR / ASYNCAPI_FILE)
    assert doc["asyncapi"] == "3.0.0"
    assert doc["info"]["title"]
    assert doc["info"]["version"]
    for ref in _refs(doc):
        _resolve(doc, ref)  # every reference resolves inside the document
    channels, operations = doc["channels"], doc["operations"]
    assert set(channels) == set(IDS)
    for model in EVENT_TYPES:
        channel = channels[model.event_name]
        assert channel["address"] == model.event_name
        binding = channel["bindings"]["amqp"]
        assert binding["is"] == "routingKey"
        assert binding["exchange"] == {
            "name": "docuvault.events",
            "type": "topic",
            "durable": True,
            "autoDelete": False,
            "vhost": "/",
        }
    assert len(operations) == len(EVENT_TYPES)
    for operation in operations.values():
        assert operation["action"] == "send"
        assert operation["x-producer"] in PRODUCERS
        channel_ref = operation["channel"]["$ref"]
        channel = _resolve(doc, channel_ref)
        assert channel in channels.values()
        assert operation["messages"], "an operation names its messages"
        for message_ref in operation["messages"]:
            assert message_ref["$ref"].startswith(f"{channel_ref}/messages/")
            message = _resolve(doc, _resolve(doc, message_ref["$ref"])["$ref"])
            assert message["contentType"] == "application/cloudevents+json"
            assert message["bindings"]["amqp"]["messageType"].startswith("io.docuvault.")
        assert operation["bindings"]["amqp"]["deliveryMode"] == 2


def test_asyncapi_names_each_events_producer() -> None:
    operations = _load(SCHEMA_DIR / ASYNCAPI_FILE)["operations"]
    producers = {
        op["channel"]["$ref"].rsplit("/", 1)[1]: op["x-producer"] for op in operations.values()
    }
    assert producers["document.uploaded.v1"] == "ingest"
    assert producers["document.text_extracted.v1"] == "extractor"
    assert producers["document.classified.v1"] == "classifier"
    assert producers["topic.upserted.v1"] == "catalog"


def test_write_schemas_freezes_only_missing_files(tmp_path: Path) -> None:
    frozen = tmp_path / "frozen"
    frozen.mkdir()
    sentinel = '{"properties": {}, "title": "kept as it was"}\n'
    (frozen / "document.uploaded.v1.schema.json").write_text(sentinel, encoding="utf-8")

    assert cli.main(["write-schemas", str(tmp_path)]) == 0

    assert (frozen / "document.uploaded.v1.schema.json").read_text(encoding="utf-8") == sentinel
    for name, document in frozen_candidates().items():
        assert (tmp_path / name).read_text(encoding="utf-8") == dumps(document)
        if name != "document.uploaded.v1.schema.json":
            assert (frozen / name).read_text(encoding="utf-8") == dumps(document)
    assert not (frozen / ASYNCAPI_FILE).exists()
    assert cli.main(["write-schemas", str(tmp_path)]) == 0  # idempotent
    assert (frozen / "document.uploaded.v1.schema.json").read_text(encoding="utf-8") == sentinel


def test_check_schemas_passes_on_the_committed_tree(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["check-schemas", str(SCHEMA_DIR)]) == 0
    assert "current and compatible" in capsys.readouterr().out


def test_check_schemas_fails_when_stale_or_breaking(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cli.main(["write-schemas", str(tmp_path)])
    capsys.readouterr()
    assert cli.main(["check-schemas", str(tmp_path)]) == 0

    (tmp_path / "asyncapi.json").write_text("{}\n", encoding="utf-8")
    assert cli.main(["check-schemas", str(tmp_path)]) == 1
    assert "asyncapi.json is stale" in capsys.readouterr().err

    cli.main(["write-schemas", str(tmp_path)])
    frozen_path = tmp_path / "frozen" / "document.uploaded.v1.schema.json"
    frozen = _load(frozen_path)
    frozen["properties"]["legacy_field"] = {"type": "string"}
    frozen_path.write_text(dumps(frozen), encoding="utf-8")
    capsys.readouterr()
    assert cli.main(["check-schemas", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "breaking: document.uploaded.v1.schema.json: 'legacy_field' was removed" in err

"""The compatibility check: fixtures derived from real events must fail against the frozen v1."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import pytest
from pydantic import Field, create_model

from docuvault.contracts.compat import check_compatible
from docuvault.contracts.envelope import EventData
from docuvault.contracts.events import DocumentUploaded, TopicScore
from docuvault.contracts.schemas import data_schema

FROZEN_UPLOADED = (
    Path(__file__).resolve().parents[1] / "schemas" / "frozen" / "document.uploaded.v1.schema.json"
)


@pytest.fixture(scope="module")
def frozen_uploaded() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(FROZEN_UPLOADED.read_text(encoding="utf-8"))
    return loaded


class _UploadedBase(EventData):
    event_name: ClassVar[str] = DocumentUploaded.event_name
    producer: ClassVar[str] = DocumentUploaded.producer


def _uploaded_variant(*, drop: str = "", **changed: Any) -> type[EventData]:
    """document.uploaded.v1 as it is now, with one field dropped and/or some fields changed."""
    fields: dict[str, Any] = {
        name: (info.annotation, info)
        for name, info in DocumentUploaded.model_fields.items()
        if name != drop
    }
    fields.update(changed)
    model: type[EventData] = create_model("DocumentUploaded", __base__=_UploadedBase, **fields)
    return model


class UploadedWithRequired(DocumentUploaded):
    page_count: int  # new and required: old producers never send it


class UploadedWithOptional(DocumentUploaded):
    page_count: int | None = None
    labels: list[str] = Field(default_factory=list)


def test_unchanged_model_is_compatible(frozen_uploaded: dict[str, Any]) -> None:
    assert check_compatible(frozen_uploaded, data_schema(_uploaded_variant())) == []


def test_removed_field_is_breaking(frozen_uploaded: dict[str, Any]) -> None:
    report = check_compatible(frozen_uploaded, data_schema(_uploaded_variant(drop="sha256")))
    assert report == ["'sha256' was removed (consumers of the frozen schema rely on it)"]


def test_new_required_field_is_breaking(frozen_uploaded: dict[str, Any]) -> None:
    report = check_compatible(frozen_uploaded, data_schema(UploadedWithRequired))
    assert report == ["'page_count' is required now but was absent in the frozen schema"]


def test_changed_type_is_breaking(frozen_uploaded: dict[str, Any]) -> None:
    variant = _uploaded_variant(size_bytes=(str, ...))
    report = check_compatible(frozen_uploaded, data_schema(variant))
    assert report == ["'size_bytes' changed type from integer to string"]


def test_optional_made_required_is_breaking(frozen_uploaded: dict[str, Any]) -> None:
    variant = _uploaded_variant(auto_classify=(bool, ...))
    report = check_compatible(frozen_uploaded, data_schema(variant))
    assert report == ["'auto_classify' is required now but was optional in the frozen schema"]


def test_nullable_change_is_breaking(frozen_uploaded: dict[str, Any]) -> None:
    variant = _uploaded_variant(filename=(str | None, None))
    report = check_compatible(frozen_uploaded, data_schema(variant))
    assert report == ["'filename' changed type from string to string | null"]


def test_additive_optional_field_is_compatible(frozen_uploaded: dict[str, Any]) -> None:
    assert check_compatible(frozen_uploaded, data_schema(UploadedWithOptional)) == []


def test_loosening_is_compatible(frozen_uploaded: dict[str, Any]) -> None:
    # size_bytes loses its minimum, filename stops being required: both only loosen.
    variant = _uploaded_variant(size_bytes=(int, ...), filename=(str, "unnamed"))
    assert check_compatible(frozen_uploaded, data_schema(variant)) == []


def test_tightened_constraint_is_breaking(frozen_uploaded: dict[str, Any]) -> None:
    variant = _uploaded_variant(
        size_bytes=(int, Field(ge=1)), object_key=(str, Field(max_length=9))
    )
    assert sorted(check_compatible(frozen_uploaded, data_schema(variant))) == [
        "'object_key' gained the constraint maxLength=9",
        "'size_bytes' has a tighter minimum: 0 → 1",
    ]


# Hand-written schemas: nested objects behind $ref, arrays, enums, const.
_SCORE = {
    "$defs": {"Score": TopicScore.model_json_schema()},
    "type": "object",
    "properties": {
        "topics": {"type": "array", "items": {"$ref": "#/$defs/Score"}},
        "reason": {"enum": ["a", "b"], "type": "string"},
        "kind": {"const": "x", "type": "string"},
        "extra": {"type": "object", "additionalProperties": False},
    },
    "required": ["topics"],
}


def _edited(**edits: Any) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(json.dumps(_SCORE))
    for dotted, value in edits.items():
        *parents, last = dotted.split("__")
        node = schema
        for key in parents:
            node = node[key]
        if value is None:
            del node[last]
        else:
            node[last] = value
    return schema


@pytest.mark.parametrize(
    ("edits", "expected"),
    [
        ({"$defs__Score__properties__confidence__type": "string"}, "'topics[].confidence' changed"),
        ({"$defs__Score__properties__name": None}, "'topics[].name' was removed"),
        ({"$defs__Score__required": ["topic_id"]}, None),
        ({"properties__topics__items": {"type": "string"}}, "'topics[]' changed type"),
        ({"properties__reason__enum": ["a", "b", "c"]}, "'reason' changed type"),
        ({"properties__kind__const": "y"}, "'kind' changed type"),
        ({"properties__kind": {"enum": ["x"], "type": "string"}}, None),
        ({"properties__extra__additionalProperties": True}, None),
        ({"properties__topics__items": {"$ref": "#/$defs/Missing"}}, "'topics[]' changed type"),
    ],
)
def test_nested_changes(edits: dict[str, Any], expected: str | None) -> None:
    report = check_compatible(_SCORE, _edited(**edits))
    if expected is None:
        assert report == []
    else:
        assert len(report) == 1
        assert report[0].startswith(expected), report


def test_recursive_models_terminate() -> None:
    tree = {
        "$defs": {
            "Node": {
                "type": "object",
                "properties": {"kids": {"type": "array", "items": {"$ref": "#/$defs/Node"}}},
            }
        },
        "$ref": "#/$defs/Node",
    }
    assert check_compatible(tree, tree) == []

"""Ingest's response bodies and the multipart request description for the OpenAPI document."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from docuvault.contracts.events import DocumentUploaded


class AcceptedDocument(BaseModel):
    document_id: str
    filename: str
    content_type: str
    size_bytes: int
    sha256: str
    duplicate_of: str | None


class RefusedFile(BaseModel):
    filename: str
    status: int
    detail: str
    duplicate_of: str | None = None


class UploadAccepted(BaseModel):
    documents: list[AcceptedDocument]
    errors: list[RefusedFile]


def accepted_body(recorded: list[DocumentUploaded], errors: list[dict[str, Any]]) -> dict[str, Any]:
    body = UploadAccepted(
        documents=[
            AcceptedDocument(
                document_id=str(d.document_id),
                filename=d.filename,
                content_type=d.content_type,
                size_bytes=d.size_bytes,
                sha256=d.sha256,
                duplicate_of=str(d.duplicate_of) if d.duplicate_of else None,
            )
            for d in recorded
        ],
        errors=[RefusedFile(**e) for e in errors],
    ).model_dump()
    # a refusal names the original only when it is a duplicate
    body["errors"] = [{k: v for k, v in e.items() if v is not None} for e in body["errors"]]
    return body


MULTIPART_SCHEMA: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {
                            "type": "array",
                            "items": {"type": "string", "format": "binary"},
                            "minItems": 1,
                            "description": "one or more files (the type is read from the bytes:"
                            " PDF, DOCX, PNG, JPEG, TIFF, WebP, GIF, BMP, text, Markdown, CSV,"
                            " HTML)",
                        },
                        "auto_classify": {"type": "boolean", "default": True},
                    },
                }
            }
        },
    }
}

"""Every bad input of DESIGN §9 that the gateway can tell from the request and the bytes is
refused with its status code and a problem document saying what happened — and stores nothing."""

import uuid
from typing import Any

import httpx
import pytest

from docuvault.devstack.pytest_plugin import Api

LIMIT = 12 * 1024 * 1024  # the test stack's DOCUVAULT_MAX_UPLOAD_BYTES
MULTIPART = "multipart/form-data; boundary=b"


def _part(name: str, body: bytes, filename: str | None = None) -> bytes:
    disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
    return f"--b\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + body + b"\r\n"


CASES: list[tuple[str, dict[str, Any], int, str]] = [
    (
        "no token",
        {"files": [("file", ("a.txt", b"hello"))], "auth": None},
        401,
        "missing bearer token",
    ),
    (
        "a forged token",
        {"files": [("file", ("a.txt", b"hello"))], "auth": "forged"},
        401,
        "token is invalid",
    ),
    (
        "a token without documents:write",
        {"files": [("file", ("a.txt", b"x"))], "auth": "read-only"},
        403,
        "documents:write",
    ),
    ("an empty file", {"files": [("file", ("empty.txt", b""))]}, 400, "file is empty"),
    (
        "a file over the limit",
        {"files": [("file", ("big.txt", b"a" * (LIMIT + 1)))]},
        413,
        f"larger than the limit of {LIMIT} bytes",
    ),
    (
        "an executable",
        {"files": [("file", ("tool.exe", b"MZ\x90\x00\x03\x00\x00\x00\x04"))]},
        415,
        "unsupported type: binary data starting with 4d 5a",
    ),
    (
        "a ZIP that is no Word document",
        {
            "files": [
                (
                    "file",
                    (
                        "x.docx",
                        bytes.fromhex(
                            "504b0304140000000000000000000000000000000000000000000300000061626378797a"
                            "504b01021400140000000000000000000000000000000000000000000300000000000000"
                            "0000000000000000616263504b050600000000010001003100000024000000000000"
                        ),
                    ),
                )
            ]
        },
        415,
        "not a Word (DOCX) document",
    ),
    (
        "binary garbage named .txt",
        {"files": [("file", ("notes.txt", b"\x00\xff\x00\x13" * 64))]},
        415,
        "unsupported type",
    ),
    (
        "too many files",
        {"files": [("file", (f"f{i}.txt", b"x")) for i in range(6)]},
        202,
        "more than 5 files",
    ),
    (
        "a body that is not multipart",
        {"content": b"{}", "type": "application/json"},
        400,
        "multipart/form-data",
    ),
    (
        "a multipart body cut short",
        {"content": _part("file", b"abc" * 1000, "a.txt")[:-50], "type": MULTIPART},
        400,
        "ended in the middle of a part",
    ),
    (
        "no file at all",
        {"content": _part("auto_classify", b"true") + b"--b--\r\n", "type": MULTIPART},
        400,
        "no file in the request",
    ),
    (
        "a 'file' field that is no file",
        {"content": _part("file", b"{}") + b"--b--\r\n", "type": MULTIPART},
        400,
        "must carry a file",
    ),
    (
        "auto_classify that is no boolean",
        {
            "content": _part("auto_classify", b"perhaps")
            + _part("file", b"x", "a.txt")
            + b"--b--\r\n",
            "type": MULTIPART,
        },
        400,
        "auto_classify must be true or false",
    ),
    (
        "an Idempotency-Key with spaces",
        {"files": [("file", ("a.txt", b"x"))], "headers": {"Idempotency-Key": "a b"}},
        422,
        "idempotency-key",
    ),
]


@pytest.mark.parametrize(("case", "request_", "status", "detail"), CASES, ids=[c[0] for c in CASES])
async def test_refused_with_status_and_detail(
    api: Api, case: str, request_: dict[str, Any], status: int, detail: str
) -> None:
    owner = f"bad-{uuid.uuid4()}"
    auth = request_.get("auth", "writer")
    headers = dict(request_.get("headers", {}))
    if auth == "writer":
        headers.update(api.auth(owner))
    elif auth == "read-only":
        headers.update(api.auth(owner, "documents:read"))
    elif auth == "forged":
        headers["Authorization"] = "Bearer " + api.token(owner)[:-4] + "AAAA"
    if "type" in request_:
        headers["content-type"] = request_["type"]
    async with httpx.AsyncClient(timeout=60) as client:
        answer = await client.post(
            f"{api.ingest}/v1/documents",
            headers=headers,
            files=request_.get("files"),
            content=request_.get("content"),
        )
        listed = await client.get(f"{api.catalog}/v1/documents", headers=api.auth(owner))
    assert answer.status_code == status, answer.text
    if status >= 400:
        assert answer.headers["content-type"] == "application/problem+json"
        body = answer.json()
        assert body["status"] == status
        assert detail.lower() in body["detail"].lower(), body
        assert "Traceback" not in answer.text
        assert listed.json()["items"] == []  # nothing stored, nothing announced
    else:  # the accepted files stand, the extra one is reported
        assert detail in str(answer.json()["errors"])
        assert len(answer.json()["documents"]) == 5

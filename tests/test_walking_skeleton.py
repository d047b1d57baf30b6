# PyMuPDF's document API is untyped:
# mypy: disable-error-code="no-untyped-call"
"""Issue 3's promise end to end: every kind of document is extracted, classified and found."""

import asyncio
import io
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import docx
import httpx
import pymupdf
import pytest
from PIL import Image, ImageDraw, ImageFont

from docuvault.devstack.pytest_plugin import Api

FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
SCAN_LINES = ["Invoice for gardening work", "Total payment due: 420 euros", "Thank you"]


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.truetype(str(FONT), size) if FONT.is_file() else ImageFont.load_default(size)


def _scan(lines: list[str]) -> Image.Image:
    face = _font(44)
    width = max(int(face.getlength(line)) for line in lines) + 120
    image = Image.new("L", (width, len(lines) * 70 + 120), 255)
    draw = ImageDraw.Draw(image)
    for number, line in enumerate(lines):
        draw.text((60, 60 + number * 70), line, font=face, fill=0)
    return image


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def text_pdf() -> bytes:
    doc = pymupdf.open()
    doc.new_page().insert_text((72, 72), "Quarterly invoice for consulting: payment in 30 days.")
    return bytes(doc.tobytes())


def scanned_pdf() -> bytes:
    image = _scan(SCAN_LINES)
    doc = pymupdf.open()
    page = doc.new_page(width=image.size[0] * 72 / 200, height=image.size[1] * 72 / 200)
    page.insert_image(page.rect, stream=_png(image))
    return bytes(doc.tobytes())


def scanned_png() -> bytes:
    return _png(_scan(["Invoice from the plumber", "Payment of pipes and labour"]))


def word_document() -> bytes:
    document = docx.Document()
    document.add_paragraph("Invoice for the translation of the annual report.")
    table = document.add_table(rows=1, cols=2)
    table.rows[0].cells[0].text = "Payment"
    table.rows[0].cells[1].text = "1200 euros"
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


CASES = {
    "consulting.pdf": (text_pdf, "consulting"),
    "garden-scan.pdf": (scanned_pdf, "gardening"),
    "plumber.png": (scanned_png, "plumber"),
    "translation.docx": (word_document, "translation"),
    "bakery.txt": (lambda: "Invoice from the bakery: payment for bread, Grüße.".encode(), "bakery"),
}


async def _wait_done(
    client: httpx.AsyncClient, document_id: str, within_s: float
) -> dict[str, Any]:
    deadline = time.monotonic() + within_s
    doc: dict[str, Any] = {}
    while time.monotonic() < deadline:
        answer = await client.get(f"/v1/documents/{document_id}")
        if answer.status_code == 200:
            doc = answer.json()
            if doc["status"] in {"classified", "extraction_failed", "classification_failed"}:
                return doc
        await asyncio.sleep(0.2)
    raise AssertionError(f"{document_id} not done within {within_s} s: {doc.get('status')}")


async def test_every_kind_is_classified_and_found(api: Api) -> None:
    owner = f"skeleton-{uuid.uuid4()}"
    async with httpx.AsyncClient(base_url=api.catalog, headers=api.auth(owner), timeout=30) as cat:
        topic = (
            await cat.post(
                "/v1/topics",
                json={
                    "name": "Invoices",
                    "description": "bills and invoices asking for payment",
                    "keywords": ["invoice", "payment", "bill"],
                },
            )
        ).json()
        await asyncio.sleep(0.5)  # the classifier's replica hears of the topic through the bus
        async with httpx.AsyncClient(timeout=60) as client:
            answer = await client.post(
                f"{api.ingest}/v1/documents",
                files=[("file", (name, make())) for name, (make, _) in CASES.items()],
                headers=api.auth(owner),
            )
        assert answer.status_code == 202, answer.text
        accepted = {d["filename"]: d for d in answer.json()["documents"]}
        started = time.monotonic()
        done = await asyncio.gather(
            *(_wait_done(cat, d["document_id"], 15.0) for d in accepted.values())
        )
        elapsed = time.monotonic() - started
        for doc in done:
            name = doc["filename"]
            assert doc["status"] == "classified", (name, doc.get("failure"))
            assert [t["topic_id"] for t in doc["topics"]] == [topic["topic_id"]], name
            word = CASES[name][1]
            text = await cat.get(f"/v1/documents/{doc['document_id']}/text")
            assert text.status_code == 200
            assert word in text.text.lower(), (name, text.text)
            found = await cat.get("/v1/documents", params={"q": word})
            hits = found.json()["items"]
            assert [h["document_id"] for h in hits] == [doc["document_id"]], name
            assert hits[0]["rank"] > 0
            assert "<mark>" in hits[0]["snippet"], hits[0]["snippet"]
        scanned = next(d for d in done if d["filename"] == "garden-scan.pdf")
        assert scanned["page_count"] == 1
        original = await cat.get(f"/v1/documents/{accepted['plumber.png']['document_id']}/content")
        assert original.content == CASES["plumber.png"][0]()
        assert original.headers["content-type"] == "image/png"
    print(f"5 documents classified in {elapsed:.1f} s")


async def test_search_syntax_escaping_and_manual_topics(api: Api) -> None:
    owner = f"search-{uuid.uuid4()}"
    texts = {
        "a.txt": b"The <script>alert(1)</script> vendor & x<y sent us an invoice for the apples"
        b" that were delivered to the office last week, and we should pay it before the end of"
        b" the month because the vendor is waiting for the money.",
        "b.txt": b"Pears and apples were delivered to the warehouse this morning, but there is"
        b" no invoice yet; the driver said that it would be sent by the company later.",
        "c.txt": b"Minutes of the board meeting about pears",
    }
    async with httpx.AsyncClient(timeout=60) as client:
        answer = await client.post(
            f"{api.ingest}/v1/documents",
            files=[("file", (n, t)) for n, t in texts.items()],
            headers=api.auth(owner),
        )
    ids = {d["filename"]: d["document_id"] for d in answer.json()["documents"]}
    async with httpx.AsyncClient(base_url=api.catalog, headers=api.auth(owner), timeout=30) as cat:
        await asyncio.gather(*(_wait_done(cat, i, 15.0) for i in ids.values()))

        async def names(q: str) -> set[str]:
            found = await cat.get("/v1/documents", params={"q": q})
            assert found.status_code == 200, found.text
            return {h["filename"] for h in found.json()["items"]}

        assert await names("apples") == {"a.txt", "b.txt"}
        assert await names("apples -invoice") == set()
        assert await names("pears -apples") == {"c.txt"}
        assert await names('"board meeting"') == {"c.txt"}
        assert await names("vendor OR board") == {"a.txt", "c.txt"}
        assert await names("apple") == {"a.txt", "b.txt"}  # stemmed: the text is English
        hit = (await cat.get("/v1/documents", params={"q": "vendor"})).json()["items"][0]
        # the document's text is never markup: only <mark> is
        assert "&amp;" in hit["snippet"]
        assert "x&lt;y" in hit["snippet"]
        assert "<" not in hit["snippet"].replace("<mark>", "").replace("</mark>", "")
        # a person's topics replace the classifier's, and are announced
        topic = (await cat.post("/v1/topics", json={"name": "Fruit"})).json()
        put = await cat.put(
            f"/v1/documents/{ids['c.txt']}/topics", json={"topic_ids": [topic["topic_id"]]}
        )
        assert put.status_code == 200, put.text
        assert put.json()["topics"] == [
            {"topic_id": topic["topic_id"], "name": "Fruit", "confidence": None, "source": "manual"}
        ]
        listed = await cat.get("/v1/documents", params={"topic": topic["topic_id"]})
        assert [d["document_id"] for d in listed.json()["items"]] == [ids["c.txt"]]
        unknown = await cat.put(
            f"/v1/documents/{ids['c.txt']}/topics", json={"topic_ids": [str(uuid.uuid4())]}
        )
        assert unknown.status_code == 422
        again = await cat.post(f"/v1/documents/{ids['a.txt']}/classify")
        assert again.status_code == 202
        assert again.json()["generation"] == 2
        for _ in range(75):
            doc = (await cat.get(f"/v1/documents/{ids['a.txt']}")).json()
            types = [h["type"] for h in doc["history"]]
            if (
                "io.docuvault.document.classified.v1"
                in types[types.index("io.docuvault.document.classification_requested.v1") :]
            ):
                break
            await asyncio.sleep(0.2)
        else:
            raise AssertionError(f"no classification after the request: {types}")
        assert doc["status"] == "classified"


def test_cli_upload_search_and_topics(api: Api, tmp_path: Path) -> None:
    owner = f"cli-{uuid.uuid4()}"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("DOCUVAULT_")},
        "DOCUVAULT_ENV_FILE": str(api.stack.config.env_file),
        "DOCUVAULT_INGEST_URL": api.ingest,
        "DOCUVAULT_CATALOG_URL": api.catalog,
        "COLUMNS": "200",
    }

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "docuvault.cli", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    created = cli("token", "create", "--owner", owner, "--ttl", "1h")
    assert created.returncode == 0, created.stderr
    env["DOCUVAULT_TOKEN"] = created.stdout.strip()
    assert cli("topics", "create", "Recipes", "--keyword", "recipe").returncode == 0
    listed = cli("topics", "list")
    assert "Recipes" in listed.stdout
    note = tmp_path / "soup.txt"
    note.write_text("A recipe for tomato soup with basil.")
    uploaded = cli("upload", str(note), "--wait", "--json")
    assert uploaded.returncode == 0, uploaded.stderr
    [doc] = json.loads(uploaded.stdout)
    assert doc["status"] == "classified"
    assert [t["name"] for t in doc["topics"]] == ["Recipes"]
    found = cli("search", "tomato")
    assert found.returncode == 0, found.stderr
    assert "soup.txt" in found.stdout
    assert "tomato" in found.stdout.lower()
    status = cli("status", doc["document_id"])
    assert "classified" in status.stdout
    missing = cli("status", str(uuid.uuid4()))
    assert missing.returncode == 1
    assert "404" in missing.stderr
    unreadable = cli("upload", str(tmp_path / "nope.txt"))
    assert unreadable.returncode == 1
    assert "nope.txt: no such file" in unreadable.stderr


@pytest.mark.parametrize("scope", ["documents:read"])
def test_cli_token_scopes(api: Api, scope: str) -> None:
    env = {**os.environ, "DOCUVAULT_ENV_FILE": str(api.stack.config.env_file)}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "docuvault.cli",
            "token",
            "create",
            "--owner",
            "x",
            "--scope",
            scope,
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    principal_scopes = httpx.get(
        f"{api.catalog}/v1/topics", headers={"Authorization": f"Bearer {done.stdout.strip()}"}
    )
    assert principal_scopes.status_code == 200
    refused = httpx.post(
        f"{api.catalog}/v1/topics",
        json={"name": "x"},
        headers={"Authorization": f"Bearer {done.stdout.strip()}"},
    )
    assert refused.status_code == 403


async def test_bad_input_is_refused_or_fails_with_a_reason_and_services_stay_up(api: Api) -> None:
    import zipfile

    owner = f"bad-{uuid.uuid4()}"
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("noise.bin", os.urandom(4096))
    whole = text_pdf()
    async with httpx.AsyncClient(timeout=60, headers=api.auth(owner)) as client:
        empty = await client.post(
            f"{api.ingest}/v1/documents", files=[("file", ("empty.txt", b""))]
        )
        assert empty.status_code == 400
        assert "empty" in empty.json()["detail"]
        zipped_noise = await client.post(
            f"{api.ingest}/v1/documents", files=[("file", ("noise.zip", archive.getvalue()))]
        )
        assert zipped_noise.status_code == 415
        assert "ZIP" in zipped_noise.json()["detail"]
        truncated = await client.post(
            f"{api.ingest}/v1/documents", files=[("file", ("cut.pdf", whole[: len(whole) // 2]))]
        )
        assert truncated.status_code == 202
        document_id = truncated.json()["documents"][0]["document_id"]
    async with httpx.AsyncClient(base_url=api.catalog, headers=api.auth(owner)) as cat:
        doc = await _wait_done(cat, document_id, 15.0)
    assert doc["status"] == "extraction_failed"
    assert doc["failure"]["stage"] == "extract"
    assert doc["failure"]["reason"] == "corrupt"
    assert doc["failure"]["detail"]
    async with httpx.AsyncClient() as cat:
        for service in ("ingest", "extractor", "classifier", "catalog"):
            ready = await cat.get(f"{api.stack.config.url(service)}/readyz")
            assert ready.status_code == 200, (service, ready.text)

"""DOCX, in this process: document order, merged cells, headers, text boxes, Strict, zip bombs."""

from __future__ import annotations

import io
import time
import zipfile
from datetime import UTC, datetime
from typing import Any

import docx
import pytest
from docx.oxml.parser import parse_xml

from docuvault.extractor import extraction
from docuvault.extractor.extraction.model import ExtractionError, Limits

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
NS = (
    f'xmlns:w="{W}" xmlns:mc="http://schemas.openxmlformats.org/markup-compatibility/2006" '
    'xmlns:wps="http://schemas.microsoft.com/office/word/2010/wordprocessingShape" '
    'xmlns:v="urn:schemas-microsoft-com:vml"'
)
TEXT_BOX = f"""<w:r {NS}><mc:AlternateContent>
  <mc:Choice Requires="wps"><w:drawing><wps:txbx><w:txbxContent>
    <w:p><w:r><w:t>Boxed words</w:t></w:r></w:p></w:txbxContent></wps:txbx></w:drawing></mc:Choice>
  <mc:Fallback><w:pict><v:textbox><w:txbxContent>
    <w:p><w:r><w:t>Boxed words</w:t></w:r></w:p></w:txbxContent></v:textbox></w:pict></mc:Fallback>
</mc:AlternateContent></w:r>"""
REVISIONS = f"""<w:p {NS}><w:r><w:t xml:space="preserve">Kept </w:t></w:r>
  <w:del w:id="1" w:author="a"><w:r><w:delText>removed</w:delText></w:r></w:del>
  <w:ins w:id="2" w:author="a"><w:r><w:t>inserted</w:t></w:r></w:ins>
  <w:r><w:fldChar w:fldCharType="begin"/></w:r><w:r><w:instrText>PAGE</w:instrText></w:r></w:p>"""


def _document() -> bytes:
    document = docx.Document()
    section = document.sections[0]
    section.header.paragraphs[0].text = "Header of the report"
    section.footer.paragraphs[0].text = "Footer with page numbers"
    document.add_heading("Annual report", level=1)
    document.add_paragraph("Before the table.")
    table = document.add_table(rows=3, cols=3)
    table.cell(0, 0).merge(table.cell(0, 2)).text = "Merged across"
    table.cell(1, 0).merge(table.cell(2, 0)).text = "Merged down"
    table.cell(1, 1).text = "b1"
    table.cell(1, 2).text = "c1"
    table.cell(2, 1).text = "b2"
    table.cell(2, 2).text = "c2"
    after = document.add_paragraph("After the table.")
    after._p.append(parse_xml(TEXT_BOX))
    document.element.body.insert(len(document.element.body) - 1, parse_xml(REVISIONS))
    props = document.core_properties
    props.title, props.author, props.subject = "Annual report", "Grace Hopper", "Results"
    props.keywords = "annual, results"
    props.created = datetime(2023, 3, 1, 12, 0, tzinfo=UTC)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def test_blocks_in_document_order_with_merged_cells_once(make: Any) -> None:
    result = make.run_inline(make.write(_document()), DOCX)
    text = result.text_utf8.decode()
    order = [
        "Header of the report",
        "Annual report",
        "Before the table.",
        "Merged across",
        "Merged down\tb1\tc1",
        "b2\tc2",
        "After the table.",
        "Boxed words",
        "Kept inserted",
        "Footer with page numbers",
    ]
    positions = [text.index(part) for part in order]
    assert positions == sorted(positions)
    for once in ("Merged across", "Merged down", "Boxed words"):
        assert text.count(once) == 1
    assert "removed" not in text
    assert "PAGE" not in text
    meta = result.metadata
    assert (meta.title, meta.author, meta.subject) == ("Annual report", "Grace Hopper", "Results")
    assert meta.keywords == "annual, results"
    assert meta.created == datetime(2023, 3, 1, 12, 0, tzinfo=UTC)
    assert result.page_count == 1
    assert result.ocr_pages == ()


def _rezip(data: bytes, change: Any) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for item in src.infolist():
            dst.writestr(item.filename, change(item.filename, src.read(item)), zipfile.ZIP_DEFLATED)
    return out.getvalue()


RELATIONSHIPS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
NOTES = {
    "footnotes": "A footnote naming the source",
    "endnotes": "An endnote with the last word",
}


def _with_notes(data: bytes) -> bytes:
    """The document with a footnotes and an endnotes part, related from the main document."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for item in src.infolist():
            body = src.read(item)
            if item.filename == "word/_rels/document.xml.rels":
                links = "".join(
                    f'<Relationship Id="rIdNote{kind}" Type="{RELATIONSHIPS}/{kind}" '
                    f'Target="{kind}.xml"/>'
                    for kind in NOTES
                )
                body = body.replace(b"</Relationships>", f"{links}</Relationships>".encode())
            dst.writestr(item.filename, body, zipfile.ZIP_DEFLATED)
        for kind, words in NOTES.items():
            note = kind[:-1]
            dst.writestr(
                f"word/{kind}.xml",
                f'<w:{kind} xmlns:w="{W}"><w:{note} w:id="1"><w:p><w:r><w:t>{words}</w:t>'
                f"</w:r></w:p></w:{note}></w:{kind}>",
            )
    return out.getvalue()


def test_footnotes_and_endnotes_follow_the_body_before_the_footer(make: Any) -> None:
    text = make.run_inline(make.write(_with_notes(_document())), DOCX).text_utf8.decode()
    order = ["After the table.", NOTES["footnotes"], NOTES["endnotes"], "Footer with page numbers"]
    positions = [text.index(part) for part in order]
    assert positions == sorted(positions)
    assert all(text.count(words) == 1 for words in NOTES.values())


def test_strict_ooxml_reads_like_transitional(make: Any) -> None:
    swaps = {
        W.encode(): b"http://purl.oclc.org/ooxml/wordprocessingml/main",
        b"http://schemas.openxmlformats.org/officeDocument/2006/relationships": b"http://purl.oclc.org/ooxml/officeDocument/relationships",
    }

    def strict(name: str, body: bytes) -> bytes:
        for old, new in swaps.items():
            body = body.replace(old, new)
        return body

    result = make.run_inline(make.write(_rezip(_document(), strict)), DOCX)
    assert "After the table." in result.text_utf8.decode()
    assert "Merged down\tb1\tc1" in result.text_utf8.decode()


def _fails(path: Any, limits: Limits | None = None) -> ExtractionError:
    with pytest.raises(ExtractionError) as caught:
        extraction.plan(str(path), DOCX, limits or Limits(), time.time() + 30, 1)
    return caught.value


def test_a_zip_bomb_is_refused_before_inflating(make: Any) -> None:
    bomb = io.BytesIO(_document())
    with zipfile.ZipFile(bomb, "a", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("word/media/zeros.bin", bytes(8 << 20))
    error = _fails(make.write(bomb.getvalue()))
    assert error.reason == "too_large"
    assert "zip bomb" in error.detail


@pytest.mark.parametrize("limits", [Limits(max_zip_entries=10), Limits(max_zip_bytes=10_000)])
def test_zip_caps(make: Any, limits: Limits) -> None:
    assert _fails(make.write(_document()), limits).reason == "too_large"


def test_entity_expansion_is_not_performed(make: Any) -> None:
    laughs = (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        + b"".join(
            b'<!ENTITY lol%d "%s">' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10)
            for i in range(1, 10)
        )
        + b']><w:document xmlns:w="'
        + W.encode()
        + b'"><w:body><w:p><w:r><w:t>&lol9;</w:t>'
        b"</w:r></w:p></w:body></w:document>"
    )
    bomb = _rezip(_document(), lambda n, b: laughs if n == "word/document.xml" else b)
    started = time.monotonic()
    try:
        outcome = make.run_inline(make.write(bomb), DOCX).text_utf8.decode()
    except ExtractionError as error:  # libxml2 refuses the amplification outright
        outcome = f"{error.reason}: {error.detail}"
    assert outcome.startswith("corrupt") or "lollollol" not in outcome
    assert time.monotonic() - started < 5


def test_not_a_zip_is_corrupt_and_a_zip_is_not_a_word_document(make: Any) -> None:
    assert _fails(make.write(b"PK\x03\x04 not really a zip")).reason == "corrupt"
    other = io.BytesIO()
    with zipfile.ZipFile(other, "w") as archive:
        archive.writestr("hello.txt", "hello")
    assert _fails(make.write(other.getvalue())).reason == "unsupported_type"

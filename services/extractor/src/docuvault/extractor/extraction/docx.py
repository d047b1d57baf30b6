"""DOCX (Transitional and Strict OOXML): a lean package reader and python-docx's safe parser.

Zip-bomb caps are checked on the archive's directory before anything is inflated. Only the parts
that hold text or metadata are read and parsed — the package relationships, the main document,
its headers, footers, footnotes and endnotes, and the core and extended properties — not the
styles, themes and settings a word processor writes beside them (python-docx's package reader
parses every XML part: with Word's 300-800 KB styles that was almost all of the time). The text
is walked from the XML by local name, so Strict documents (another namespace) read the same way:
headers, body paragraphs and tables in document order (a merged cell once; text boxes after
their paragraph; deleted revisions and field codes left out), footnotes, endnotes, footers.
"""

from __future__ import annotations

import io
import posixpath
import zipfile
from datetime import UTC
from pathlib import Path
from typing import Any

from docx.oxml.parser import parse_xml

from docuvault.contracts.events import DocumentMetadata
from docuvault.extractor.extraction.archive import check_zip, not_word
from docuvault.extractor.extraction.model import ExtractionError, Limits, Page, Plan
from docuvault.extractor.extraction.textutil import clean, meta

#: containers whose children are blocks (paragraphs, tables)
_CONTAINERS = frozenset(
    [
        "body",
        "hdr",
        "ftr",
        "footnotes",
        "footnote",
        "endnotes",
        "endnote",
        "sdt",
        "sdtContent",
        "customXml",
        "ins",
        "moveTo",
        "smartTag",
        "txbxContent",
        "AlternateContent",
        "Choice",
        "tc",
    ]
)
#: never text: properties, deleted revisions, field codes, the VML duplicate of a text box
_SKIP = frozenset(
    [
        "pPr",
        "rPr",
        "tblPr",
        "tcPr",
        "trPr",
        "sectPr",
        "del",
        "moveFrom",
        "delText",
        "instrText",
        "Fallback",
        "commentReference",
        "annotationRef",
    ]
)
_PARTS_BEFORE = ("header",)
_PARTS_AFTER = ("footnotes", "endnotes", "footer")


def extract(path: str, limits: Limits) -> Plan:
    data = Path(path).read_bytes()
    names = check_zip(data, limits)
    if "[Content_Types].xml" not in names:
        raise not_word()
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            package = _Package(archive, names)
            main = package.related("", "officeDocument")
            if not main:
                raise not_word()
            document = package.xml(main[0])
            if document is None:
                raise KeyError(f"there is no item named {main[0]!r} in the archive")
            blocks: list[str] = []
            for kind in _PARTS_BEFORE:
                _parts_text(package, main[0], kind, blocks)
            _blocks(document, blocks)
            for kind in _PARTS_AFTER:
                _parts_text(package, main[0], kind, blocks)
            metadata, page_count = _metadata(package)
    except ExtractionError:
        raise
    except Exception as exc:  # lxml and zipfile each have their own errors
        raise ExtractionError(
            "corrupt",
            f"the Word document cannot be read ({type(exc).__name__}: {str(exc)[:200]}); "
            "open and save it again in a word processor, then upload the new file",
        ) from exc
    text = clean("\n".join(blocks))
    if len(text) > limits.max_text_chars:
        raise ExtractionError(
            "too_large",
            f"the document holds over {limits.max_text_chars} "
            "characters of text (DOCUVAULT_EXTRACTOR_MAX_TEXT_CHARS)",
        )
    return Plan("docx", page_count, metadata, pages=(Page(1, text),))


class _Package:
    """The parts of an OPC package (the ZIP) by name, and their relationships."""

    def __init__(self, archive: zipfile.ZipFile, names: set[str]) -> None:
        self.archive = archive
        self.names = names

    def xml(self, name: str) -> Any:
        """The parsed part (safe parser: no entity expansion), or None when it is missing."""
        if name not in self.names:
            return None
        return parse_xml(self.archive.read(name))

    def related(self, source: str, kind: str) -> list[str]:
        """Names of the parts ``source`` ("" = the package) relates to by type ``kind`` (the last
        segment of the relationship type: Transitional and Strict alike), in relationship-id
        order; external targets left out."""
        folder, file = posixpath.split(source)
        rels = self.xml(posixpath.join(folder, "_rels", f"{file}.rels"))
        if rels is None:
            return []
        found: list[tuple[str, str]] = []
        for rel in rels:
            if _local(rel) != "Relationship" or rel.get("TargetMode") == "External":
                continue
            if (rel.get("Type") or "").rsplit("/", 1)[-1] != kind or not rel.get("Target"):
                continue
            target = rel.get("Target")
            name = target[1:] if target.startswith("/") else posixpath.join(folder, target)
            found.append((str(rel.get("Id")), posixpath.normpath(name).lstrip("/")))
        return [name for _, name in sorted(found)]


def _parts_text(package: _Package, main: str, kind: str, out: list[str]) -> None:
    seen: set[str] = set()
    for name in package.related(main, kind):
        element = package.xml(name)
        if element is None:
            continue
        found: list[str] = []
        _blocks(element, found)
        text = "\n".join(found).strip()
        if text and text not in seen:  # odd/even/first-page headers often repeat
            seen.add(text)
            out.append(text)


def _local(element: Any) -> str:
    tag = element.tag
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""


def _blocks(container: Any, out: list[str]) -> None:
    for child in container:
        name = _local(child)
        if name == "p":
            _paragraph(child, out)
        elif name == "tbl":
            _table(child, out)
        elif name in _CONTAINERS:
            _blocks(child, out)


def _paragraph(paragraph: Any, out: list[str]) -> None:
    parts: list[str] = []
    boxes: list[Any] = []

    def walk(element: Any) -> None:
        for child in element:
            name = _local(child)
            if name in _SKIP:
                continue
            if name == "t":
                parts.append(child.text or "")
            elif name == "tab":
                parts.append("\t")
            elif name in ("br", "cr"):
                parts.append("\n")
            elif name == "noBreakHyphen":
                parts.append("-")
            elif name == "txbxContent":
                boxes.append(child)
            else:
                walk(child)

    walk(paragraph)
    out.append("".join(parts))
    for box in boxes:
        _blocks(box, out)


def _table(table: Any, out: list[str]) -> None:
    for row in table:
        if _local(row) != "tr":
            continue
        cells: list[str] = []
        for cell in row:
            if _local(cell) != "tc" or _continues_merge(cell):
                continue
            found: list[str] = []
            _blocks(cell, found)
            cells.append(" ".join(" ".join(found).split()))
        line = "\t".join(cells).strip()
        if line:
            out.append(line)


def _continues_merge(cell: Any) -> bool:
    """A cell under a vertically merged one (``<w:vMerge/>`` without ``val="restart"``)."""
    for prop in cell:
        if _local(prop) == "tcPr":
            for item in prop:
                if _local(item) == "vMerge":
                    values = [v for k, v in item.attrib.items() if k.rpartition("}")[2] == "val"]
                    return not values or values[0] != "restart"
    return False


def _metadata(package: _Package) -> tuple[DocumentMetadata, int]:
    core = next(iter(package.related("", "core-properties")), None)
    app = next(
        iter(
            package.related("", "extended-properties")
            or package.related("", "extendedProperties")  # Transitional or Strict
        ),
        None,
    )
    fields: dict[str, str] = {}
    app_xml = package.xml(app) if app else None
    if app_xml is not None:
        for element in app_xml:
            if _local(element) in ("Pages", "Application") and element.text:
                fields[_local(element)] = element.text.strip()
    pages = int(fields["Pages"]) if fields.get("Pages", "").isdigit() else 1
    props = package.xml(core) if core else None
    if props is None or not hasattr(props, "title_text"):  # python-docx's CT_CoreProperties
        return DocumentMetadata(producer=meta(fields.get("Application"))), max(1, pages)
    created = props.created_datetime
    return DocumentMetadata(
        title=meta(props.title_text),
        author=meta(props.author_text),
        subject=meta(props.subject_text),
        keywords=meta(props.keywords_text),
        created=created if created is None or created.tzinfo else created.replace(tzinfo=UTC),
        producer=meta(fields.get("Application")),
    ), max(1, pages)

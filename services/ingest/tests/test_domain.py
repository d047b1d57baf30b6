import io
import os
import uuid
import zipfile

import pytest

from docuvault.ingest import domain, ooxml


def _zip(*names: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in names:
            archive.writestr(name, "<x/>")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("head", "name", "expected"),
    [
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "x.bin", domain.PDF),
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 20, "a.txt", "image/png"),
        (b"\xff\xd8\xff\xe0" + b"\0" * 20, "a", "image/jpeg"),
        (b"II*\x00" + b"\0" * 20, "a", "image/tiff"),
        (b"MM\x00*" + b"\0" * 20, "a", "image/tiff"),
        (b"GIF89a" + b"\0" * 20, "a", "image/gif"),
        (b"RIFF\x10\x00\x00\x00WEBPVP8 ", "a", "image/webp"),
        (
            b"BM" + b"\x36\x00\x0c\x00" + b"\x00\x00\x00\x00" + b"\x36" + b"\0" * 30,
            "a",
            "image/bmp",
        ),
        (b"plain words, no magic\n", "notes", domain.TEXT),
        (b"# Title\n\nbody", "readme.MD", domain.MARKDOWN),
        (b"a,b\n1,2\n", "t.csv", domain.CSV),
        (b"<!DOCTYPE html><html><body>x</body></html>", "page", domain.HTML),
        ("déjà vu".encode("utf-16"), "u16.txt", domain.TEXT),
        ("Grüße aus Köln".encode("latin-1"), "legacy.txt", domain.TEXT),
    ],
)
def test_type_comes_from_the_bytes(head: bytes, name: str, expected: str) -> None:
    assert domain.sniff(head, name) == expected


def test_a_zip_is_a_docx_candidate_until_its_directory_is_read() -> None:
    docx = _zip("[Content_Types].xml", "_rels/.rels", "word/document.xml")
    assert domain.sniff(docx, "letter.docx") == domain.DOCX
    assert ooxml.word_document_problem(docx, len(docx)) is None
    plain_zip = _zip("photos/1.jpg", "notes.txt")
    problem = ooxml.word_document_problem(plain_zip, len(plain_zip))
    assert problem is not None
    assert "not a Word (DOCX) document" in problem
    assert "damaged" in (ooxml.word_document_problem(b"PK\x03\x04junk", 8) or "")


def test_the_directory_is_found_in_the_tail_of_a_large_package() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<x/>")
        archive.writestr("word/media/image1.png", os.urandom(3 * 1024 * 1024))
        archive.writestr("word/document.xml", "<w/>")
    data = buffer.getvalue()
    tail = data[-ooxml.TAIL_BYTES :]
    assert ooxml.member_names(tail, len(data)) == [
        "[Content_Types].xml",
        "word/media/image1.png",
        "word/document.xml",
    ]


@pytest.mark.parametrize(
    "head", [b"\x00\x01\x02\x03binary\x00", b"\x7fELF\x02\x01\x01" + b"\0" * 30]
)
def test_binary_is_refused(head: bytes) -> None:
    assert domain.sniff(head, "a.txt") is None


def test_name_never_decides_a_binary_type() -> None:
    assert domain.sniff(b"just text", "scan.pdf") == domain.TEXT


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\me\\report.pdf", "report.pdf"),
        ("bad\x00name\x1b[31m.txt", "badname[31m.txt"),
        ("Cafe\u0301.txt", "Café.txt"),
        ("", "unnamed"),
        (None, "unnamed"),
        ("...", "unnamed"),
    ],
)
def test_filenames_are_cleaned_for_display(raw: str | None, clean: str) -> None:
    assert domain.clean_filename(raw) == clean


def test_long_filenames_keep_their_extension() -> None:
    cleaned = domain.clean_filename("x" * 500 + ".pdf")
    assert len(cleaned) == domain.MAX_FILENAME
    assert cleaned.endswith(".pdf")


def test_keys_hold_no_user_text() -> None:
    owner, doc = uuid.uuid4(), uuid.uuid4()
    assert domain.original_key(owner, doc) == f"{owner}/{doc}/original"
    assert domain.original_key(owner, doc).startswith(domain.document_prefix(owner, doc))

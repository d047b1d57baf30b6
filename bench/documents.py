# PyMuPDF ships type hints, but parts of its API are untyped:
# mypy: disable-error-code="no-untyped-call"
"""The benchmark's documents, generated here (deterministic for a seed): text PDFs of 1-2 pages
(PyMuPDF), DOCX (python-docx), plain text, and scans rendered with Pillow at 300 dpi: PNG pages
and image-only PDFs. Real scans from the shared corpus join the scan mix when it is present (read
where they lie, never copied); which ones is decided by the manifest's ``kind`` column only."""

from __future__ import annotations

import csv
import io
import os
import random
from dataclasses import dataclass, field
from pathlib import Path

import docx
import pymupdf
from PIL import Image, ImageDraw, ImageFont

DPI = 300
A4_POINTS = (595, 842)
A4_PIXELS = (2480, 3508)
FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf")
TEXT_KINDS = ("text-pdf", "docx", "text")
SCAN_KINDS = ("scan-png", "scan-pdf")
_WORDS = (
    "invoice payment contract meeting report tax insurance travel garden recipe doctor "
    "school bank loan salary rent energy water phone internet account balance due date "
    "amount total customer order delivery policy claim hospital appointment flight hotel "
    "booking ticket lease tenant landlord budget quarter revenue expense receipt refund "
    "warranty service agreement the of and to in for with on by from this that will be is "
    "are was we you please"
)
VOCABULARY = tuple(_WORDS.split())


@dataclass
class Document:
    name: str
    kind: str  # text-pdf | docx | text | scan-png | scan-pdf | corpus-scan
    data: bytes
    pages: int
    #: images of its scanned pages, for the raw Tesseract baseline (empty for text kinds)
    scan_images: list[Path] = field(default_factory=list)

    @property
    def is_pdf(self) -> bool:
        return self.data.startswith(b"%PDF")


def _sentences(rng: random.Random, words: int) -> str:
    out: list[str] = []
    while len(out) < words:
        sentence = rng.choices(VOCABULARY, k=rng.randint(6, 16))
        out.extend([sentence[0].capitalize(), *sentence[1:-1], sentence[-1] + "."])
    return " ".join(out)


def _text_pdf(rng: random.Random, title: str) -> tuple[bytes, int]:
    pdf = pymupdf.open()
    pages = rng.randint(1, 2)
    for n in range(pages):
        page = pdf.new_page(width=A4_POINTS[0], height=A4_POINTS[1])
        body = f"{title} - page {n + 1}\n\n" + _sentences(rng, rng.randint(250, 420))
        page.insert_textbox(pymupdf.Rect(56, 56, 539, 786), body, fontsize=10, fontname="helv")
    data: bytes = pdf.tobytes(garbage=3, deflate=True)
    return data, pages


def _docx(rng: random.Random, title: str) -> bytes:
    document = docx.Document()
    document.add_heading(title, level=1)
    for _ in range(rng.randint(3, 8)):
        document.add_paragraph(_sentences(rng, rng.randint(40, 90)))
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def _scan_page(rng: random.Random, title: str, path: Path) -> bytes:
    """A grey 300-dpi A4 page of 10-pt serif text, slightly skewed, written as PNG."""
    image = Image.new("L", A4_PIXELS, 250)
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype(str(FONT), 42)
    y = 220
    draw.text((220, y), title, fill=20, font=font)
    words = _sentences(rng, 14 * rng.randint(20, 40)).split()
    line: list[str] = []
    for word in [*words, ""]:
        if not word or draw.textlength(" ".join([*line, word]), font=font) > A4_PIXELS[0] - 440:
            y += 62
            draw.text((220, y), " ".join(line), fill=rng.randint(10, 50), font=font)
            line = []
            if y > A4_PIXELS[1] - 300:
                break
        line.append(word)
    skewed = image.rotate(rng.uniform(-0.6, 0.6), Image.Resampling.BICUBIC, fillcolor=250)
    out = io.BytesIO()
    skewed.save(out, format="PNG", dpi=(DPI, DPI))
    path.write_bytes(out.getvalue())
    return out.getvalue()


def _image_pdf(pngs: list[bytes]) -> bytes:
    pdf = pymupdf.open()
    for png in pngs:
        page = pdf.new_page(width=A4_POINTS[0], height=A4_POINTS[1])
        page.insert_image(page.rect, stream=png)
    data: bytes = pdf.tobytes(garbage=3, deflate=True)
    return data


def generate(kind: str, n: int, seed: int, scratch: Path) -> Document:
    rng = random.Random(f"{seed}-{kind}-{n}")
    title = f"Document {seed}-{n}: {' '.join(rng.choices(VOCABULARY, k=4))}"
    if kind == "text-pdf":
        data, pages = _text_pdf(rng, title)
        return Document(f"doc-{n}.pdf", kind, data, pages)
    if kind == "docx":
        return Document(f"doc-{n}.docx", kind, _docx(rng, title), 1)
    if kind == "text":
        body = f"{title}\n\n{_sentences(rng, rng.randint(80, 400))}\n"
        return Document(f"doc-{n}.txt", kind, body.encode(), 1)
    pages = 1 if kind == "scan-png" else rng.randint(1, 2)
    # the kind is in the name: scan-png n and scan-pdf n must not write the same image file
    paths = [scratch / f"{kind}-{seed}-{n}-{p}.png" for p in range(pages)]
    pngs = [_scan_page(rng, f"{title} ({p + 1})", path) for p, path in enumerate(paths)]
    if kind == "scan-png":
        return Document(f"scan-{n}.png", kind, pngs[0], 1, paths)
    return Document(f"scan-{n}.pdf", kind, _image_pdf(pngs), pages, paths)


def corpus_dir() -> Path | None:
    found = Path(os.environ.get("DOCUVAULT_CORPUS", Path(__file__).parents[2] / "shared/corpus"))
    return found if (found / "MANIFEST.tsv").is_file() else None


def corpus_scans(scratch: Path) -> list[Document]:
    """The corpus's scanned pages (manifest kinds ``image`` and ``scanned-pdf``); [] if absent.
    Image files are read by Tesseract where they lie; PDF pages are rendered at 300 dpi."""
    root = corpus_dir()
    if root is None:
        return []
    found: list[Document] = []
    with (root / "MANIFEST.tsv").open(newline="") as manifest:
        for row in csv.DictReader(manifest, delimiter="\t"):
            if row["kind"] not in ("image", "scanned-pdf"):
                continue
            path = root / row["path"]
            data, pages = path.read_bytes(), int(row["pages"])
            images = [path]
            if row["kind"] == "scanned-pdf":
                with pymupdf.open(stream=data) as pdf:
                    images = []
                    for p, page in enumerate(pdf):
                        image = scratch / f"corpus-{len(found)}-{p}.png"
                        page.get_pixmap(dpi=DPI).save(str(image))
                        images.append(image)
            found.append(Document(path.name, "corpus-scan", data, pages, images))
    return found

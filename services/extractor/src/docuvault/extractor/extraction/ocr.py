"""Tesseract OCR of one page image (a file the caller wrote), rotated pages included.

The outputs are written beside the image, so the caller's temporary folder holds everything.

Tesseract runs as a child process of the worker with ``OMP_THREAD_LIMIT=1``: parallelism comes
from the worker pool, and Tesseract's own threads only fight over the same cores.
"""

from __future__ import annotations

import functools
import os
import time
from dataclasses import dataclass
from pathlib import Path

import pytesseract
from PIL import Image

from docuvault.extractor.extraction.model import ExtractionError
from docuvault.extractor.extraction.textutil import clean

#: below this mean word confidence the page's orientation is checked
LOW_CONFIDENCE = 0.6
#: orientation and script detection only (needs osd.traineddata)
PSM_ORIENTATION = 0
PSM_AUTO = 3
#: Tesseract's orientation confidence below which a detected turn is not trusted
MIN_ORIENTATION_CONFIDENCE = 1.0
#: characters orientation detection classifies at least (Tesseract's default 50, and up to five
#: times as many). Its cost grows with them: on the corpus's small images 10 took 0.15-0.24 s
#: against 0.21-0.37 s for 20 (a whole reading of them 0.2-1.0 s), and it still found every turn
#: of the corpus's turned page and of generated A4 pages turned 90/180/270° with confidence
#: 3.3 to 7.4, well above the threshold above (with 5: 2.0 to 3.7, too close)
OSD_CHARACTERS = 10


#: the page image handed to Tesseract: an uncompressed grey TIFF is written in ≈ 10 ms per A4
#: page at 300 dpi, and Tesseract reads it as fast as a PNG; it read the same page as PGM ≈ 7 %
#: slower (Leptonica's PNM reader), and a compressed PNG costs ≈ 190 ms to write
PAGE_IMAGE = "page.tif"


@dataclass(frozen=True)
class Recognized:
    text: str
    confidence: float | None  # 0..1, None when no word was read
    words: int


def save_page_image(image: Image.Image, path: str, dpi: int | None) -> None:
    """Write ``image`` in grey where Tesseract reads it (see ``PAGE_IMAGE``); a bilevel scan
    stays bilevel (Tesseract binarises anyway; widened to 8 bits it is 8 times the bytes)."""
    grey = image if image.mode in ("1", "L") else image.convert("L")
    # compression named: Pillow would otherwise take the source TIFF's (e.g. group4, 1-bit only)
    grey.save(path, format="TIFF", compression="raw", **({"dpi": (dpi, dpi)} if dpi else {}))


def single_threaded() -> None:
    os.environ["OMP_THREAD_LIMIT"] = "1"


@functools.cache
def installed_languages() -> frozenset[str]:
    try:
        return frozenset(pytesseract.get_languages(config=""))
    except pytesseract.TesseractNotFoundError as exc:
        raise ExtractionError(
            "ocr_unavailable",
            "Tesseract is not installed on the extractor's machine, so pages without a text "
            "layer cannot be read; install tesseract-ocr and reprocess the document",
        ) from exc


def check_languages(languages: str) -> None:
    missing = sorted(set(languages.split("+")) - installed_languages())
    if missing:
        raise ExtractionError(
            "ocr_unavailable",
            f"OCR language data {', '.join(missing)} is not installed (DOCUVAULT_OCR_LANGUAGES="
            f"{languages}); install tesseract-ocr-{missing[0]} or change the setting, then "
            "reprocess the document",
        )


def recognize(image_path: str, *, languages: str, deadline: float, dpi: int | None) -> Recognized:
    """Read the text of one page; a page read with low confidence may be sideways or upside
    down: its orientation is detected (``--psm 0`` on a few characters: a third of a reading of
    an A4 page) and, only when it is turned, the upright image is read again and the better
    reading kept.
    (Reading every low-confidence page again with ``--psm 1`` cost a whole second reading on
    every page in a script the configured languages do not cover, where orientation is rarely
    the problem.)"""
    single_threaded()
    check_languages(languages)
    first = _tesseract(image_path, languages, deadline, dpi)
    if first.words == 0 or (first.confidence or 0.0) >= LOW_CONFIDENCE:
        return first
    try:
        turn = _orientation(image_path, deadline, dpi)
        if not turn:
            return first
        second = _tesseract(_turned(image_path, turn), languages, deadline, dpi)
    except ExtractionError as exc:
        if exc.reason == "timeout":
            raise
        return first
    return second if (second.confidence or 0.0) > (first.confidence or 0.0) else first


def _tesseract(image_path: str, languages: str, deadline: float, dpi: int | None) -> Recognized:
    base = str(Path(image_path).with_suffix(""))
    config = f"--psm {PSM_AUTO} -c tessedit_create_tsv=1" + (f" --dpi {dpi}" if dpi else "")
    _run(image_path, base, "txt", languages, config, deadline)
    text = Path(base + ".txt").read_text(encoding="utf-8", errors="replace")
    tsv = Path(base + ".tsv").read_text(encoding="utf-8", errors="replace")
    confidences = _word_confidences(tsv)
    mean = round(sum(confidences) / len(confidences) / 100.0, 3) if confidences else None
    return Recognized(clean(text), mean, len(confidences))


def _orientation(image_path: str, deadline: float, dpi: int | None) -> int:
    """Degrees to turn the image clockwise to make it upright (0 when unsure or upright)."""
    base = str(Path(image_path).with_suffix("")) + "-osd"
    config = f"--psm {PSM_ORIENTATION} -c min_characters_to_try={OSD_CHARACTERS}" + (
        f" --dpi {dpi}" if dpi else ""
    )
    _run(image_path, base, "osd", "osd", config, deadline)
    found = dict(
        line.split(":", 1) for line in Path(base + ".osd").read_text().splitlines() if ":" in line
    )
    try:
        turn, confidence = int(found["Rotate"]), float(found["Orientation confidence"])
    except (KeyError, ValueError):
        return 0
    return turn if turn in (90, 180, 270) and confidence >= MIN_ORIENTATION_CONFIDENCE else 0


def _turned(image_path: str, turn: int) -> str:
    path = Path(image_path)
    upright = str(path.with_name(f"{path.stem}-upright{path.suffix}"))
    with Image.open(image_path) as image:
        image.rotate(-turn, expand=True).save(upright)  # PIL turns counter-clockwise
    return upright


def _run(image: str, base: str, extension: str, lang: str, config: str, deadline: float) -> None:
    remaining = deadline - time.time()
    if remaining <= 0:
        raise ExtractionError("timeout", "the time budget ran out before OCR of a page")
    try:
        pytesseract.pytesseract.run_tesseract(
            image,
            base,
            extension=extension,
            lang=lang,
            config=config,
            timeout=max(1, int(remaining)),
        )
    except pytesseract.TesseractNotFoundError as exc:
        raise ExtractionError(
            "ocr_unavailable", "Tesseract is not installed on the extractor's machine"
        ) from exc
    except pytesseract.TesseractError as exc:
        message = str(exc.message).strip()
        if "language" in message.lower() or "data file" in message.lower():
            raise ExtractionError("ocr_unavailable", f"Tesseract: {message}") from exc
        raise ExtractionError("internal", f"Tesseract failed on a page: {message}") from exc
    except RuntimeError as exc:
        if "timeout" in str(exc).lower():
            raise ExtractionError("timeout", "the time budget ran out during OCR") from exc
        raise


def _word_confidences(tsv: str) -> list[float]:
    """Confidence (0..100) of every recognised word in Tesseract's TSV output."""
    found: list[float] = []
    for line in tsv.splitlines()[1:]:
        cols = line.split("\t")
        if len(cols) < 12 or not cols[11].strip():
            continue
        try:
            conf = float(cols[10])
        except ValueError:
            continue
        if conf >= 0:
            found.append(conf)
    return found

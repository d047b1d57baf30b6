"""Images: PNG, JPEG (EXIF orientation applied), TIFF (every frame), WebP, GIF, BMP → OCR.

The pixel cap is checked from the header of every frame before any pixel is decoded. Animated
GIF and WebP are read on their first frame (animations are not documents).
"""

from __future__ import annotations

import os
import tempfile
from datetime import UTC, datetime

from PIL import Image, ImageOps, UnidentifiedImageError

from docuvault.contracts.events import DocumentMetadata
from docuvault.extractor.extraction import ocr
from docuvault.extractor.extraction.model import (
    ExtractionError,
    Limits,
    OcrTask,
    Page,
    Plan,
    check_deadline,
)
from docuvault.extractor.extraction.textutil import meta

FORMATS = {"PNG", "JPEG", "MPO", "TIFF", "WEBP", "GIF", "BMP"}
MULTI_PAGE = {"TIFF"}
#: EXIF tags: ImageDescription, Software, DateTime, Artist
_TITLE, _SOFTWARE, _DATETIME, _ARTIST = 0x010E, 0x0131, 0x0132, 0x013B
#: Pillow's reading errors for a damaged file
_BROKEN = (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError, IndexError)

Image.MAX_IMAGE_PIXELS = None  # our own cap (Limits.max_image_pixels) is checked before decoding


def plan(path: str, limits: Limits) -> Plan:
    try:
        with Image.open(path) as img:
            if img.format not in FORMATS:
                raise ExtractionError(
                    "unsupported_type", f"{img.format} images are not supported; use PNG or JPEG"
                )
            frames = int(getattr(img, "n_frames", 1)) if img.format in MULTI_PAGE else 1
            if frames > limits.max_pages:
                raise ExtractionError(
                    "too_large",
                    f"the image has {frames} pages; the extractor reads at most "
                    f"{limits.max_pages} (DOCUVAULT_EXTRACTOR_MAX_PAGES)",
                )
            for index in range(frames):
                img.seek(index)
                _check_pixels(img, limits)
            img.seek(0)
            metadata = _metadata(img)
    except _BROKEN as exc:
        raise _corrupt(exc, path) from exc
    return Plan("image", frames, metadata, ocr=tuple(OcrTask(i) for i in range(frames)))


def ocr_frame(path: str, task: OcrTask, limits: Limits, deadline: float) -> Page:
    check_deadline(deadline, "waiting to OCR an image")
    with tempfile.TemporaryDirectory(prefix="docuvault-ocr-") as tmp:
        image = os.path.join(tmp, ocr.PAGE_IMAGE)
        try:
            dpi = _prepare(path, task.index, limits, image)
        except _BROKEN as exc:
            raise _corrupt(exc, path) from exc
        read = ocr.recognize(image, languages=limits.ocr_languages, deadline=deadline, dpi=dpi)
    return Page(task.index + 1, read.text, "ocr", read.confidence)


def _prepare(path: str, index: int, limits: Limits, out: str) -> int | None:
    """Write frame ``index`` upright, in grey, on white; return its resolution when known."""
    with Image.open(path) as img:
        img.seek(index)
        _check_pixels(img, limits)
        img.load()
        dpi = _dpi(img.info.get("dpi"))
        frame = ImageOps.exif_transpose(img) or img
        transparent = frame.mode == "P" and "transparency" in frame.info
        if frame.mode in ("RGBA", "LA", "PA") or transparent:
            rgba = frame.convert("RGBA")
            flat = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            flat.alpha_composite(rgba)
            frame = flat
        ocr.save_page_image(frame, out, dpi)
    return dpi


def _check_pixels(img: Image.Image, limits: Limits) -> None:
    width, height = img.size
    if width * height > limits.max_image_pixels:
        raise ExtractionError(
            "too_large",
            f"the image is {width} x {height} pixels ({width * height / 1e6:.0f} megapixels); the "
            f"extractor reads at most {limits.max_image_pixels / 1e6:.0f} megapixels "
            "(DOCUVAULT_EXTRACTOR_MAX_IMAGE_PIXELS): scale it down and upload it again",
        )
    if width == 0 or height == 0:
        raise ExtractionError("corrupt", "the image has no pixels")


def _dpi(value: object) -> int | None:
    if isinstance(value, tuple) and value:
        try:
            dpi = round(float(value[0]))
        except (TypeError, ValueError):
            return None
        return dpi if 70 <= dpi <= 2400 else None
    return None


def _metadata(img: Image.Image) -> DocumentMetadata:
    try:
        exif = img.getexif()
    except _BROKEN:
        return DocumentMetadata()
    created = None
    stamp = exif.get(_DATETIME)
    if isinstance(stamp, str):
        try:
            created = datetime.strptime(stamp.strip(), "%Y:%m:%d %H:%M:%S").replace(tzinfo=UTC)
        except ValueError:
            created = None
    return DocumentMetadata(
        title=meta(exif.get(_TITLE)),
        author=meta(exif.get(_ARTIST)),
        created=created,
        producer=meta(exif.get(_SOFTWARE)),
    )


def _corrupt(exc: BaseException, path: str) -> ExtractionError:
    if isinstance(exc, ExtractionError):
        return exc
    message = str(exc).replace(f"'{path}'", "").replace(path, "").strip()[:200]
    return ExtractionError(
        "corrupt",
        f"the image cannot be decoded ({type(exc).__name__}: {message}); it may be "
        "truncated or damaged: save or scan it again and upload the new file",
    )

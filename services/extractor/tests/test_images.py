"""Image OCR, in this process: formats, EXIF orientation, TIFF pages, transparency, limits."""

from __future__ import annotations

import io
import json
import time
from typing import Any

import pytest
from PIL import Image

from docuvault.extractor import extraction
from docuvault.extractor.extraction.model import ExtractionError, Limits

LINES = ["Meeting notes from the harbour office", "Delivery of forty crates on Tuesday"]
EXPECTED = "\n".join(LINES)


def _encode(image: Image.Image, fmt: str, **options: Any) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **options)
    return out.getvalue()


def test_png_is_read_with_a_confidence(make: Any) -> None:
    result = make.run_inline(make.write(make.png(make.text_image(LINES))), "image/png")
    (page,) = json.loads(result.pages_json)
    assert make.cer(EXPECTED, page["text"]) <= 0.03
    assert page["source"] == "ocr"
    assert page["ocr_confidence"] > 0.8
    assert result.ocr_pages == (1,)
    assert result.page_count == 1


@pytest.mark.parametrize(("dpi", "rotate"), [(150, 0), (150, 90), (300, 0)])
def test_png_scans_at_150_to_300_dpi(make: Any, dpi: int, rotate: int) -> None:
    """11-point text as a scanner at ``dpi`` sees it, the resolution recorded in the PNG."""
    image = make.text_image(LINES, font_size=round(11 * dpi / 72), margin=dpi // 3)
    if rotate:
        image = image.rotate(rotate, expand=True, fillcolor=255)
    result = make.run_inline(make.write(make.png(image, dpi=(dpi, dpi))), "image/png")
    assert result.ocr_pages == (1,)
    assert make.cer(EXPECTED, result.text_utf8.decode()) <= 0.03


def test_sideways_png_is_read_upright(make: Any) -> None:
    image = make.text_image(LINES, rotate=90)
    result = make.run_inline(make.write(make.png(image, dpi=(150, 150))), "image/png")
    assert make.cer(EXPECTED, result.text_utf8.decode()) <= 0.03


def test_jpeg_exif_orientation_is_applied(make: Any) -> None:
    upright = make.text_image(LINES).convert("RGB")
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # as a camera held sideways stores it
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    exif[0x0131] = "Test Scanner 2.0"
    data = _encode(stored, "JPEG", quality=95, exif=exif.tobytes())
    result = make.run_inline(make.write(data), "image/jpeg")
    assert make.cer(EXPECTED, result.text_utf8.decode()) <= 0.03
    assert result.metadata.producer == "Test Scanner 2.0"


def test_every_page_of_a_tiff_is_read(make: Any) -> None:
    first = make.text_image(["First page speaks of apples"])
    second = make.text_image(["Second page speaks of pears"])
    data = _encode(first, "TIFF", save_all=True, append_images=[second], compression="tiff_lzw")
    result = make.run_inline(make.write(data), "image/tiff")
    pages = json.loads(result.pages_json)
    assert [p["page"] for p in pages] == [1, 2]
    assert result.ocr_pages == (1, 2)
    assert "apples" in pages[0]["text"]
    assert "pears" in pages[1]["text"]


@pytest.mark.parametrize(
    ("fmt", "content_type"), [("WEBP", "image/webp"), ("GIF", "image/gif"), ("BMP", "image/bmp")]
)
def test_other_formats(make: Any, fmt: str, content_type: str) -> None:
    options = {"lossless": True} if fmt == "WEBP" else {}
    data = _encode(make.text_image(LINES[:1]), fmt, **options)
    result = make.run_inline(make.write(data), content_type)
    assert make.cer(LINES[0], result.text_utf8.decode()) <= 0.03


def test_text_on_a_transparent_background_is_read(make: Any) -> None:
    grey = make.text_image(LINES[:1])
    rgba = Image.new("RGBA", grey.size, (0, 0, 0, 0))  # transparent black: a naive flatten is black
    rgba.putalpha(grey.point(lambda v: 255 - v))
    result = make.run_inline(make.write(make.png(rgba)), "image/png")
    assert make.cer(LINES[0], result.text_utf8.decode()) <= 0.03


def _fails(path: Any, content_type: str, limits: Limits | None = None) -> ExtractionError:
    with pytest.raises(ExtractionError) as caught:
        extraction.plan(str(path), content_type, limits or Limits(), time.time() + 30, 1)
    return caught.value


def test_an_image_over_the_pixel_cap_is_too_large_before_decoding(make: Any) -> None:
    data = make.png(Image.new("L", (2000, 1000), 255))
    error = _fails(make.write(data), "image/png", Limits(max_image_pixels=1_000_000))
    assert error.reason == "too_large"
    assert "2000 x 1000" in error.detail


def test_a_tiff_with_too_many_pages_is_too_large(make: Any) -> None:
    frames = [Image.new("L", (20, 20), 255) for _ in range(3)]
    data = _encode(frames[0], "TIFF", save_all=True, append_images=frames[1:])
    assert _fails(make.write(data), "image/tiff", Limits(max_pages=2)).reason == "too_large"


def test_a_truncated_image_is_corrupt(make: Any) -> None:
    data = make.png(make.text_image(LINES))
    path = make.write(data[: len(data) // 2])
    plan = extraction.plan(str(path), "image/png", Limits(), time.time() + 30, 1)
    with pytest.raises(ExtractionError) as caught:
        extraction.ocr_page(str(path), plan.kind, plan.ocr[0], Limits(), time.time() + 30)
    assert caught.value.reason == "corrupt"
    assert "truncated" in caught.value.detail
    assert str(make.folder) not in caught.value.detail


def test_garbage_is_corrupt(make: Any) -> None:
    error = _fails(make.write(b"\x89PNG\r\n\x1a\n" + b"\x00garbage" * 50), "image/png")
    assert error.reason == "corrupt"
    assert str(make.folder) not in error.detail


def test_missing_ocr_language_data_is_ocr_unavailable(make: Any) -> None:
    path = make.write(make.png(make.text_image(LINES[:1])))
    limits = Limits(ocr_languages="eng+xyz")
    plan = extraction.plan(str(path), "image/png", limits, time.time() + 30, 1)
    with pytest.raises(ExtractionError) as caught:
        extraction.ocr_page(str(path), plan.kind, plan.ocr[0], limits, time.time() + 30)
    assert caught.value.reason == "ocr_unavailable"
    assert "xyz" in caught.value.detail

"""Imported once by the pool's forkserver, before it forks any worker.

Every worker then starts with the format readers imported and the language model loaded
(shared copy-on-write), instead of paying for them itself: about a second of CPU per worker,
which a worker retired after ``TASKS_PER_WORKER`` tasks or replaced after a crash paid again.
Nothing here may fail the forkserver: a worker loads whatever is missing on first use anyway.
"""

from __future__ import annotations

import contextlib


def _load() -> None:
    with contextlib.suppress(Exception):
        from docuvault.extractor.extraction import docx, images, ocr, pdf, text  # noqa: F401
    with contextlib.suppress(Exception):
        from docuvault.extractor.extraction import language

        language.preload()
    with contextlib.suppress(Exception):
        from docuvault.extractor.extraction import ocr

        ocr.installed_languages()  # runs `tesseract --list-langs` once, not once per worker


_load()

"""Print the README's table of corpus outcomes: every file of the shared corpus's ``pdf``,
``docx`` and ``images`` folders through the real extraction (``Extractor`` over a
``WorkerPool(2)``, the service's default limits), one Markdown row per file.

    uv run --frozen --no-sync python services/extractor/scripts/corpus_table.py [CORPUS]

The corpus is ``$DOCUVAULT_CORPUS``, the argument, or ``../shared/corpus`` beside the repository.
"""

from __future__ import annotations

import asyncio
import csv
import os
import sys
from pathlib import Path

from docuvault.extractor.extraction.model import Limits, Outcome, Result
from docuvault.extractor.pool import WorkerPool
from docuvault.extractor.service import Extractor

FOLDERS = ("pdf", "docx", "images")
TYPES = {
    ".pdf": "application/pdf",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".tif": "image/tiff",
    ".tiff": "image/tiff",
}
DETAIL_CHARS = 90


def _root() -> Path:
    if len(sys.argv) > 1:
        return Path(sys.argv[1])
    default = Path(__file__).resolve().parents[4] / "shared" / "corpus"
    return Path(os.environ.get("DOCUVAULT_CORPUS", default))


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _row(path: str, kind: str, outcome: Outcome) -> str:
    if isinstance(outcome, Result):
        ocr = ",".join(map(str, outcome.ocr_pages)) or "—"
        what = f"{outcome.char_count} chars, language {outcome.language or '—'}"
        return f"| `{path}` | {kind} | extracted | {outcome.page_count} | {ocr} | {what} |"
    detail = outcome.detail
    short = (
        detail if len(detail) <= DETAIL_CHARS else detail[:DETAIL_CHARS].rsplit(" ", 1)[0] + " …"
    )
    return f"| `{path}` | {kind} | failed: **{outcome.reason}** | | | {_cell(short)} |"


async def main() -> None:
    root = _root()
    if not (root / "MANIFEST.tsv").is_file():
        raise SystemExit(f"no corpus at {root} (MANIFEST.tsv missing)")
    with (root / "MANIFEST.tsv").open(encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f, delimiter="\t") if r["path"].split("/")[0] in FOLDERS]
    pool = WorkerPool(2)
    try:
        extractor = Extractor(pool, Limits(), timeout_s=300)
        outcomes = await asyncio.gather(
            *(extractor(root / r["path"], TYPES[Path(r["path"]).suffix.lower()]) for r in rows)
        )
    finally:
        await pool.close()
    print("| file | manifest kind | outcome | pages | OCR'd pages | text / reason |")
    print("|---|---|---|---|---|---|")
    for row, outcome in zip(rows, outcomes, strict=True):
        print(_row(row["path"], row["kind"], outcome))


if __name__ == "__main__":
    asyncio.run(main())

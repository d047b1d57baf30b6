"""Readable tables for people (``--json`` bypasses them)."""

from __future__ import annotations

import html
import re
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

_MARK = re.compile(r"<mark>(.*?)</mark>", re.S)


def _snippet(raw: str | None) -> Text:
    """``<mark>`` becomes bold; the rest is unescaped plain text."""
    text = Text()
    position = 0
    source = raw or ""
    for match in _MARK.finditer(source):
        text.append(html.unescape(source[position : match.start()]))
        text.append(html.unescape(match.group(1)), style="bold yellow")
        position = match.end()
    text.append(html.unescape(source[position:]))
    return text


def _topics(doc: dict[str, Any]) -> str:
    return ", ".join(t["name"] for t in doc.get("topics", [])) or "-"


def document(console: Console, doc: dict[str, Any]) -> None:
    table = Table(show_header=False, box=None)
    for label, value in (
        ("id", doc["document_id"]),
        ("file", doc["filename"]),
        ("type", doc["content_type"]),
        ("size", f"{doc['size_bytes']} bytes"),
        ("status", doc["status"]),
        ("pages", doc.get("page_count")),
        ("language", doc.get("language")),
        ("topics", _topics(doc)),
        ("duplicate of", doc.get("duplicate_of")),
        ("uploaded", doc.get("uploaded_at")),
    ):
        if value is not None:
            table.add_row(label, str(value))
    failure = doc.get("failure")
    if failure:
        table.add_row("failure", f"{failure['stage']}: {failure['reason']} — {failure['detail']}")
    console.print(table)
    for entry in doc.get("history", []):
        console.print(f"  {entry['time']}  {entry['type'].removeprefix('io.docuvault.')}")


def search_results(console: Console, items: list[dict[str, Any]]) -> None:
    if not items:
        console.print("no documents match")
        return
    table = Table("rank", "file", "status", "topics", "snippet")
    for item in items:
        rank = item.get("rank")
        table.add_row(
            f"{rank:.3f}" if rank is not None else "-",
            item["filename"] or "?",
            item["status"],
            _topics(item),
            _snippet(item.get("snippet")),
        )
    console.print(table)


def topics(console: Console, items: list[dict[str, Any]]) -> None:
    table = Table("name", "documents", "keywords", "id")
    for item in items:
        table.add_row(
            item["name"], str(item["document_count"]), ", ".join(item["keywords"]), item["topic_id"]
        )
    console.print(table)


def upload_summary(console: Console, outcomes: list[Any]) -> None:
    """The summary table of an upload run (stderr)."""
    accepted = sum(len(o.documents) for o in outcomes)
    duplicates = sum(1 for o in outcomes for d in o.documents if d.get("duplicate_of"))
    retried = sum(1 for o in outcomes if o.attempts > 1)
    failed = [o for o in outcomes if o.error]
    table = Table("uploaded", "duplicates", "retried", "failed", box=None)
    table.add_row(str(accepted), str(duplicates), str(retried), str(len(failed)))
    console.print(table)

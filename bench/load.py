"""Drive a stack: upload documents ``concurrency`` at a time, wait until the catalog shows each in
a final status, then read every document's timeline (``history``) from the catalog's detail."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from bench.documents import Document
from docuvault.devstack.faults import polite_get
from docuvault.devstack.stack import Stack

#: how often the catalog is asked whether all are final (the times come from the events, so
#: this only bounds how long the benchmark waits; it adds a little load to the catalog)
POLL_S = 2.0
FINAL = ("classified", "extraction_failed", "classification_failed")
TOPICS = (
    ("Money", ["invoice", "payment", "bank", "loan", "salary"]),
    ("Home", ["rent", "lease", "tenant", "landlord", "energy", "water"]),
    ("Health", ["doctor", "hospital", "insurance", "appointment"]),
    ("Travel", ["travel", "flight", "hotel", "booking", "ticket"]),
)


@dataclass
class Trace:
    """One document: client-side clock (``time.time()``) and the producers' event times."""

    document: Document
    started: float  # the upload request was sent
    accepted: float  # its 202 arrived
    document_id: str
    status: str = "unknown"
    page_count: int | None = None
    uploaded: float | None = None  # document.uploaded (ingest)
    extracted: float | None = None  # document.text_extracted | extraction_failed (extractor)
    final: float | None = None  # classified | extraction_failed | classification_failed


@dataclass
class Outcome:
    traces: list[Trace]
    refused: list[str]  # "<name>: <status> <body>" of uploads that were not accepted
    seen_all_final: float | None  # client time when the catalog listed every document final


def _when(history: list[dict[str, Any]], *names: str) -> float | None:
    times = [
        datetime.fromisoformat(h["time"]).timestamp()
        for h in history
        if h["type"].removeprefix("io.docuvault.").rsplit(".", 1)[0] in names
    ]
    return min(times) if times else None


NOT_FINAL = ("received", "extracted")


async def _get(
    client: httpx.AsyncClient, url: str, params: dict[str, Any] | None = None
) -> httpx.Response:
    """Reading 1,000 documents' details at once exceeds one token's burst: 429s are waited out."""
    return (await polite_get(client, url, params)).raise_for_status()


async def _any_unfinished(client: httpx.AsyncClient, catalog: str) -> bool:
    """One small request: does the catalog list any document of the owner not yet final?"""
    params: dict[str, Any] = {"status": list(NOT_FINAL), "limit": 1}
    page = await _get(client, f"{catalog}/v1/documents", params)
    return bool(page.json()["items"])


async def _count_final(client: httpx.AsyncClient, catalog: str) -> int:
    done, cursor = 0, None
    while True:
        params: dict[str, Any] = {"status": list(FINAL), "limit": 100}
        if cursor:
            params["cursor"] = cursor
        page = await _get(client, f"{catalog}/v1/documents", params)
        body = page.json()
        done += len(body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            return done


async def drive(
    stack: Stack,
    headers: dict[str, str],
    documents: Sequence[Document],
    concurrency: int,
    timeout_s: float,
    finished: Callable[[], None] | None = None,
) -> Outcome:
    """``finished`` is called once the catalog lists every accepted document as final, before
    the documents' timelines are read (so a caller can stop measuring the stack there)."""
    ingest, catalog = stack.config.url("ingest"), stack.config.url("catalog")
    limit = asyncio.Semaphore(concurrency)
    traces: list[Trace] = []
    refused: list[str] = []
    async with httpx.AsyncClient(headers=headers, timeout=120) as client:
        for name, keywords in TOPICS:
            answer = await client.post(
                f"{catalog}/v1/topics", json={"name": name, "keywords": keywords}
            )
            answer.raise_for_status()
        await asyncio.sleep(2)  # let the topics reach the classifier's replica

        async def upload(document: Document) -> None:
            async with limit:
                started = time.time()
                answer = await client.post(
                    f"{ingest}/v1/documents", files={"file": (document.name, document.data)}
                )
                accepted = time.time()
            if answer.status_code != 202 or not answer.json()["documents"]:
                refused.append(f"{document.name}: {answer.status_code} {answer.text[:200]}")
                return
            document_id = answer.json()["documents"][0]["document_id"]
            traces.append(Trace(document, started, accepted, document_id))

        await asyncio.gather(*(upload(d) for d in documents))
        deadline = time.monotonic() + timeout_s
        seen_all_final = None
        while time.monotonic() < deadline:
            # the full count pages through every final document: asked only when no document
            # is listed unfinished (one that is not in the catalog yet is in neither list)
            done = not await _any_unfinished(client, catalog)
            if done and await _count_final(client, catalog) >= len(traces):
                seen_all_final = time.time()
                break
            await asyncio.sleep(POLL_S)
        if finished is not None:
            finished()

        async def detail(trace: Trace) -> None:
            async with limit:
                body = (await _get(client, f"{catalog}/v1/documents/{trace.document_id}")).json()
            history = body["history"]
            trace.status, trace.page_count = body["status"], body["page_count"]
            trace.uploaded = _when(history, "document.uploaded")
            trace.extracted = _when(
                history, "document.text_extracted", "document.extraction_failed"
            )
            if trace.status in FINAL:
                trace.final = _when(
                    history,
                    "document.classified",
                    "document.extraction_failed",
                    "document.classification_failed",
                )

        await asyncio.gather(*(detail(t) for t in traces))
    return Outcome(traces, refused, seen_all_final)

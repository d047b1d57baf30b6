"""The catalog benchmark's documents: corpus sentences with marker words at fixed frequencies,
loaded into a scratch read model through the catalog's own batched projection.

Each document has a ``document.uploaded.v1`` and a ``document.text_extracted.v1`` event; both
go through ``project_events`` (the code path of the consumer's group commits and of a rebuild)
in transactions of ``BATCH`` documents, from ``LOADERS`` processes at once.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import multiprocessing
import random
import re
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg

from docuvault.catalog.adapters.documents import project_events
from docuvault.catalog.handlers import CONSUMER
from docuvault.contracts import CloudEvent, new_event
from docuvault.contracts.events import DocumentUploaded, TextExtracted
from docuvault.devstack.pytest_plugin import corpus_dir

#: marker family → share of documents carrying each of its words (independently drawn)
MARKERS = {"rare": 0.00001, "uncommon": 0.001, "tenth": 0.10, "half": 0.50}
#: distinct words per family, so that repeated queries do not all hit one cached posting list
WORDS_PER_MARKER = 8
SENTENCES_PER_DOC = (4, 9)
CONTENT_TYPES = ("application/pdf", "text/plain", "application/vnd.ms-excel")
BATCH = 500
LOADERS = 2
T0 = datetime(2025, 1, 1, tzinfo=UTC)
OWNER = uuid.UUID("0b0b0b0b-0000-4000-8000-000000000001")
TRACE = "00-" + "1" * 32 + "-" + "2" * 16 + "-01"
SHA = "c" * 64
_SENTENCE = re.compile(r"(?<=[.!?])\s+")
_WORD = re.compile(r"[a-z]+")


def marker(family: str, n: int) -> str:
    """A made-up word (letters only, so that no stemmer changes it)."""
    return f"zq{family}{'abcdefghij'[n]}x"


def sentences() -> tuple[list[str], str]:
    """Sentences of the labeled corpus, or generated ones when the corpus is absent."""
    root = corpus_dir()
    found: list[str] = []
    if root is not None and (root / "labeled").is_dir():
        for path in sorted((root / "labeled").rglob("*.txt")):
            text = path.read_text(errors="ignore")
            found += [s.strip() for s in _SENTENCE.split(text) if 30 <= len(s.strip()) <= 300]
    if found:
        return found, f"{len(found)} sentences of {root}/labeled"
    rng = random.Random(7)
    words = [
        "".join(rng.choice("etaoinshrdlucmfw") for _ in range(rng.randint(2, 9)))
        for _ in range(5000)
    ]
    made = [" ".join(rng.choices(words, k=rng.randint(6, 20))) + "." for _ in range(50_000)]
    return made, "50000 generated sentences (corpus absent)"


def _stop_words() -> set[str]:
    """PostgreSQL's English stop words (a query of only those matches nothing)."""
    path = Path("/usr/share/postgresql/15/tsearch_data/english.stop")
    found = set(path.read_text().split()) if path.is_file() else set()
    return found | {"that", "with", "have", "this", "from", "they", "were", "been", "their"}


def _word(w: str, stop: set[str]) -> bool:
    return len(w) > 3 and w not in stop


def common_words(pool: list[str], count: int) -> list[str]:
    """The words in most sentences: longer than 3 letters, no stop words."""
    stop = _stop_words()
    seen = Counter(w for s in pool for w in set(_WORD.findall(s.lower())) if _word(w, stop))
    return [w for w, _ in seen.most_common(count)]


def common_phrases(pool: list[str], count: int) -> list[str]:
    """The most frequent pairs of adjacent words, neither a stop word."""
    stop = _stop_words()
    pairs: Counter[str] = Counter()
    for s in pool:
        words = _WORD.findall(s.lower())
        pairs.update(
            f"{a} {b}" for a, b in itertools.pairwise(words) if _word(a, stop) and _word(b, stop)
        )
    return [p for p, _ in pairs.most_common(count)]


@dataclass(frozen=True)
class Corpus:
    owner: uuid.UUID
    size: int
    pool: list[str]

    def document_id(self, n: int) -> uuid.UUID:
        digest = hashlib.blake2b(f"{self.owner}/{n}".encode(), digest_size=16).digest()
        return uuid.UUID(bytes=digest, version=4)

    def document(self, n: int) -> tuple[CloudEvent[Any], CloudEvent[Any], str]:
        rng = random.Random(n)
        text = " ".join(rng.choices(self.pool, k=rng.randint(*SENTENCES_PER_DOC)))
        words = [
            marker(family, k)
            for family, share in MARKERS.items()
            for k in range(WORDS_PER_MARKER)
            if rng.random() < share
        ]
        if words:
            text += " " + " ".join(words)
        doc = self.document_id(n)
        ids = {"document_id": doc, "owner_id": self.owner, "generation": 1}
        at = T0 + timedelta(seconds=n)
        upload = DocumentUploaded(
            **ids,
            filename=f"report-{n:07d}.pdf",
            content_type=CONTENT_TYPES[n % len(CONTENT_TYPES)],
            size_bytes=1000 + rng.randint(0, 10**6),
            sha256=SHA,
            object_key=f"{self.owner}/{doc}/original",
        )
        extracted = TextExtracted(
            **ids,
            page_count=rng.randint(1, 40),
            char_count=len(text),
            language="en",
            text_object_key=f"{self.owner}/{doc}/text",
            pages_object_key=f"{self.owner}/{doc}/pages",
            text_sha256=SHA,
            text_preview=text[:200],
            extractor_version="bench",
        )
        return (
            new_event(upload, source="ingest", traceparent=TRACE, time=at),
            new_event(
                extracted, source="extractor", traceparent=TRACE, time=at + timedelta(minutes=1)
            ),
            text,
        )

    def batches(self) -> Iterator[range]:
        for start in range(0, self.size, BATCH):
            yield range(start, min(self.size, start + BATCH))


def load(dsn: str, corpus: Corpus) -> tuple[float, Counter[str]]:
    """Project every document's two events, ``LOADERS`` processes at once (the projection's
    Python work is the larger part); returns the seconds it took and the documents per marker
    word."""
    started = time.perf_counter()
    with ProcessPoolExecutor(LOADERS, mp_context=multiprocessing.get_context("fork")) as pool:
        parts = list(pool.map(_load_part, [(dsn, corpus, n) for n in range(LOADERS)]))
    counts: Counter[str] = Counter()
    for part in parts:
        counts.update(part)
    return time.perf_counter() - started, counts


def _load_part(args: tuple[str, Corpus, int]) -> Counter[str]:
    dsn, corpus, part = args
    return asyncio.run(_load(dsn, corpus, part))


async def _load(dsn: str, corpus: Corpus, part: int) -> Counter[str]:
    counts: Counter[str] = Counter()
    started = time.perf_counter()
    done = 0
    conn = await asyncpg.connect(dsn)
    try:
        for number, batch in enumerate(corpus.batches()):
            if number % LOADERS != part:
                continue
            events: list[CloudEvent[Any]] = []
            texts: list[str | None] = []
            for n in batch:
                upload, extracted, text = corpus.document(n)
                events += [upload, extracted]
                texts += [None, text]
                counts.update(w for w in text.split()[-40:] if w.startswith("zq"))
            async with conn.transaction():
                await project_events(conn, CONSUMER, events, texts)
            done += len(batch)
            if part == 0 and done % 50_000 < BATCH:
                rate = done * LOADERS / (time.perf_counter() - started)
                print(f"[catalog] loaded about {done * LOADERS:,} documents ({rate:,.0f}/s)")
    finally:
        await conn.close()
    return counts

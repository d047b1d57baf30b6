"""``make bench`` part ``pipeline`` (issue 4 item 6): documents of mixed kinds uploaded
``BENCH_CONCURRENCY`` (16) at a time to a private stack, followed to their final status, beside
the raw libraries doing the same work in the same run. Two sub-runs, each against its target:

- ``text``: 1-2 page text PDFs, DOCX and plain text - >= 25 documents/s end to end and
  p95 upload->classified <= 2 s;
- ``scans``: a scan-heavy mix (4/10 PNG scans, 4/10 image-only PDFs of 1-2 pages, 2/10 text
  kinds, plus the shared corpus's scans when present) - scanned pages/s >= 0.85 x the raw
  ``tesseract`` CLI in 2 processes over the same pages.

Settings: ``BENCH_DOCUMENTS`` (1000, both sub-runs together), ``BENCH_MIX`` (``text=0.8,scans=0.2``:
each sub-run's share; ``text=1`` runs only the first), ``BENCH_CONCURRENCY`` (16),
``BENCH_SEED`` (1), ``BENCH_TIMEOUT_S`` (3600, per sub-run), ``BENCH_STACK_ENV`` (settings for the
private stack's services, e.g. ``DOCUVAULT_EXTRACTOR_PREFETCH=16,DOCUVAULT_PREFETCH=32``).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from bench import documents, figures, load, raw, resources
from bench.measure import RssSampler, busy_since, cpu_mark
from bench.notes import NOTES
from bench.stack import owner_headers, private_stack
from docuvault.devstack.stack import Stack

RAW_PROCESSES = 2  # the baseline: CPU-bound raw libraries in 2 processes
OWNER_LIMIT = "DOCUVAULT_MAX_CONCURRENT_UPLOADS_PER_OWNER"
SCAN_SLOTS = ("scan-png",) * 4 + ("scan-pdf",) * 4 + ("text-kind",) * 2


def _settings() -> dict[str, Any]:
    mix = {}
    for part in os.environ.get("BENCH_MIX", "text=0.8,scans=0.2").split(","):
        name, _, share = part.partition("=")
        if name.strip() not in ("text", "scans"):
            raise SystemExit(f"BENCH_MIX: unknown sub-run {name!r} (text, scans)")
        mix[name.strip()] = float(share)
    documents_total = int(os.environ.get("BENCH_DOCUMENTS", "1000"))
    stack_env = {}
    for item in filter(None, os.environ.get("BENCH_STACK_ENV", "").split(",")):
        name, _, value = item.partition("=")
        if not name.strip().startswith("DOCUVAULT_"):
            raise SystemExit(f"BENCH_STACK_ENV: {name!r} is not a DOCUVAULT_* setting")
        stack_env[name.strip()] = value.strip()
    return {
        "documents": documents_total,
        "mix": mix,
        "counts": {k: round(documents_total * v) for k, v in mix.items()},
        "concurrency": int(os.environ.get("BENCH_CONCURRENCY", "16")),
        "seed": int(os.environ.get("BENCH_SEED", "1")),
        "timeout_s": float(os.environ.get("BENCH_TIMEOUT_S", "3600")),
        "raw_processes": RAW_PROCESSES,
        "stack_env": stack_env,
    }


def _make(args: tuple[str, int, int, Path]) -> documents.Document:
    return documents.generate(*args)


def compose(label: str, count: int, seed: int, scratch: Path) -> list[documents.Document]:
    kinds = []
    for n in range(count):
        kind = SCAN_SLOTS[n % len(SCAN_SLOTS)] if label == "scans" else "text-kind"
        kinds.append(documents.TEXT_KINDS[n % 3] if kind == "text-kind" else kind)
    context = multiprocessing.get_context("forkserver")
    with ProcessPoolExecutor(RAW_PROCESSES, mp_context=context) as pool:
        made = list(pool.map(_make, [(k, n, seed, scratch) for n, k in enumerate(kinds)]))
    if label == "scans":
        corpus = documents.corpus_scans(scratch)
        if not corpus:
            _say("shared corpus not found: the scan mix uses generated scans only")
        slots = [n for n, d in enumerate(made) if d.scan_images][: len(corpus)]
        for n, document in zip(slots, corpus, strict=False):
            made[n] = document
    return made


async def _raw_io(stack: Stack, docs: list[documents.Document], messages: int, c: int) -> Any:
    env = stack.config.service_env("ingest")
    put, get = await raw.s3_put_get(env, [d.data for d in docs], c)
    publish = await raw.publish_confirmed(stack.config.amqp_url, messages, c)
    return put, get, publish


def _sub_run(stack: Stack, label: str, s: dict[str, Any], scratch: Path) -> tuple[Any, Any]:
    started = time.perf_counter()
    docs = compose(label, s["counts"][label], s["seed"], scratch)
    generated_s = time.perf_counter() - started
    _say(f"{label}: {len(docs)} documents generated in {generated_s:.0f} s; uploading")
    load_before = os.getloadavg()
    matches = {"postgres": stack.config.database_prefix, "rabbitmq (shared)": "beam.smp"}
    client_cpu = [time.process_time()]
    with RssSampler(stack.config.run_dir, stack.names, matches) as rss:

        def finished() -> None:  # every document final: reading their timelines is not measured
            rss.stop()
            client_cpu.append(time.process_time())

        outcome = asyncio.run(
            load.drive(
                stack,
                owner_headers(stack, label),
                docs,
                s["concurrency"],
                s["timeout_s"],
                finished,
            )
        )
    client_cpu_s = client_cpu[-1] - client_cpu[0]
    load_after = os.getloadavg()
    _say(f"{label}: pipeline done; raw baselines")
    raw_mark = cpu_mark()
    accepted = [t.document for t in outcome.traces]
    put, get, publish = asyncio.run(
        _raw_io(stack, accepted, figures.messages(outcome.traces), s["concurrency"])
    )
    pdfs = [d.data for d in accepted if d.is_pdf]
    scans = [d for d in accepted if d.scan_images]
    raws = figures.Raw(
        put,
        get,
        publish,
        raw.pymupdf_text(pdfs, RAW_PROCESSES) if pdfs else None,
        raw.tesseract_cli(
            [d.scan_images for d in scans], sum(d.pages for d in scans), RAW_PROCESSES
        )
        if scans
        else None,
    )
    raw_busy = busy_since(raw_mark)
    rows, notes = figures.sub_run(label, outcome, raws)
    notes.update(
        kinds=dict(Counter(d.kind for d in docs)),
        generated_s=generated_s,
        load_average_1m={"before": load_before[0], "after": load_after[0]},
        machine_cpu_busy={"pipeline": rss.machine_busy, "raw_baselines": raw_busy},
        bottleneck=figures.diagnose(notes),
    )
    more = resources.resource_rows(
        label, rss.peaks, len(accepted), rss.seconds, client_cpu_s, notes["scanned_pages"], raws
    )
    return rows + more, notes


def _say(text: str) -> None:
    print(f"[bench pipeline] {text}", file=sys.stderr, flush=True)


def run() -> tuple[list[dict[str, Any]], dict[str, Any]]:
    settings = _settings()
    rows: list[dict[str, Any]] = []
    runs: dict[str, Any] = {}
    _say(f"settings {settings}; starting a private stack")
    # the benchmark uploads as one owner, BENCH_CONCURRENCY at a time: ingest's per-owner limit
    # of concurrent uploads must let them all in (unless BENCH_STACK_ENV sets it)
    env = {OWNER_LIMIT: str(max(settings["concurrency"], 8))} | settings["stack_env"]
    with (
        private_stack(**env) as stack,
        tempfile.TemporaryDirectory() as scratch,
    ):
        warmup = _warm_up(stack, settings, Path(scratch))
        for label, count in settings["counts"].items():
            if count > 0:
                more, runs[label] = _sub_run(stack, label, settings, Path(scratch))
                rows += more
    return rows, {"settings": settings, "warm_up": warmup, "runs": runs, "how": NOTES}


def _warm_up(stack: Stack, s: dict[str, Any], scratch: Path) -> dict[str, Any]:
    """One document of each kind, waited for, before anything is measured: the extractor starts
    its worker pool (and each worker loads its libraries) on its first document. Their
    latencies are reported here as the cold start."""
    kinds = (*documents.TEXT_KINDS, *documents.SCAN_KINDS)
    docs = [documents.generate(k, n, -s["seed"], scratch) for n, k in enumerate(kinds)]
    _say("warming up: one document of each kind")
    outcome = asyncio.run(load.drive(stack, owner_headers(stack, "warmup"), docs, 16, 600))
    return {
        t.document.kind: {
            "status": t.status,
            "upload_to_final_s": t.final - t.started if t.final else None,
        }
        for t in outcome.traces
    }

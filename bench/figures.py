"""Figures of one sub-run: the pipeline's (from its traces) beside the raw libraries' (same
documents, same run), as table rows with ``ratio = ours / raw``, targets and verdicts."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from bench.load import Outcome, Trace
from bench.measure import percentile, rate, ratio
from bench.raw import Timed

Row = dict[str, Any]


@dataclass
class Raw:
    put: Timed
    get: Timed
    publish: Timed
    pdf: Timed | None  # PyMuPDF over the sub-run's PDFs
    ocr: Timed | None  # tesseract CLI over its scanned pages

    def seconds(self) -> float:
        parts = (self.put, self.get, self.publish, self.pdf, self.ocr)
        return sum(t.seconds for t in parts if t is not None)


def row(
    run: str,
    figure: str,
    ours: float | None,
    raw: float | None = None,
    *,
    target: str = "",
    verdict: str = "",
    note: str = "",
) -> Row:
    return {
        "run": run,
        "figure": figure,
        "ours": ours,
        "raw": raw,
        "ratio": ratio(ours, raw),
        "target": target,
        "verdict": verdict,
        "note": note,
    }


def verdict(value: float | None, limit: float, at_least: bool) -> str:
    if value is None:
        return "FAIL (not measured)"
    ok = value >= limit if at_least else value <= limit
    off = (value - limit) / limit * 100
    return f"{'pass' if ok else 'FAIL'} ({off:+.0f}% vs target)"


def _values(traces: Sequence[Trace], fn: Callable[[Trace], float | None]) -> list[float]:
    return [v for v in (fn(t) for t in traces) if v is not None]


def _since(end: str, start: str) -> Callable[[Trace], float | None]:
    def spent(t: Trace) -> float | None:
        a, b = getattr(t, start), getattr(t, end)
        return b - a if a is not None and b is not None else None

    return spent


def messages(traces: Sequence[Trace]) -> int:
    """Events the services published: uploaded, extracted or failed, then classified or failed."""
    return sum(3 if t.status in ("classified", "classification_failed") else 2 for t in traces)


def sub_run(label: str, outcome: Outcome, raw: Raw) -> tuple[list[Row], dict[str, Any]]:
    traces, text = outcome.traces, label == "text"
    done = [t for t in traces if t.final is not None]
    start = min(t.started for t in traces)
    wall = max(_values(done, lambda t: t.final), default=start) - start
    docs_s, pages = rate(len(done), wall), sum(t.page_count or 0 for t in done)
    scan_pages = sum(t.document.pages for t in done if t.document.scan_images)
    latency = _values(done, _since("final", "started"))
    p95 = percentile(latency, 95)
    # the text run's targets; a document that is not classified fails them whatever the speed
    all_ok = not outcome.refused and all(t.status == "classified" for t in traces)
    docs_verdict = verdict(docs_s, 25, True) if all_ok else "FAIL (not all classified)"
    p95_verdict = verdict(p95, 2, False) if all_ok else "FAIL (not all classified)"
    rows = [
        row(label, "documents finished", len(done), len(traces),
            note=f"raw column: accepted; refused {len(outcome.refused)}"),
        row(label, "end-to-end documents/s", docs_s, rate(len(traces), raw.seconds()),
            note="raw: S3 put+get, publishes, PyMuPDF, tesseract back to back",
            target=">= 25" if text else "", verdict=docs_verdict if text else ""),
    ]  # fmt: skip
    if text:
        rows.append(row(label, "end-to-end pages/s", rate(pages, wall),
                        raw.pdf.per_s if raw.pdf else None,
                        note="raw: PyMuPDF get_text, 2 processes, the same PDFs"))  # fmt: skip
    else:
        ours, limit = rate(scan_pages, wall), raw.ocr.per_s if raw.ocr else None
        rows += [
            row(label, "end-to-end pages/s (all kinds)", rate(pages, wall)),
            row(label, "scanned pages/s", ours, limit, target=">= 0.85 x raw",
                verdict=verdict(ratio(ours, limit), 0.85, True),
                note="raw: tesseract CLI, 2 processes, the same page images"),
        ]  # fmt: skip
    rows += [
        row(label, "ingest 202s documents/s",
            rate(len(traces), max(t.accepted for t in traces) - start), raw.put.per_s,
            note="raw: aioboto3 put_object, 16 in flight"),
        row(label, "documents/s vs S3 put+get", docs_s,
            rate(len(traces), raw.put.seconds + raw.get.seconds),
            note="raw: one put + one get per document, 16 in flight"),
        row(label, "events published/s", rate(messages(done), wall), raw.publish.per_s,
            note="raw: aio-pika publish + confirm to a quorum queue, 16 in flight"),
        row(label, "upload->final p50 s", percentile(latency, 50)),
        row(label, "upload->final p95 s", p95, target="<= 2" if text else "",
            verdict=p95_verdict if text else ""),
        row(label, "upload->final p99 s", percentile(latency, 99)),
    ]  # fmt: skip
    rows += _stages(label, traces, raw)
    return rows, _notes(outcome, raw, start, wall, pages, scan_pages)


def _stages(label: str, traces: Sequence[Trace], raw: Raw) -> list[Row]:
    """Per-stage p50/p95; the extract stage also over the documents the raw library read alone
    (the text run's PDFs: PyMuPDF; the scans run's scanned documents: tesseract)."""
    text = label == "text"
    subset = [t for t in traces if (t.document.is_pdf if text else t.document.scan_images)]
    raw_extract = (raw.pdf if text else raw.ocr) or Timed(0, 0, [])
    ingest = _values(traces, _since("uploaded", "started"))
    extract = _values(subset, _since("extracted", "uploaded"))
    extract_all = _values(traces, _since("extracted", "uploaded"))
    classify = _values(traces, _since("final", "extracted"))
    what = "PDFs" if text else "scanned documents"
    rows = []
    for q in (50, 95):
        rows += [
            row(label, f"stage ingest p{q} s", percentile(ingest, q),
                percentile(raw.put.latencies, q),
                note="client send -> uploaded event; raw: one S3 put at 16 in flight"),
            row(label, f"stage extract p{q} s ({what})", percentile(extract, q),
                percentile(raw_extract.latencies, q),
                note="uploaded -> text_extracted; raw: the same document alone"),
            row(label, f"stage extract p{q} s (all kinds)", percentile(extract_all, q)),
            row(label, f"stage classify p{q} s", percentile(classify, q),
                note="text_extracted -> classified"),
        ]  # fmt: skip
    return rows


def _notes(
    outcome: Outcome, raw: Raw, start: float, wall: float, pages: int, scan_pages: int
) -> dict[str, Any]:
    traces = outcome.traces
    seen = outcome.seen_all_final
    return {
        "documents": len(traces),
        "statuses": dict(Counter(t.status for t in traces)),
        "refused": outcome.refused[:20],
        "pages": pages,
        "scanned_pages": scan_pages,
        "wall_s": wall,
        "last_event_after_s": {
            "uploaded": _last(traces, lambda t: t.uploaded, start),
            "extracted": _last(traces, lambda t: t.extracted, start),
            "final": _last(traces, lambda t: t.final, start),
            "catalog_listed_all_final": seen - start if seen else None,
        },
        "raw_seconds": {
            k: t.seconds
            for k, t in zip(
                ("s3_put", "s3_get", "publish", "pymupdf", "tesseract"),
                (raw.put, raw.get, raw.publish, raw.pdf, raw.ocr),
                strict=True,
            )
            if t is not None
        },
    }


def _last(traces: Sequence[Trace], fn: Callable[[Trace], float | None], start: float) -> Any:
    values = [v for v in (fn(t) for t in traces) if v is not None]
    return max(values) - start if values else None


def diagnose(notes: dict[str, Any]) -> str:
    """Where the wall time went: how long each stage kept running after the one before it had
    seen its last document (the stage that trails longest is the bottleneck)."""
    last = notes["last_event_after_s"]
    up, ex, fin = last["uploaded"], last["extracted"], last["final"]
    if up is None or ex is None or fin is None:
        return "incomplete run: some documents never reached a final status"
    tails = {
        "ingest (first upload sent -> last document stored)": up,
        "extractor (-> last extraction)": ex - up,
        "classifier (-> last classification)": fin - ex,
    }
    slowest = max(tails, key=lambda k: tails[k])
    spent = ", ".join(f"{k} {v:.1f} s" for k, v in tails.items())
    return f"{spent}; longest: {slowest}"

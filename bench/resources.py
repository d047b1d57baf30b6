"""Resource rows of one sub-run: peak memory and CPU time per service, and what that CPU time
alone would allow on this machine's cores."""

from __future__ import annotations

import os

from bench.figures import Raw, Row, row, verdict
from bench.measure import Peak, rate, ratio

CORES = len(os.sched_getaffinity(0))


def resource_rows(
    label: str,
    peaks: dict[str, Peak],
    documents: int,
    wall: float,
    client_cpu_s: float,
    scan_pages: int,
    raw: Raw,
) -> list[Row]:
    """Peak memory and CPU time per service (and of the benchmark's own process)."""
    rows = []
    for name, peak in peaks.items():
        mib = peak.as_mib()
        tree = f"RSS peak of all together {mib['tree_rss_peak_mib']:.0f} MiB"
        if peak.main_hwm:  # a service: its own process, then its children
            figure, ours = f"peak RSS {name} MiB (VmHWM)", mib["main_hwm_mib"]
            note = f"largest child VmHWM {mib['largest_child_hwm_mib']:.0f} MiB, {tree}"
            note += f" ({len(peak.children_seen)} children seen)"
        else:  # processes found by command line: the largest of them
            figure, ours = f"peak RSS {name} MiB (largest VmHWM)", mib["largest_child_hwm_mib"]
            note = f"{len(peak.children_seen)} processes, {tree} (shared memory counted in each)"
        rows.append(row(label, figure, ours, note=note))
    cpu = {name: peak.cpu_s for name, peak in peaks.items()} | {"bench client": client_cpu_s}
    for name, seconds in cpu.items():
        cores = f"{seconds:.1f} CPU s in {wall:.1f} s sampled = {seconds / wall:.2f} cores"
        rows.append(row(label, f"CPU {name} ms/document", seconds * 1000 / documents, note=cores))
    return rows + _cpu_bound(label, cpu, documents, scan_pages, raw)


def _cpu_bound(
    label: str, cpu: dict[str, float], documents: int, scan_pages: int, raw: Raw
) -> list[Row]:
    """What the CPU time alone allows on this machine's cores if nothing else ran: robust to
    other work on the machine, which stretches wall times but hardly CPU times. The stack =
    its services, SeaweedFS and its PostgreSQL backends (not the shared broker nor the client)."""
    stack = sum(v for k, v in cpu.items() if k not in ("rabbitmq (shared)", "bench client"))
    note = f"{CORES} cores / stack CPU per item; an estimate: assumes perfect pipelining"
    if label == "text":
        ceiling = rate(CORES * documents, stack)
        return [
            row(label, "stack CPU ms/document", stack * 1000 / documents),
            row(label, "CPU-bound ceiling documents/s", ceiling, target=">= 25 (estimate)",
                verdict=verdict(ceiling, 25, True), note=note),
        ]  # fmt: skip
    raw_cpu = raw.ocr.cpu_s if raw.ocr and raw.ocr.cpu_s else None
    ours, limit = rate(CORES * scan_pages, stack), rate(CORES * scan_pages, raw_cpu or 0)
    return [
        row(label, "stack CPU s/scanned page", rate(stack, scan_pages),
            rate(raw_cpu or 0, scan_pages), note="raw: CPU of the tesseract processes"),
        row(label, "CPU-bound scanned pages/s", ours, limit, target=">= 0.85 x raw (estimate)",
            verdict=verdict(ratio(ours, limit), 0.85, True), note=note),
    ]  # fmt: skip

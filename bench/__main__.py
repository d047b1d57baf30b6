"""``make bench``: run the benchmarks (``python -m bench [name…]``)."""

from __future__ import annotations

import importlib
import signal
import sys

from bench import report

#: part name -> the module whose ``run()`` returns (rows, notes); imported only when run
BENCHMARKS = {
    "pipeline": "bench.pipeline",
    "ingest": "bench.ingest",
    "classify": "bench.classify",
    "catalog": "bench.catalog",
    "extract": "bench.extract",
}


def _stop(signum: int, _frame: object) -> None:
    # SystemExit unwinds through the parts' ``with private_stack()``: a benchmark stopped by
    # SIGTERM (a timeout, Ctrl-C in make) stops the stack it started instead of leaving it
    raise SystemExit(128 + signum)


def main() -> None:
    signal.signal(signal.SIGTERM, _stop)
    names = sys.argv[1:] or list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        raise SystemExit(f"unknown benchmark {unknown[0]!r}; known: {', '.join(BENCHMARKS)}")
    for name in names:
        rows, notes = importlib.import_module(BENCHMARKS[name]).run()
        report.save(name, rows, notes)
        print()
        report.table(rows)


if __name__ == "__main__":
    main()

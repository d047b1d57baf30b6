"""Statistics, and memory peaks and CPU time of a stack's processes (read from /proc)."""

from __future__ import annotations

import contextlib
import math
import os
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

MIB = 1024 * 1024
TICKS = os.sysconf("SC_CLK_TCK")


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0..100), linear between closest ranks; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def rate(count: float, seconds: float) -> float | None:
    return count / seconds if seconds > 0 else None


def ratio(ours: float | None, raw: float | None) -> float | None:
    return ours / raw if ours is not None and raw else None


def _status(pid: int) -> dict[str, int]:
    """VmHWM and VmRSS of a process in bytes ({} when it is gone)."""
    found: dict[str, int] = {}
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmHWM", "VmRSS"):
                found[key] = int(value.split()[0]) * 1024
    return found


def cpu_mark() -> tuple[int, int]:
    """Busy and total jiffies of all cores together, from /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def busy_since(mark: tuple[int, int]) -> float | None:
    """The share (0..1) of the machine's CPU time that was busy since ``mark``: the stack, the
    benchmark and whatever else runs on the machine."""
    busy, total = cpu_mark()
    return (busy - mark[0]) / (total - mark[1]) if total > mark[1] else None


@dataclass(frozen=True)
class Proc:
    ppid: int
    own: int  # utime + stime, in clock ticks
    total: int  # own + cutime + cstime: with the children it has waited for
    cmdline: str


def _snapshot(cmdlines: dict[int, str]) -> dict[int, Proc]:
    """Every process: parent, CPU ticks, command line (cached per pid)."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            pid = int(stat.parent.name)
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if pid not in cmdlines:
                raw = (stat.parent / "cmdline").read_bytes()
                cmdlines[pid] = raw.replace(b"\0", b" ").decode(errors="replace")
            own, children = int(fields[11]) + int(fields[12]), int(fields[13]) + int(fields[14])
            found[pid] = Proc(int(fields[1]), own, own + children, cmdlines[pid])
    return found


def _tree(root: int, procs: dict[int, Proc]) -> list[int]:
    children: dict[int, list[int]] = {}
    for pid, proc in procs.items():
        children.setdefault(proc.ppid, []).append(pid)
    found, todo = [root], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


@dataclass
class Peak:
    main_hwm: int = 0  # VmHWM of the service's own process
    child_hwm: int = 0  # the largest VmHWM of any child seen (pool workers, tesseract, ...)
    tree_rss: int = 0  # the largest sum of VmRSS over the process and its children at one sample
    children_seen: set[int] = field(default_factory=set)
    #: CPU ticks at the first and the last sample (see RssSampler)
    ticks: list[int] = field(default_factory=lambda: [0, 0])

    @property
    def cpu_s(self) -> float:
        return (self.ticks[1] - self.ticks[0]) / TICKS

    def as_mib(self) -> dict[str, float]:
        return {
            "main_hwm_mib": self.main_hwm / MIB,
            "largest_child_hwm_mib": self.child_hwm / MIB,
            "tree_rss_peak_mib": self.tree_rss / MIB,
        }


class RssSampler:
    """Samples every ``interval_s`` the processes named in ``<run_dir>/<name>.pid`` with their
    descendants, and the processes whose command line contains a ``matches`` value (e.g. the
    PostgreSQL backends of the stack's databases): memory peaks and CPU time.

    CPU of a service = the sum over its live process tree of utime+stime+cutime+cstime, last
    sample minus first: a child that exits is reaped by its parent in the tree, so its time moves
    into the parent's cutime and is counted once, short-lived Tesseract runs included. A group
    found by command line (no tree) counts utime+stime of each member seen, so a member that
    exits between samples loses up to one interval. A child's VmHWM is caught if it is seen once
    (children shorter than the interval may be missed). Peaks are reset at the start
    (5 > /proc/<pid>/clear_refs) so that each sub-run reports its own."""

    def __init__(
        self,
        run_dir: Path,
        names: Iterable[str],
        matches: dict[str, str] | None = None,
        interval_s: float = 0.25,
    ) -> None:
        self.pids = {n: int((run_dir / f"{n}.pid").read_text()) for n in names}
        self.matches = matches or {}
        self.peaks = {n: Peak() for n in (*self.pids, *self.matches)}
        self.interval_s = interval_s
        self.machine_busy: float | None = None  # share of all cores busy during the run, 0..1
        self._cpu_start = cpu_mark()
        self.seconds = 0.0  # how long it sampled
        self._cmdlines: dict[int, str] = {}
        self._own: dict[str, dict[int, list[int]]] = {n: {} for n in self.matches}
        self._samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> RssSampler:
        self._cpu_start = cpu_mark()
        self.seconds = -time.perf_counter()
        for pid in self.pids.values():
            for each in _tree(pid, _snapshot(self._cmdlines)):
                with contextlib.suppress(OSError):
                    Path(f"/proc/{each}/clear_refs").write_text("5")
        self.sample()
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def stop(self) -> None:
        """The last sample: the figures cover the time until now (a second call does nothing)."""
        if self._stop.is_set():
            return
        self._stop.set()
        self._thread.join()
        self.sample()
        self.machine_busy = busy_since(self._cpu_start)
        self.seconds += time.perf_counter()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.sample()

    def _groups(self, procs: dict[int, Proc]) -> dict[str, list[int]]:
        groups = {name: _tree(pid, procs) for name, pid in self.pids.items()}
        for name, text in self.matches.items():
            groups[name] = [pid for pid, p in procs.items() if text in p.cmdline]
        return groups

    def sample(self) -> None:
        procs, first = _snapshot(self._cmdlines), self._samples == 0
        self._samples += 1
        for name, members in self._groups(procs).items():
            peak, total = self.peaks[name], 0
            for pid in members:
                status = _status(pid)
                if pid == self.pids.get(name):
                    peak.main_hwm = max(peak.main_hwm, status.get("VmHWM", 0))
                else:
                    peak.children_seen.add(pid)
                    peak.child_hwm = max(peak.child_hwm, status.get("VmHWM", 0))
                total += status.get("VmRSS", 0)
            peak.tree_rss = max(peak.tree_rss, total)
            if name in self._own:  # pid -> [ticks when first seen, when last seen]
                seen = self._own[name]
                for pid in members:
                    if pid in procs:
                        seen.setdefault(pid, [procs[pid].own if first else 0, 0])
                        seen[pid][1] = procs[pid].own
                peak.ticks = [0, sum(last - start for start, last in seen.values())]
                continue
            ticks = sum(procs[pid].total for pid in members if pid in procs)
            peak.ticks = [ticks if first else peak.ticks[0], ticks]

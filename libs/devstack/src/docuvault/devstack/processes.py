"""Background processes of a stack: started detached, tracked by ``<run>/<name>.pid``."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

#: our children, kept so that they can be reaped (and Python does not warn about them)
_children: dict[int, subprocess.Popen[bytes]] = {}


@dataclass(frozen=True)
class Tracked:
    name: str
    run_dir: Path
    #: a word of the command line that proves a pid is still ours (pids get reused)
    marker: str

    @property
    def pid_file(self) -> Path:
        return self.run_dir / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        return self.run_dir / "logs" / f"{self.name}.log"

    def pid(self) -> int | None:
        """The pid of the running process, or None (a stale pid file is removed)."""
        try:
            pid = int(self.pid_file.read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, ValueError):
            with contextlib.suppress(OSError):
                self.pid_file.unlink()
            return None
        if state == "Z" and pid in _children:
            _children.pop(pid).wait()  # reap our own child
        if not cmdline.strip() and state != "Z":
            return pid  # between fork and exec: its command line is not readable yet
        if self.marker not in cmdline or state == "Z":
            with contextlib.suppress(OSError):
                self.pid_file.unlink()
            return None
        return pid

    def start(self, argv: list[str], env: dict[str, str], cwd: Path) -> int:
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("ab") as log:
            process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **env},
                cwd=cwd,
                start_new_session=True,
            )
        self.pid_file.write_text(f"{process.pid}\n")
        _children[process.pid] = process
        return process.pid

    def stop(self, timeout_s: float = 25.0) -> str:
        """SIGTERM the process group, then SIGKILL after the timeout.

        Returns ``"stopped"`` (it exited on SIGTERM), ``"killed"`` or ``""`` (it was not running).
        """
        pid = self.pid()
        if pid is None:
            return ""
        _signal_group(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and self.pid() is not None:
            time.sleep(0.1)
        outcome = "stopped"
        if self.pid() is not None:
            _signal_group(pid, signal.SIGKILL)
            outcome = "killed"
            while self.pid() is not None:
                time.sleep(0.05)
        with contextlib.suppress(OSError):
            self.pid_file.unlink()
        return outcome

    def kill(self) -> None:
        """SIGKILL, as a crash would (fault tests)."""
        pid = self.pid()
        if pid is not None:
            _signal_group(pid, signal.SIGKILL)


def _signal_group(pid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        return
    except PermissionError:
        os.kill(pid, sig)

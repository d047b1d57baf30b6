"""``make up`` / ``down`` / ``ps`` / ``logs``: the whole stack on this machine, idempotently."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from docuvault.devstack import infra
from docuvault.devstack.config import DATABASE_SERVICES, REPO, SERVICES, StackConfig
from docuvault.devstack.processes import Tracked
from docuvault.runtime.auth import ALL_SCOPES, issue_token

PYTHON = sys.executable
WEED = str(Path(PYTHON).parent / "weed")
READY_TIMEOUT_S = 90.0


@dataclass
class Stack:
    config: StackConfig
    services: tuple[str, ...] = SERVICES

    def tracked(self, name: str) -> Tracked:
        marker = "weed" if name == "s3" else f"docuvault.{name}"
        return Tracked(name, self.config.run_dir, marker)

    @property
    def names(self) -> tuple[str, ...]:
        return ("s3", *self.services)

    # --- up --------------------------------------------------------------------------------
    def up(self, say: bool = True) -> list[str]:
        """Start whatever is not running; returns the names started now."""
        config = self.config
        config.save()
        config.secrets()
        infra.ensure_rabbitmq(config)
        infra.ensure_postgres(config)
        started: list[str] = []
        if self.start("s3"):
            started.append("s3")
        infra.apply_topology(config)
        infra.apply_roles(config)
        for service in DATABASE_SERVICES:
            self._migrate(service)
        started += [service for service in self.services if self.start(service)]
        self.wait_ready()
        if say:
            self._announce(started)
        return started

    def start(self, name: str) -> bool:
        """Start one process of the stack unless it runs; True if it was started now."""
        if name == "s3":
            return self._start_s3()
        proc = self.tracked(name)
        if proc.pid() is not None:
            return False
        proc.start(
            [PYTHON, "-m", f"docuvault.{name}"],
            {**self.config.service_env(name), "OMP_THREAD_LIMIT": "1"},
            cwd=self.config.run_dir,
        )
        return True

    def _start_s3(self) -> bool:
        proc = self.tracked("s3")
        if proc.pid() is not None:
            return False
        p, secrets = self.config.ports, self.config.secrets()
        data = self.config.run_dir / "s3"
        data.mkdir(parents=True, exist_ok=True)
        proc.start(
            [
                WEED,
                "mini",
                f"-dir={data}",
                f"-bucket={self.config.bucket}",
                "-ip=127.0.0.1",
                "-ip.bind=127.0.0.1",
                f"-s3.port={p.s3}",
                f"-master.port={p.s3_master}",
                f"-volume.port={p.s3_volume}",
                f"-filer.port={p.s3_filer}",
                "-webdav=false",
                "-admin.ui=false",
                "-s3.port.iceberg=0",
                "-s3.port.lance=0",
            ],
            {
                "AWS_ACCESS_KEY_ID": secrets["DOCUVAULT_S3_ACCESS_KEY"],
                "AWS_SECRET_ACCESS_KEY": secrets["DOCUVAULT_S3_SECRET_KEY"],
            },
            cwd=self.config.run_dir,
        )
        infra.wait_for_port(f"127.0.0.1:{p.s3}", "the object store (SeaweedFS)")
        self._wait_bucket()
        return True

    def _wait_bucket(self) -> None:
        """SeaweedFS opens its port before the bucket exists; wait for the bucket."""
        url = f"http://127.0.0.1:{self.config.ports.s3}/{self.config.bucket}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.head(url, timeout=2).status_code in (200, 403):
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise infra.StackError(f"bucket {self.config.bucket} did not appear; see {self._log('s3')}")

    def _migrate(self, service: str) -> None:
        env = self.config.service_env(service)
        done = subprocess.run(
            [PYTHON, "-m", f"docuvault.{service}", "migrate"],
            env={**_base_env(), **env},
            cwd=self.config.run_dir,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise infra.StackError(f"migrating {service} failed:\n{done.stderr.strip()[-1500:]}")

    def wait_ready(
        self, timeout_s: float = READY_TIMEOUT_S, services: tuple[str, ...] | None = None
    ) -> None:
        deadline = time.monotonic() + timeout_s
        pending = list(services or self.services)
        last: dict[str, str] = {}
        while pending:
            for service in list(pending):
                if self.tracked(service).pid() is None:
                    raise infra.StackError(
                        f"{service} exited at start; its log {self._log(service)} ends with:\n"
                        + self.tail(service, 15)
                    )
                try:
                    answer = httpx.get(f"{self.config.url(service)}/readyz", timeout=3)
                    if answer.status_code == 200:
                        pending.remove(service)
                    else:
                        last[service] = answer.text
                except httpx.HTTPError as exc:
                    last[service] = str(exc) or type(exc).__name__
            if pending and time.monotonic() > deadline:
                detail = "; ".join(f"{s}: {last.get(s, '?')}" for s in pending)
                raise infra.StackError(f"not ready after {timeout_s:g} s: {detail}")
            time.sleep(0.2)

    def _announce(self, started: list[str]) -> None:
        secret = self.config.secrets()["DOCUVAULT_SECRET_KEY"]
        token = issue_token(secret, "demo", scopes=ALL_SCOPES)
        what = ", ".join(started) if started else "nothing (all were running)"
        print(f"DocuVault is up. Started: {what}.")
        for service in self.services:
            print(f"  {service:<11} {self.config.url(service)}   (docs: /docs)")
        print(f"  s3          http://127.0.0.1:{self.config.ports.s3}  bucket {self.config.bucket}")
        print(f"  logs        {self.config.run_dir / 'logs'}")
        print("A token for owner 'demo' (all scopes, 30 days):")
        print(f"  export DOCUVAULT_TOKEN={token}")

    # --- down / ps / logs ------------------------------------------------------------------
    def down(self) -> dict[str, str]:
        """Stop every process of the stack: name → ``stopped`` (gracefully) or ``killed``."""
        outcomes = {n: self.tracked(n).stop() for n in (*reversed(self.services), "s3")}
        return {name: outcome for name, outcome in outcomes.items() if outcome}

    def ps(self) -> list[tuple[str, int | None, str]]:
        rows = []
        for name in self.names:
            proc = self.tracked(name)
            pid = proc.pid()
            rows.append((name, pid, "running" if pid else "stopped"))
        return rows

    def _log(self, name: str) -> Path:
        return self.tracked(name).log_file

    def tail(self, name: str, lines: int = 40) -> str:
        path = self._log(name)
        if not path.exists():
            return "(no log yet)"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def _base_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("DOCUVAULT_")}


__all__ = ["REPO", "Stack"]

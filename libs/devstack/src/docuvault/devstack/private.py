"""A RabbitMQ node and a PostgreSQL cluster of the fault suite's own (DESIGN §8).

They have their own ports and data directories, so the suite can stop, kill and restart them
without touching the machine's shared servers.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from docuvault.devstack.config import free_port_pairs
from docuvault.devstack.infra import StackError, port_open, wait_for_port

PG_BIN = Path("/usr/lib/postgresql/15/bin")


def _run(argv: list[str], what: str, env: dict[str, str] | None = None) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, env=env, check=False, timeout=120)
    if done.returncode != 0:
        raise StackError(f"{what} failed: {(done.stderr or done.stdout).strip()[-600:]}")


@dataclass
class PrivateRabbit:
    base: Path
    port: int
    node: str

    @classmethod
    def create(cls, base: Path) -> PrivateRabbit:
        amqp, dist = free_port_pairs(2)
        rabbit = cls(base, amqp, f"docuvault-faults-{amqp}@localhost")
        rabbit._dist = dist
        base.mkdir(parents=True, exist_ok=True)
        (base / "enabled_plugins").write_text("[].\n")
        (base / "rabbitmq.conf").write_text("loopback_users = none\n")
        shutil.chown(base, "rabbitmq", "rabbitmq")
        for child in base.iterdir():
            shutil.chown(child, "rabbitmq", "rabbitmq")
        return rabbit

    _dist: int = 0

    @property
    def hostport(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _env(self) -> dict[str, str]:
        return {
            **os.environ,
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self._dist),
            "RABBITMQ_MNESIA_BASE": str(self.base / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.base / "log"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.base / "enabled_plugins"),
            "RABBITMQ_CONFIG_FILE": str(self.base / "rabbitmq"),
            "RABBITMQ_PID_FILE": str(self.base / "pid"),
        }

    def start(self) -> None:
        _run(["rabbitmq-server", "-detached"], "starting the private RabbitMQ", self._env())
        deadline = time.monotonic() + 120
        while True:
            done = subprocess.run(
                ["rabbitmqctl", "-n", self.node, "-q", "await_startup", "--timeout", "10"],
                capture_output=True,
                text=True,
                check=False,
            )
            if done.returncode == 0 and port_open(self.hostport):
                return
            if time.monotonic() > deadline:
                raise StackError(f"private RabbitMQ did not boot: {done.stderr[-300:]}")
            time.sleep(0.5)

    def stop(self) -> None:
        _run(["rabbitmqctl", "-n", self.node, "stop"], "stopping the private RabbitMQ")
        deadline = time.monotonic() + 60
        while port_open(self.hostport):
            if time.monotonic() > deadline:
                raise StackError("private RabbitMQ did not stop")
            time.sleep(0.2)

    def remove(self) -> None:
        if port_open(self.hostport):
            self.stop()
        shutil.rmtree(self.base, ignore_errors=True)


@dataclass
class PrivatePostgres:
    base: Path
    port: int

    @classmethod
    def create(cls, base: Path) -> PrivatePostgres:
        [port] = free_port_pairs(1)
        cluster = cls(base, port)
        base.mkdir(parents=True, exist_ok=True)
        shutil.chown(base, "postgres", "postgres")
        _run(
            [
                "runuser",
                "-u",
                "postgres",
                "--",
                str(PG_BIN / "initdb"),
                "-D",
                str(base / "data"),
                "-U",
                "postgres",
                "-A",
                "trust",
                "--no-sync",
            ],
            "creating the private PostgreSQL cluster",
        )
        return cluster

    @property
    def hostport(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        options = f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 -c fsync=off"
        _run(
            [
                "runuser",
                "-u",
                "postgres",
                "--",
                str(PG_BIN / "pg_ctl"),
                "-D",
                str(self.base / "data"),
                "-o",
                options,
                "-l",
                str(self.base / "server.log"),
                "-w",
                "start",
            ],
            "starting the private PostgreSQL",
        )
        wait_for_port(self.hostport, "the private PostgreSQL")

    def stop(self) -> None:
        _run(
            [
                "runuser",
                "-u",
                "postgres",
                "--",
                str(PG_BIN / "pg_ctl"),
                "-D",
                str(self.base / "data"),
                "-m",
                "fast",
                "-w",
                "stop",
            ],
            "stopping the private PostgreSQL",
        )

    def remove(self) -> None:
        if port_open(self.hostport):
            self.stop()
        shutil.rmtree(self.base, ignore_errors=True)

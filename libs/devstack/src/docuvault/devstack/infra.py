"""The machine's shared servers (RabbitMQ, PostgreSQL) and what a stack sets up inside them."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from docuvault.devstack.config import (
    DATABASE_SERVICES,
    REPO,
    SERVICES,
    StackConfig,
    amqp_password_key,
)
from docuvault.runtime.bus.topology import Topology

TOPOLOGY = REPO / "infra" / "rabbitmq" / "topology.json"
ROLES_SQL = REPO / "infra" / "postgres" / "roles.sql"


class StackError(Exception):
    """Something the stack needs is missing or failed; the message says what to do."""


def port_open(hostport: str, timeout: float = 0.5) -> bool:
    host, port = hostport.rsplit(":", 1)
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            return True
    except OSError:
        return False


def wait_for_port(hostport: str, what: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not port_open(hostport):
        if time.monotonic() > deadline:
            raise StackError(f"{what} did not open {hostport} within {timeout_s:g} s")
        time.sleep(0.2)


def _run(argv: list[str], what: str, timeout: float = 120.0) -> str:
    if shutil.which(argv[0]) is None:
        raise StackError(f"{argv[0]} is not installed: run `make up` as root to install it")
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise StackError(f"{what} failed: {(done.stderr or done.stdout).strip()[-800:]}")
    return done.stdout


def ctl(config: StackConfig, *args: str) -> list[str]:
    """A ``rabbitmqctl`` command line for the stack's broker node."""
    node = ["-n", config.rabbit_node] if config.rabbit_node else []
    return ["rabbitmqctl", *node, *args]


def run_ctl(config: StackConfig, *args: str) -> str:
    return _run(ctl(config, *args), f"rabbitmqctl {args[0] if args else ''}")


def ensure_rabbitmq(config: StackConfig) -> None:
    if port_open(config.amqp_host):
        return
    _run(["rabbitmq-server", "-detached"], "starting RabbitMQ")
    wait_for_rabbitmq(config)


def wait_for_rabbitmq(config: StackConfig, timeout_s: float = 120.0) -> None:
    """Until the node has booted (right after ``-detached`` it is not even registered)."""
    deadline = time.monotonic() + timeout_s
    while True:
        done = subprocess.run(
            ctl(config, "-q", "await_startup", "--timeout", "10"),
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode == 0 and port_open(config.amqp_host):
            return
        if time.monotonic() > deadline:
            raise StackError(f"RabbitMQ did not start within {timeout_s:g} s: {done.stderr[-300:]}")
        time.sleep(0.5)


def ensure_postgres(config: StackConfig) -> None:
    if port_open(config.postgres_host):
        return
    clusters = sorted(p.name for p in Path("/etc/postgresql").glob("*"))
    if not clusters:
        raise StackError("PostgreSQL is not installed: run `make up` as root to install it")
    _run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", clusters[-1], "main", "start"],
        "starting PostgreSQL",
    )
    wait_for_port(config.postgres_host, "PostgreSQL")


def rabbit_password_hash(password: str, salt: bytes | None = None) -> str:
    """RabbitMQ's ``rabbit_password_hashing_sha256``: base64(salt + sha256(salt + password))."""
    salt = salt if salt is not None else os.urandom(4)
    return base64.b64encode(salt + hashlib.sha256(salt + password.encode()).digest()).decode()


def service_users(config: StackConfig) -> list[dict[str, object]]:
    """Definitions' ``users``: one per service, no tags (no management, no administration)."""
    values = config.secrets()
    return [
        {
            "name": config.amqp_service_user(service),
            "password_hash": rabbit_password_hash(values[amqp_password_key(service)]),
            "hashing_algorithm": "rabbit_password_hashing_sha256",
            "tags": [],
        }
        for service in SERVICES
    ]


def apply_topology(config: StackConfig, topology: Topology | None = None) -> None:
    """Import the rendered definitions (exchange, queues, bindings, policies) into the vhost,
    with one user per service whose permissions reach only its own queues and the exchange."""
    topology = topology or Topology.load(TOPOLOGY)
    definitions = topology.render_definitions(config.vhost)
    definitions["users"] = service_users(config)
    definitions["permissions"] = [
        {
            "user": config.amqp_user,
            "vhost": config.vhost,
            "configure": ".*",
            "write": ".*",
            "read": ".*",
        },
        *topology.render_permissions(
            config.vhost, {s: config.amqp_service_user(s) for s in SERVICES}
        ),
    ]
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as out:
        json.dump(definitions, out)
    # the broker reads the file as its own user; it holds password hashes (salted), not
    # passwords, and lives only for the import
    Path(out.name).chmod(0o644)
    try:
        _run(ctl(config, "import_definitions", out.name), "importing RabbitMQ definitions")
    finally:
        Path(out.name).unlink()
    # the import is asynchronous: wait until every queue exists
    wanted = set(topology.queue_names())
    deadline = time.monotonic() + 60
    while True:
        listed = _run(
            ctl(config, "-q", "list_queues", "-p", config.vhost, "name", "--no-table-headers"),
            "listing queues",
        )
        if wanted <= set(listed.split()):
            return
        if time.monotonic() > deadline:
            raise StackError(f"queues missing after import: {sorted(wanted - set(listed.split()))}")
        time.sleep(0.3)


def delete_vhost(config: StackConfig) -> None:
    """The stack's vhost and its service users (a test stack's: never the default one)."""
    if config.vhost != "/":
        _run(ctl(config, "delete_vhost", config.vhost), "deleting the vhost")
        for service in SERVICES:
            done = subprocess.run(
                ctl(config, "-q", "delete_user", config.amqp_service_user(service)),
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            if done.returncode not in (0, 67):  # 67: no such user (never created)
                raise StackError(f"deleting RabbitMQ user failed: {done.stderr.strip()[-300:]}")


def apply_roles(config: StackConfig) -> None:
    """Databases, migration and app roles, extensions — as the PostgreSQL superuser."""
    for service in DATABASE_SERVICES:
        _run(
            [
                "psql",
                "-q",
                "-X",
                "-d",
                config.superuser_url,
                "-v",
                f"db={config.database(service)}",
                "-v",
                f"migrator=docuvault_{service}_migrator",
                "-v",
                f"app=docuvault_{service}_app",
                "-f",
                str(ROLES_SQL),
            ],
            f"setting up the {service} database",
        )


def psql(config: StackConfig, sql: str) -> str:
    return _run(["psql", "-q", "-X", "-At", "-d", config.superuser_url, "-c", sql], "psql")


def drop_databases(config: StackConfig) -> None:
    """Every database of the stack (service and scratch ones share the prefix)."""
    names = psql(
        config,
        f"SELECT datname FROM pg_database WHERE datname LIKE '{config.database_prefix}_%'",  # noqa: S608
    )
    for name in names.split():
        psql(config, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

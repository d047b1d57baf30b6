"""Pytest fixtures: the tests' own private stack, never the one ``make up`` started.

It has its own run directory, ports, RabbitMQ vhost, databases and bucket, and is removed at
the end of the session. A missing server or tool makes the fixture fail loudly.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from docuvault.devstack import infra
from docuvault.devstack.config import REPO, SERVICES, StackConfig
from docuvault.devstack.stack import Stack
from docuvault.runtime.auth import DEFAULT_SCOPES, issue_token
from docuvault.runtime.bus import Broker, Topology

#: an earlier secret of the test stack's keyring: its tokens still verify (key rotation) …
PREVIOUS_TEST_SECRET = "previous-test-secret-of-the-private-stack"  # noqa: S105 - tests only
#: … and a retired one: its tokens are refused (objects it sealed would still open)
RETIRED_TEST_SECRET = "retired-test-secret-of-the-private-stack"  # noqa: S105 - tests only

#: settings the tests tighten so limits can be exercised with small files
TEST_ENV = {
    "DOCUVAULT_PREVIOUS_SECRET_KEYS": PREVIOUS_TEST_SECRET,
    "DOCUVAULT_RETIRED_SECRET_KEYS": RETIRED_TEST_SECRET,
    "DOCUVAULT_ENV": "test",
    "DOCUVAULT_MAX_UPLOAD_BYTES": str(12 * 1024 * 1024),
    "DOCUVAULT_MAX_FILES_PER_REQUEST": "5",
    "DOCUVAULT_LOG_LEVEL": "INFO",
}


def corpus_dir() -> Path | None:
    """``$DOCUVAULT_CORPUS`` or ``../shared/corpus`` beside the repository, if present."""
    configured = os.environ.get("DOCUVAULT_CORPUS")
    path = Path(configured) if configured else REPO.parent / "shared" / "corpus"
    return path if path.is_dir() else None


@pytest.fixture(scope="session")
def corpus() -> Path:
    path = corpus_dir()
    if path is None:
        pytest.skip("corpus absent: set DOCUVAULT_CORPUS or provide ../shared/corpus")
    return path


@pytest.fixture(scope="session")
def stack_config() -> Iterator[StackConfig]:
    run_dir = Path(tempfile.mkdtemp(prefix="docuvault-test-"))
    config = StackConfig.isolated(run_dir, **TEST_ENV)
    yield config
    with contextlib.suppress(infra.StackError):  # nothing to remove if it never started
        infra.delete_vhost(config)
    infra.drop_databases(config)
    shutil.rmtree(run_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def stack(stack_config: StackConfig) -> Iterator[Stack]:
    """The whole private stack running: object store, topology, databases, four services."""
    only = os.environ.get("DOCUVAULT_TEST_SERVICES")  # to iterate on a part of the stack
    running = Stack(stack_config, tuple(only.split(",")) if only else SERVICES)
    try:
        running.up(say=False)
    except infra.StackError:
        running.down()
        raise
    yield running
    running.down()


@pytest.fixture(scope="session")
def service_env(stack: Stack) -> dict[str, str]:
    """Settings of the private stack (as the catalog sees them) for in-process adapters."""
    return stack.config.service_env("catalog")


@pytest.fixture(scope="session")
def scratch_database(stack_config: StackConfig) -> str:
    """A database of its own (owned by the superuser), for adapter tests; returns its DSN."""
    name = f"{stack_config.database_prefix}_scratch"
    infra.psql(stack_config, f'CREATE DATABASE "{name}"')
    return stack_config.superuser_url.rsplit("/", 1)[0] + f"/{name}"


class Api:
    """The private stack's HTTP endpoints and tokens for any owner."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.ingest = stack.config.url("ingest")
        self.catalog = stack.config.url("catalog")
        self._secret = stack.config.secrets()["DOCUVAULT_SECRET_KEY"]

    def token(self, owner: str, *scopes: str) -> str:
        return issue_token(self._secret, owner, scopes=scopes or DEFAULT_SCOPES)

    def auth(self, owner: str, *scopes: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(owner, *scopes)}"}

    async def upload(self, owner: str, files: list[tuple[str, bytes]]) -> list[str]:
        """Upload ``files`` (name, bytes) in one request as ``owner``; their document ids."""
        async with httpx.AsyncClient(timeout=60) as client:
            answer = await client.post(
                f"{self.ingest}/v1/documents",
                files=[("file", f) for f in files],
                headers=self.auth(owner),
            )
        assert answer.status_code == 202, answer.text
        return [d["document_id"] for d in answer.json()["documents"]]


@pytest.fixture(scope="session")
def api(stack: Stack) -> Api:
    return Api(stack)


@contextlib.asynccontextmanager
async def running_broker(stack: Stack, topology: Topology) -> AsyncIterator[Broker]:
    """A connected ``Broker`` on a topology of the test's own, applied to the private stack."""
    infra.apply_topology(stack.config, topology)
    broker = Broker(stack.config.amqp_url, topology, service="tester", publish_timeout_s=5)
    broker.start()
    try:
        await asyncio.wait_for(broker.connection(), 10)
        yield broker
    finally:
        await broker.close()

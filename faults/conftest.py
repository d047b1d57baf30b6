"""The fault suite's own stack: a private RabbitMQ node and PostgreSQL cluster (DESIGN §8)."""

import dataclasses
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from docuvault.devstack import infra
from docuvault.devstack.config import StackConfig
from docuvault.devstack.faults import REPORTS, FaultStack, Harness, summary_table
from docuvault.devstack.private import PrivatePostgres, PrivateRabbit
from docuvault.devstack.stack import Stack

#: documents per scenario (≥ 200 in CI)
DOCUMENTS = int(os.environ.get("DOCUVAULT_FAULT_DOCUMENTS", "200"))


@pytest.fixture(scope="session")
def fault_stack() -> Iterator[FaultStack]:
    base = Path(tempfile.mkdtemp(prefix="docuvault-faults-"))
    base.chmod(0o755)  # the broker and the database run as their own users
    rabbit = PrivateRabbit.create(base / "rabbitmq")
    postgres = PrivatePostgres.create(base / "postgres")
    rabbit.start()
    postgres.start()
    config = dataclasses.replace(
        StackConfig.isolated(base / "run", DOCUVAULT_ENV="test", DOCUVAULT_LOG_LEVEL="WARNING"),
        amqp_host=rabbit.hostport,
        rabbit_node=rabbit.node,
        postgres_host=postgres.hostport,
    )
    stack = Stack(config)
    try:
        stack.up(say=False)
        yield FaultStack(stack, rabbit, postgres)
    finally:
        stack.down()
        infra.delete_vhost(config) if infra.port_open(rabbit.hostport) else None
        rabbit.remove()
        postgres.remove()
        if os.environ.get("DOCUVAULT_KEEP_FAULT_RUN"):
            print(f"fault run kept in {base}")
        else:
            shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def harness(fault_stack: FaultStack) -> Harness:
    return Harness(fault_stack.stack, DOCUMENTS)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if REPORTS:
        terminalreporter.write_line("")
        terminalreporter.write_line("fault suite report (per scenario)")
        for line in summary_table(REPORTS):
            terminalreporter.write_line(line)

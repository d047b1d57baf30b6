"""A private stack for one benchmark (own run directory, ports, vhost, databases and bucket),
removed afterwards — shared by every benchmark part."""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from docuvault.devstack import infra
from docuvault.devstack.config import SERVICES, StackConfig
from docuvault.devstack.stack import Stack
from docuvault.runtime.auth import issue_token


@contextmanager
def private_stack(services: tuple[str, ...] = SERVICES, **extra_env: str) -> Iterator[Stack]:
    run_dir = Path(tempfile.mkdtemp(prefix="docuvault-bench-"))
    config = StackConfig.isolated(run_dir, **({"DOCUVAULT_LOG_LEVEL": "WARNING"} | extra_env))
    stack = Stack(config, services)
    try:
        stack.up(say=False)
        yield stack
    finally:
        stack.down()
        infra.delete_vhost(config)
        infra.drop_databases(config)
        shutil.rmtree(run_dir, ignore_errors=True)


def owner_headers(stack: Stack, label: str) -> dict[str, str]:
    """Authorization for a fresh owner, so that each sub-run sees only its own documents."""
    secret = stack.config.secrets()["DOCUVAULT_SECRET_KEY"]
    token = issue_token(secret, f"bench-{label}-{uuid.uuid4()}")
    return {"Authorization": f"Bearer {token}"}

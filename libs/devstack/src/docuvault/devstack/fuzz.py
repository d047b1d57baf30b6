"""Schemathesis against a service's OpenAPI, as the services' fuzz tests run it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def schemathesis(openapi_url: str, token: str, config: Path) -> subprocess.CompletedProcess[str]:
    """Every check, 60 examples per operation, a fixed seed, with ``token`` as the bearer."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "schemathesis.cli",
            "--config-file",
            str(config),
            "run",
            openapi_url,
            "--checks",
            "all",
            "--header",
            f"Authorization: Bearer {token}",
            "--max-examples",
            "60",
            "--seed",
            "1",
            "--no-color",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )

"""Schemathesis, every check, against ingest's OpenAPI with a valid token: no 5xx, no answer
outside its documented schema."""

from pathlib import Path

from docuvault.devstack.fuzz import schemathesis
from docuvault.devstack.pytest_plugin import Api

CONFIG = Path(__file__).with_name("schemathesis.toml")


def test_schemathesis_finds_nothing(api: Api) -> None:
    done = schemathesis(f"{api.ingest}/openapi.json", api.token("fuzz"), CONFIG)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "No issues found" in done.stdout or " passed" in done.stdout

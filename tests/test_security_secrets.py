"""Issue 9: outside ``DOCUVAULT_ENV=dev`` (and the tests) every service refuses to start with a
missing, short or well-known secret — one line naming the setting, exit status 2 — and accepts a
strong one. Two real processes (stopped before they reach any server); every service's settings
class in-process."""

import os
import secrets
import subprocess
import sys

import pytest
from pydantic import ValidationError

from docuvault.catalog.config import CatalogSettings
from docuvault.classifier.config import ClassifierSettings
from docuvault.extractor.config import ExtractorSettings
from docuvault.ingest.config import IngestSettings
from docuvault.runtime.auth import key_id
from docuvault.runtime.settings import CommonSettings, describe_error, secret_problem

SETTINGS = [IngestSettings, CatalogSettings, ExtractorSettings, ClassifierSettings]
WEAK = {
    "short": "only-twenty-chars-xx",
    "well-known": "change-me-to-a-long-random-string",
    "repetitive": "ab" * 20,
}


def _start(service: str, **settings: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCUVAULT_")}
    env.update(
        {
            "DOCUVAULT_ENV_FILE": "",
            "DOCUVAULT_ENV": "prod",
            "DOCUVAULT_S3_ACCESS_KEY": "access",
            "DOCUVAULT_S3_SECRET_KEY": "secret-of-the-s3-user",
            **settings,
        }
    )
    return subprocess.run(
        [sys.executable, "-m", f"docuvault.{service}"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("service", ["ingest", "catalog"])
def test_a_service_outside_dev_stops_at_start_on_a_weak_secret(service: str) -> None:
    refused = _start(service, DOCUVAULT_SECRET_KEY=WEAK["well-known"])
    assert refused.returncode == 2
    assert refused.stderr.strip().splitlines() == [
        f"docuvault-{service}: setting DOCUVAULT_SECRET_KEY is invalid: is a well-known "
        "example value: generate one (e.g. `openssl rand -base64 48`) (DOCUVAULT_ENV=prod)"
    ]


@pytest.mark.parametrize("settings_class", SETTINGS, ids=lambda c: c.__name__)
def test_every_services_settings_refuse_missing_and_weak_secrets(
    settings_class: type[CommonSettings], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in [k for k in os.environ if k.startswith("DOCUVAULT_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("DOCUVAULT_ENV", "prod")
    monkeypatch.setenv("DOCUVAULT_S3_ACCESS_KEY", "access")
    monkeypatch.setenv("DOCUVAULT_S3_SECRET_KEY", "secret-of-the-s3-user")
    with pytest.raises(ValidationError) as missing:
        settings_class(_env_file=None)
    assert describe_error(missing.value).startswith("setting DOCUVAULT_SECRET_KEY is missing")
    for kind, weak in WEAK.items():
        monkeypatch.setenv("DOCUVAULT_SECRET_KEY", weak)
        with pytest.raises(ValidationError) as refused:
            settings_class(_env_file=None)
        line = describe_error(refused.value)
        assert line.startswith("setting DOCUVAULT_SECRET_KEY is invalid"), (kind, line)
        assert weak not in line  # the secret itself is never printed
    strong = secrets.token_urlsafe(48)
    monkeypatch.setenv("DOCUVAULT_SECRET_KEY", strong)
    # a weak *previous* secret is refused too: it still verifies tokens
    monkeypatch.setenv("DOCUVAULT_PREVIOUS_SECRET_KEYS", f"{secrets.token_urlsafe(48)},short")
    with pytest.raises(ValidationError) as previous:
        settings_class(_env_file=None)
    assert "DOCUVAULT_PREVIOUS_SECRET_KEYS" in describe_error(previous.value)
    monkeypatch.delenv("DOCUVAULT_PREVIOUS_SECRET_KEYS")
    accepted = settings_class(_env_file=None)
    assert accepted.keyring().current.kid == key_id(strong)
    assert accepted.encrypt_at_rest is True  # on unless turned off


def test_what_counts_as_strong() -> None:
    assert secret_problem(secrets.token_urlsafe(48)) is None
    assert all(secret_problem(weak) is not None for weak in WEAK.values())

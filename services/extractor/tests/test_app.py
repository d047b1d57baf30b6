"""Settings, the command line and the app: what starts the real process."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from pydantic import ValidationError

from docuvault.extractor import api
from docuvault.extractor.config import ExtractorSettings

REQUIRED = {
    "DOCUVAULT_S3_ACCESS_KEY": "key",
    "DOCUVAULT_S3_SECRET_KEY": "secret",
    "DOCUVAULT_SECRET_KEY": "x" * 32,
}


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in list(os.environ):
        if name.startswith("DOCUVAULT_"):
            monkeypatch.delenv(name)
    for name, value in REQUIRED.items():
        monkeypatch.setenv(name, value)
    return monkeypatch


def test_defaults(env: pytest.MonkeyPatch) -> None:
    settings = ExtractorSettings(_env_file=None)
    assert settings.extractor_port == 8003
    assert settings.ocr_languages == "eng"
    assert settings.extractor_workers == (os.cpu_count() or 1)
    # two documents per worker: one in the pool, one downloading or uploading meanwhile
    assert settings.consumer_prefetch == 2 * settings.extractor_workers
    limits = settings.limits()
    assert limits.ocr_languages == "eng"
    assert limits.ocr_dpi == 300
    assert limits.max_pages == settings.extractor_max_pages


def test_settings_from_the_environment(env: pytest.MonkeyPatch) -> None:
    env.setenv("DOCUVAULT_OCR_LANGUAGES", "eng+deu")
    env.setenv("DOCUVAULT_EXTRACTOR_WORKERS", "3")
    env.setenv("DOCUVAULT_EXTRACTOR_PREFETCH", "5")
    settings = ExtractorSettings(_env_file=None)
    assert settings.limits().ocr_languages == "eng+deu"
    assert (settings.extractor_workers, settings.consumer_prefetch) == (3, 5)


def test_a_long_budget_keeps_one_document_per_worker(env: pytest.MonkeyPatch) -> None:
    """Two budgets of waiting would come near RabbitMQ's 30 min consumer timeout."""
    env.setenv("DOCUVAULT_EXTRACTOR_WORKERS", "2")
    env.setenv("DOCUVAULT_EXTRACTOR_TIMEOUT_S", "1200")
    assert ExtractorSettings(_env_file=None).consumer_prefetch == 2


def test_ocr_languages_cannot_smuggle_arguments(env: pytest.MonkeyPatch) -> None:
    env.setenv("DOCUVAULT_OCR_LANGUAGES", "eng --tessdata-dir /tmp")
    with pytest.raises(ValidationError):
        ExtractorSettings(_env_file=None)


def test_the_app_has_only_the_health_routes(env: pytest.MonkeyPatch) -> None:
    app = api.create(ExtractorSettings(_env_file=None))
    paths = set(app.openapi()["paths"])
    assert {"/healthz", "/readyz", "/metrics"} <= paths
    assert not any(path.startswith("/v1") for path in paths)


def test_a_missing_setting_stops_the_process_with_one_line() -> None:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("DOCUVAULT_")}
    environ["DOCUVAULT_ENV_FILE"] = ""
    done = subprocess.run(
        [sys.executable, "-m", "docuvault.extractor"],
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "DOCUVAULT_S3_ACCESS_KEY" in lines[0]

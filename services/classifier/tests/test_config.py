from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from docuvault.classifier.bootstrap import policy_of
from docuvault.classifier.config import ClassifierSettings
from docuvault.runtime.settings import describe_error

REQUIRED = {
    "DOCUVAULT_S3_ACCESS_KEY": "test-access",
    "DOCUVAULT_S3_SECRET_KEY": "test-secret",
    "DOCUVAULT_SECRET_KEY": "0123456789abcdef0123",
}


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in list(os.environ):
        if name.startswith("DOCUVAULT_"):
            monkeypatch.delenv(name)
    for name, value in REQUIRED.items():
        monkeypatch.setenv(name, value)
    return monkeypatch


def load() -> ClassifierSettings:
    return ClassifierSettings(_env_file=None)


def test_defaults(env: pytest.MonkeyPatch) -> None:
    settings = load()
    assert settings.classifier_port == 8004
    assert settings.enabled_providers == {"local"}
    assert settings.classifier_provider == "local"
    assert settings.apply_threshold == 0.5
    policy = policy_of(settings)
    assert (policy.default_provider, policy.apply_threshold) == ("local", 0.5)
    assert policy.max_chars == settings.classifier_max_chars == 100_000


def test_providers_list(env: pytest.MonkeyPatch) -> None:
    env.setenv("DOCUVAULT_CLASSIFIER_PROVIDERS", " local, openai-compatible ,local")
    env.setenv("DOCUVAULT_CLASSIFIER_PROVIDER", "openai-compatible")
    env.setenv("DOCUVAULT_APPLY_THRESHOLD", "0.7")
    env.setenv("DOCUVAULT_OPENAI_COMPATIBLE_BASE_URL", "http://127.0.0.1:1234/v1")
    settings = load()
    assert settings.classifier_providers == "local,openai-compatible"
    assert settings.enabled_providers == {"local", "openai-compatible"}
    assert settings.classifier_provider == "openai-compatible"
    assert settings.apply_threshold == 0.7


@pytest.mark.parametrize(
    ("provider", "needed"),
    [
        ("anthropic", "DOCUVAULT_ANTHROPIC_API_KEY"),
        ("openai", "DOCUVAULT_OPENAI_API_KEY"),
        ("openai-compatible", "DOCUVAULT_OPENAI_COMPATIBLE_BASE_URL"),
    ],
)
def test_enabled_llm_provider_needs_its_setting(
    env: pytest.MonkeyPatch, provider: str, needed: str
) -> None:
    env.setenv("DOCUVAULT_CLASSIFIER_PROVIDERS", f"local,{provider}")
    with pytest.raises(ValidationError) as caught:
        load()
    line = describe_error(caught.value)
    assert line.startswith(f"setting {needed} is invalid")
    assert provider in line
    env.setenv(needed, "http://127.0.0.1:9/v1" if needed.endswith("URL") else "sk-test")
    assert provider in load().enabled_providers


def test_api_keys_are_secret(env: pytest.MonkeyPatch) -> None:
    env.setenv("DOCUVAULT_CLASSIFIER_PROVIDERS", "local,anthropic,openai")
    env.setenv("DOCUVAULT_ANTHROPIC_API_KEY", "sk-ant-very-secret")
    env.setenv("DOCUVAULT_OPENAI_API_KEY", "sk-openai-very-secret")
    settings = load()
    shown = repr(settings) + str(settings.model_dump())
    assert "very-secret" not in shown
    assert settings.anthropic_api_key is not None
    assert settings.anthropic_api_key.get_secret_value() == "sk-ant-very-secret"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DOCUVAULT_CLASSIFIER_PROVIDERS", "local,gpt"),
        ("DOCUVAULT_CLASSIFIER_PROVIDERS", " , "),
        ("DOCUVAULT_CLASSIFIER_PROVIDER", "anthropic"),  # not enabled
        ("DOCUVAULT_APPLY_THRESHOLD", "1.5"),
        ("DOCUVAULT_CLASSIFIER_PORT", "0"),
    ],
)
def test_invalid_setting_is_named(env: pytest.MonkeyPatch, name: str, value: str) -> None:
    env.setenv(name, value)
    with pytest.raises(ValidationError) as caught:
        load()
    assert describe_error(caught.value).startswith(f"setting {name} is invalid")


def test_missing_setting_stops_the_service_with_one_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCUVAULT_")}
    env |= {"DOCUVAULT_SECRET_KEY": REQUIRED["DOCUVAULT_SECRET_KEY"], "DOCUVAULT_ENV_FILE": ""}
    done = subprocess.run(
        [sys.executable, "-m", "docuvault.classifier"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "DOCUVAULT_S3_ACCESS_KEY is missing" in lines[0]

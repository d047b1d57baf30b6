import os
import subprocess
import sys
from pathlib import Path

import pytest

from docuvault.runtime.settings import CommonSettings, load_settings

REQUIRED = {
    "DOCUVAULT_S3_ACCESS_KEY": "key",
    "DOCUVAULT_S3_SECRET_KEY": "secret",
    "DOCUVAULT_SECRET_KEY": "a-secret-of-sixteen-chars-or-more",
}


def _clean_env(tmp_path: Path, **values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCUVAULT_")}
    env["DOCUVAULT_ENV_FILE"] = str(tmp_path / "absent.env")
    env.update(values)
    return env


@pytest.mark.parametrize("service", ["ingest", "catalog", "extractor", "classifier"])
def test_missing_setting_stops_the_service_with_one_line(tmp_path: Path, service: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", f"docuvault.{service}"],
        env=_clean_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "DOCUVAULT_" in lines[0]
    assert "is missing" in lines[0]


def test_invalid_setting_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for key, value in _clean_env(tmp_path, **REQUIRED, DOCUVAULT_PREFETCH="lots").items():
        monkeypatch.setenv(key, value)
    with pytest.raises(SystemExit) as stopped:
        load_settings(CommonSettings, program="docuvault-test")
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("docuvault-test: setting DOCUVAULT_PREFETCH is invalid")


def test_env_file_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env_file = tmp_path / "custom.env"
    env_file.write_text(
        "".join(f"{k}={v}\n" for k, v in REQUIRED.items()) + "DOCUVAULT_PREFETCH=7\n"
    )
    for key in list(os.environ):
        if key.startswith("DOCUVAULT_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("DOCUVAULT_ENV_FILE", str(env_file))
    settings = load_settings(CommonSettings, program="t")
    assert settings.prefetch == 7
    assert settings.s3_access_key.get_secret_value() == "key"

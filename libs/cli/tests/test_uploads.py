"""Uploading many files: collection, retries with the same key, settling watched files."""

from pathlib import Path
from typing import Any

import pytest

from docuvault.cli import uploads
from docuvault.cli.client import CliError, Retryable


class FlakyClient:
    """Answers ``failures`` times with a retryable error, then accepts."""

    def __init__(self, failures: int, retry_after: float | None = None) -> None:
        self.failures = failures
        self.retry_after = retry_after
        self.keys: list[str | None] = []

    def upload(
        self, path: Path, *, auto_classify: bool, advance: Any, idempotency_key: str | None = None
    ) -> dict[str, Any]:
        self.keys.append(idempotency_key)
        advance(path.stat().st_size)
        if len(self.keys) <= self.failures:
            raise Retryable("503: busy", retry_after=self.retry_after)
        return {"documents": [{"document_id": "d1", "filename": path.name}], "errors": []}


def test_directories_need_recursive_and_hidden_files_are_skipped(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("a")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.txt").write_text("b")
    (tmp_path / ".done").mkdir()
    (tmp_path / ".done" / "old.txt").write_text("old")
    (tmp_path / ".secret").write_text("s")
    with pytest.raises(CliError, match="--recursive"):
        uploads.collect([tmp_path], recursive=False)
    found = uploads.collect([tmp_path], recursive=True)
    assert [p.relative_to(tmp_path).as_posix() for p in found] == ["a.txt", "sub/b.txt"]


def test_retries_keep_the_same_idempotency_key_and_honour_retry_after(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_text("abc")
    client = FlakyClient(failures=2, retry_after=7.0)
    slept: list[float] = []
    progress: list[int] = []
    outcome = uploads.upload_one(
        client,
        path,
        auto_classify=True,
        advance=progress.append,
        sleep=slept.append,
    )
    assert outcome.error is None
    assert outcome.attempts == 3
    assert len(set(client.keys)) == 1
    assert client.keys[0] is not None
    assert slept == [7.0, 7.0]
    assert sum(progress) == 3  # what was sent before a retry is taken back


def test_gives_up_after_the_backoff_schedule(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_text("abc")
    client = FlakyClient(failures=100)
    slept: list[float] = []
    outcome = uploads.upload_one(
        client,
        path,
        auto_classify=True,
        advance=lambda _n: None,
        sleep=slept.append,
    )
    assert outcome.attempts == len(uploads.BACKOFF_S) + 1
    assert slept == list(uploads.BACKOFF_S)
    assert outcome.error is not None
    assert outcome.error.startswith("gave up after 6 attempts")


def test_settle_moves_files_and_keeps_the_reason(tmp_path: Path) -> None:
    good, bad = tmp_path / "good.txt", tmp_path / "bad.bin"
    good.write_text("g")
    bad.write_text("b")
    uploads.settle(tmp_path, uploads.Outcome(good, documents=[{"document_id": "x"}]))
    moved = uploads.settle(tmp_path, uploads.Outcome(bad, error="415: unsupported type"))
    assert (tmp_path / ".done" / "good.txt").read_text() == "g"
    assert moved == tmp_path / ".failed" / "bad.bin"
    assert (tmp_path / ".failed" / "bad.bin.reason").read_text() == "415: unsupported type\n"
    assert not good.exists()


def test_only_files_whose_size_stopped_changing_are_ready(tmp_path: Path) -> None:
    sizes: dict[Path, int] = {}
    growing = tmp_path / "scan.pdf"
    growing.write_bytes(b"x")
    assert uploads.stable_files(tmp_path, sizes) == []
    growing.write_bytes(b"xx")
    assert uploads.stable_files(tmp_path, sizes) == []
    assert uploads.stable_files(tmp_path, sizes) == [growing]

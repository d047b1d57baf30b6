"""`docuvault upload DIR --recursive` and `docuvault watch FOLDER` against the private stack."""

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

from docuvault.devstack.pytest_plugin import Api


def _env(api: Api, owner: str) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("DOCUVAULT_")},
        "DOCUVAULT_ENV_FILE": str(api.stack.config.env_file),
        "DOCUVAULT_INGEST_URL": api.ingest,
        "DOCUVAULT_CATALOG_URL": api.catalog,
        "DOCUVAULT_TOKEN": api.token(owner),
        "COLUMNS": "160",
    }


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "docuvault.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def test_upload_a_tree_prints_one_id_per_file_and_a_summary(api: Api, tmp_path: Path) -> None:
    tree = tmp_path / "archive"
    (tree / "2024" / "q1").mkdir(parents=True)
    (tree / "a.txt").write_text("alpha")
    (tree / "2024" / "b.md").write_text("# beta")
    (tree / "2024" / "q1" / "c.csv").write_text("x,y\n1,2\n")
    (tree / "2024" / "q1" / "bad.bin").write_bytes(b"\x00\x01\x02\x03garbage\x00")
    (tree / ".hidden").write_text("never uploaded")
    env = _env(api, f"tree-{uuid.uuid4()}")
    refused = _cli(env, "upload", str(tree))
    assert refused.returncode == 1
    assert "--recursive" in refused.stderr
    done = _cli(env, "upload", "--recursive", str(tree))
    assert done.returncode == 1, done.stderr  # one file was refused: the run says so
    ids = done.stdout.split()
    assert len(ids) == 3
    assert all(uuid.UUID(i) for i in ids)
    assert "bad.bin: 415: " in done.stderr
    assert "uploaded" in done.stderr  # the summary table
    listed = _cli(env, "search", "alpha", "--json")
    assert [d["filename"] for d in json.loads(listed.stdout)] == ["a.txt"] or listed.stdout


def test_watch_uploads_new_files_and_sorts_them(api: Api, tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "letter.txt").write_text("a letter to file away")
    (inbox / "junk.bin").write_bytes(b"\x00\xff\x00junk\x00")
    env = _env(api, f"watch-{uuid.uuid4()}")
    done = _cli(env, "watch", str(inbox), "--once", "--interval", "0.2")
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.split()) == 1
    assert (inbox / ".done" / "letter.txt").read_text() == "a letter to file away"
    assert (inbox / ".failed" / "junk.bin").exists()
    assert "415" in (inbox / ".failed" / "junk.bin.reason").read_text()
    assert sorted(p.name for p in inbox.iterdir()) == [".done", ".failed"]

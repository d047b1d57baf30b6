"""Uploading many files: directories, retries with backoff, and watching a folder."""

from __future__ import annotations

import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from docuvault.cli.client import CliError, Retryable

DONE, FAILED = ".done", ".failed"
BACKOFF_S = (0.5, 1.0, 2.0, 4.0, 8.0)


class Sender(Protocol):
    """What uploading needs of the client (``Client`` in production)."""

    def upload(
        self,
        path: Path,
        *,
        auto_classify: bool,
        advance: Callable[[int], None],
        idempotency_key: str | None = None,
    ) -> dict[str, Any]: ...


@dataclass
class Outcome:
    path: Path
    documents: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    attempts: int = 0


def collect(paths: list[Path], *, recursive: bool) -> list[Path]:
    """The files to upload: files as given, directories' files (recursively if asked)."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            if not recursive:
                raise CliError(f"{path} is a directory: add --recursive to upload what it holds")
            found += sorted(p for p in path.rglob("*") if p.is_file() and not _hidden(p, path))
        elif path.is_file():
            found.append(path)
        else:
            raise CliError(f"{path}: no such file")
    return found


def _hidden(path: Path, root: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(root).parts)


def upload_one(
    client: Sender,
    path: Path,
    *,
    auto_classify: bool,
    advance: Callable[[int], None],
    sleep: Callable[[float], None] = time.sleep,
) -> Outcome:
    """Upload with retries on 5xx, 429 and network errors, always with the same key."""
    key = str(uuid.uuid4())
    outcome = Outcome(path)
    for delay in (*BACKOFF_S, None):
        outcome.attempts += 1
        sent = 0

        def count(n: int) -> None:
            nonlocal sent
            sent += n
            advance(n)

        try:
            body = client.upload(
                path, auto_classify=auto_classify, advance=count, idempotency_key=key
            )
        except Retryable as exc:
            advance(-sent)  # the bar goes back: the file is sent again
            if delay is None:
                outcome.error = f"gave up after {outcome.attempts} attempts: {exc}"
                return outcome
            sleep(exc.retry_after if exc.retry_after is not None else delay)
            continue
        except CliError as exc:
            outcome.error = str(exc)
            return outcome
        outcome.documents = body["documents"]
        if body["errors"]:
            outcome.error = "; ".join(f"{e['status']}: {e['detail']}" for e in body["errors"])
        return outcome
    raise AssertionError("unreachable")


def upload_all(
    client: Sender,
    files: list[Path],
    *,
    auto_classify: bool,
    advance: Callable[[int], None],
    parallel: int = 4,
) -> Iterator[Outcome]:
    """Outcomes in completion order; ``parallel`` files are in flight at a time."""
    with ThreadPoolExecutor(max_workers=parallel) as pool:
        futures = [
            pool.submit(upload_one, client, f, auto_classify=auto_classify, advance=advance)
            for f in files
        ]
        for future in futures:
            yield future.result()


def settle(root: Path, outcome: Outcome) -> Path:
    """Move a watched file to ``.done`` or ``.failed`` (with a ``.reason`` file beside it)."""
    folder = root / (FAILED if outcome.error and not outcome.documents else DONE)
    folder.mkdir(exist_ok=True)
    target = folder / outcome.path.name
    if target.exists():
        target = folder / f"{outcome.path.stem}-{uuid.uuid4().hex[:8]}{outcome.path.suffix}"
    shutil.move(outcome.path, target)
    if folder.name == FAILED:
        target.with_name(target.name + ".reason").write_text(f"{outcome.error}\n")
    return target


def stable_files(root: Path, seen_sizes: dict[Path, int]) -> list[Path]:
    """Files whose size did not change since the previous look (their writer is done)."""
    ready = []
    current = {
        p: p.stat().st_size for p in root.iterdir() if p.is_file() and not p.name.startswith(".")
    }
    for path, size in current.items():
        if seen_sizes.get(path) == size:
            ready.append(path)
    seen_sizes.clear()
    seen_sizes.update({p: s for p, s in current.items() if p not in ready})
    return sorted(ready)

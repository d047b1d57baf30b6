"""``python -m docuvault.contracts write-schemas DIR`` / ``check-schemas DIR``.

``write-schemas`` writes the current schemas (``envelope.schema.json``, one
``<routing key>.schema.json`` per event type, ``asyncapi.json``) and freezes every schema that
has no file in ``DIR/frozen/`` yet; an existing frozen file is never overwritten.
``check-schemas`` exits 1 when the committed files are stale or a model broke its frozen schema.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from docuvault.contracts.compat import check_compatible
from docuvault.contracts.schemas import FROZEN_DIR, dumps, frozen_candidates, generate


def write_schemas(directory: Path) -> list[str]:
    """Write the current files and freeze the new ones; returns what it did, one line each."""
    frozen_dir = directory / FROZEN_DIR
    frozen_dir.mkdir(parents=True, exist_ok=True)
    done: list[str] = []
    for name, document in generate().items():
        path = directory / name
        text = dumps(document)
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            done.append(f"wrote {path}")
    for name, document in frozen_candidates().items():
        path = frozen_dir / name
        if not path.exists():
            path.write_text(dumps(document), encoding="utf-8")
            done.append(f"froze {path}")
    return done


def stale_files(directory: Path) -> list[str]:
    """Committed current files that differ from what the models generate."""
    problems = []
    for name, document in generate().items():
        path = directory / name
        if not path.exists():
            problems.append(f"{path} is missing")
        elif path.read_text(encoding="utf-8") != dumps(document):
            problems.append(f"{path} is stale: it differs from what the models generate")
    return problems


def compat_problems(directory: Path) -> list[str]:
    """Breaking changes of the current models against the committed frozen schemas."""
    frozen_dir = directory / FROZEN_DIR
    current = frozen_candidates()
    problems = [
        f"{path.name}: frozen, but no current model generates it (an event type was removed)"
        for path in sorted(frozen_dir.glob("*.schema.json"))
        if path.name not in current
    ]
    for name, document in current.items():
        path = frozen_dir / name
        if not path.exists():
            problems.append(f"{name}: has no frozen schema in {frozen_dir}")
            continue
        frozen = json.loads(path.read_text(encoding="utf-8"))
        problems += [f"{name}: {problem}" for problem in check_compatible(frozen, document)]
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m docuvault.contracts")
    commands = parser.add_subparsers(dest="command", required=True)
    write = commands.add_parser("write-schemas", help="write current schemas, freeze new ones")
    write.add_argument("directory", type=Path)
    check = commands.add_parser("check-schemas", help="fail if schemas are stale or incompatible")
    check.add_argument("directory", type=Path)
    args = parser.parse_args(argv)
    directory: Path = args.directory

    if args.command == "write-schemas":
        for line in write_schemas(directory):
            print(line)
        return 0
    stale = stale_files(directory)
    for problem in stale:
        print(f"stale: {problem}", file=sys.stderr)
    if stale:
        print("run `make schemas` and commit the result", file=sys.stderr)
    breaking = compat_problems(directory)
    for problem in breaking:
        print(f"breaking: {problem}", file=sys.stderr)
    if breaking:
        print(
            "a v1 schema may only change additively; publish a breaking change as a new "
            "type (…v2) instead",
            file=sys.stderr,
        )
    if stale or breaking:
        return 1
    print(f"{directory}: schemas are current and compatible with the frozen ones")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The command line of every service: ``python -m docuvault.<service> [serve|migrate|…]``.

A service may add commands of its own (the catalog's ``rebuild``): each gets the loaded
settings and the remaining arguments, and returns the exit status.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TypeVar

import uvicorn
from fastapi import FastAPI

from docuvault.runtime import db
from docuvault.runtime.logging import configure_logging
from docuvault.runtime.settings import CommonSettings, ServiceSettings, load_settings

S = TypeVar("S", bound=CommonSettings)


def run_service(
    service: str,
    settings_cls: type[S],
    create: Callable[[S], FastAPI],
    port: Callable[[S], int],
    migrations: dict[str, Path] | None = None,
    commands: Mapping[str, Callable[[S, list[str]], int]] | None = None,
) -> None:
    extra = dict(commands or {})
    command = sys.argv[1] if len(sys.argv) > 1 else "serve"
    if command not in ("serve", "migrate", *extra):
        names = "|".join(("serve", "migrate", *extra))
        print(f"usage: python -m docuvault.{service} [{names}]", file=sys.stderr)
        raise SystemExit(2)
    settings = load_settings(settings_cls, program=f"docuvault-{service}")
    configure_logging(service, settings.log_level)
    if command in extra:
        raise SystemExit(extra[command](settings, sys.argv[2:]))
    if command == "migrate":
        if migrations is None or not isinstance(settings, ServiceSettings):
            print(f"docuvault-{service} has no database to migrate", file=sys.stderr)
            raise SystemExit(2)
        applied = asyncio.run(db.migrate(settings.migration_dsn(), migrations))
        print(f"docuvault-{service}: {len(applied)} migration(s) applied", file=sys.stderr)
        return
    config = uvicorn.Config(
        create(settings),
        host=settings.host,
        port=port(settings),
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=20,
        lifespan="on",
    )
    uvicorn.Server(config).run()

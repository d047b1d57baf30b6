"""``docuvault`` — results on stdout, progress and summaries on stderr, ``--json`` for scripts."""

from __future__ import annotations

import functools
import json
import re
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

from docuvault.cli import admin, config, ops, uploads, views
from docuvault.cli.client import Client, CliError
from docuvault.runtime.auth import ALL_SCOPES, DEFAULT_SCOPES, issue_token

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="DocuVault: results on stdout, progress and summaries on stderr, --json for scripts.",
)
token_app = typer.Typer(no_args_is_help=True, help="Create and revoke API tokens.")
topics_app = typer.Typer(no_args_is_help=True, help="The owner's topics.")
app.add_typer(token_app, name="token")
app.add_typer(topics_app, name="topics")
app.add_typer(ops.dlq_app, name="dlq")
app.add_typer(admin.catalog_app, name="catalog")
app.command("reprocess")(ops.reprocess)
err = Console(stderr=True)
out = Console()
TERMINAL = {"classified", "extraction_failed", "classification_failed"}
JsonOpt = Annotated[bool, typer.Option("--json", help="machine-readable output")]


def _ttl(text: str) -> timedelta:
    match = re.fullmatch(r"(\d+)([smhd])", text)
    if not match:
        raise typer.BadParameter("use a number and a unit, e.g. 30d, 12h, 15m, 1s")
    unit = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}[match.group(2)]
    return timedelta(**{unit: int(match.group(1))})


@token_app.command("create")
def token_create(
    owner: Annotated[str, typer.Option(help="owner name; the same name is the same owner")],
    ttl: Annotated[str, typer.Option(help="lifetime: 30d, 12h, 1s …")] = "30d",
    scope: Annotated[
        list[str] | None, typer.Option(help=f"repeatable; {' '.join(ALL_SCOPES)}")
    ] = None,
) -> None:
    """Print a token signed with DOCUVAULT_SECRET_KEY (from the environment or .env)."""
    settings = config.load()
    if settings.secret_key is None:
        raise CliError("DOCUVAULT_SECRET_KEY is not set (run `make up` once: it writes .env)")
    scopes = tuple(scope) if scope else DEFAULT_SCOPES
    try:
        token = issue_token(
            settings.secret_key.get_secret_value(), owner, ttl=_ttl(ttl), scopes=scopes
        )
    except ValueError as exc:
        raise CliError(str(exc)) from exc
    print(token)


@token_app.command("revoke")
def token_revoke(
    token_or_jti: Annotated[str, typer.Argument(help="the token itself, or its jti")],
    as_json: JsonOpt = False,
) -> None:
    """Revoke a token: ingest and the catalog refuse it within seconds (needs scope admin)."""
    revoked = Client(config.load()).revoke(token_or_jti)
    if as_json:
        print(json.dumps(revoked, indent=2))
    else:
        until = revoked["expires_at"]
        print(revoked["jti"])
        note = " (it was revoked already)" if revoked.get("already_revoked") else ""
        err.print(f"revoked; refused until {until}{note}", highlight=False)


@app.command()
def upload(
    paths: Annotated[list[Path], typer.Argument(help="files, or directories with --recursive")],
    recursive: Annotated[
        bool, typer.Option("--recursive", "-r", help="upload directories")
    ] = False,
    wait: Annotated[bool, typer.Option(help="wait until each document is processed")] = False,
    classify: Annotated[bool, typer.Option(help="classify after extraction")] = True,
    timeout: Annotated[float, typer.Option(help="seconds --wait waits at most")] = 300.0,
    parallel: Annotated[int, typer.Option(min=1, max=16, help="files in flight")] = 4,
    as_json: JsonOpt = False,
) -> None:
    """Upload files (retrying 5xx, 429 and network errors); prints one document id per line."""
    client = Client(config.load())
    files = uploads.collect(paths, recursive=recursive)
    outcomes: list[uploads.Outcome] = []
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
    )
    with Progress(*columns, console=err, transient=True) as progress:
        task = progress.add_task(
            f"{len(files)} file(s)", total=sum(f.stat().st_size for f in files)
        )
        for outcome in uploads.upload_all(
            client,
            files,
            auto_classify=classify,
            parallel=parallel,
            advance=functools.partial(progress.advance, task),
        ):
            outcomes.append(outcome)
            if outcome.error:
                err.print(f"[red]✗[/] {outcome.path}: {outcome.error}", highlight=False)
            if not as_json and not wait:
                for doc in outcome.documents:
                    out.print(doc["document_id"], highlight=False)
    accepted = [doc for o in outcomes for doc in o.documents]
    if wait:
        accepted = [_wait(client, doc, timeout, classify) for doc in accepted]
        if not as_json:
            for doc in accepted:
                out.print(f"{doc['document_id']}\t{doc['status']}", highlight=False)
    if as_json:
        print(json.dumps(accepted, indent=2))
    failed = [o for o in outcomes if o.error]
    views.upload_summary(err, outcomes)
    if failed:
        raise typer.Exit(1)


@app.command()
def watch(
    folder: Annotated[Path, typer.Argument(exists=True, file_okay=False)],
    classify: Annotated[bool, typer.Option(help="classify after extraction")] = True,
    interval: Annotated[float, typer.Option(help="seconds between looks")] = 1.0,
    once: Annotated[bool, typer.Option(help="upload what is there now, then stop")] = False,
) -> None:
    """Upload new files as they appear; move each to FOLDER/.done or FOLDER/.failed (+ reason)."""
    client = Client(config.load())
    sizes: dict[Path, int] = {}
    err.print(f"watching {folder} (Ctrl-C to stop)")
    try:
        while True:
            ready = uploads.stable_files(folder, sizes)
            for outcome in uploads.upload_all(
                client, ready, auto_classify=classify, advance=lambda _n: None
            ):
                moved = uploads.settle(folder, outcome)
                for doc in outcome.documents:
                    out.print(doc["document_id"], highlight=False)
                if outcome.error:
                    err.print(
                        f"[red]✗[/] {outcome.path.name}: {outcome.error} → {moved}", highlight=False
                    )
            if once and not sizes:
                return
            time.sleep(interval)
    except KeyboardInterrupt:
        err.print("stopped")


def _wait(client: Client, doc: dict[str, Any], timeout: float, classify: bool) -> dict[str, Any]:
    done = TERMINAL if classify else TERMINAL | {"extracted"}
    deadline = time.monotonic() + timeout
    with err.status(f"waiting for {doc['filename']}"):
        while time.monotonic() < deadline:
            try:
                current = client.document(doc["document_id"])
            except CliError:
                current = {"status": "received"}  # not in the catalog yet
            if current["status"] in done:
                return {**doc, **current}
            time.sleep(0.3)
    return {**doc, "status": "timeout"}


@app.command()
def status(document_id: str, as_json: JsonOpt = False) -> None:
    """Show a document: status, topics, failure and history."""
    doc = Client(config.load()).document(document_id)
    if as_json:
        print(json.dumps(doc, indent=2))
    else:
        views.document(out, doc)


@app.command()
def search(
    query: str,
    limit: Annotated[int, typer.Option(min=1, max=100)] = 20,
    as_json: JsonOpt = False,
) -> None:
    """Full-text search over the owner's documents."""
    items = list(Client(config.load()).search(q=query, limit=limit))
    if as_json:
        print(json.dumps(items, indent=2))
    else:
        views.search_results(out, items)


@topics_app.command("list")
def topics_list(as_json: JsonOpt = False) -> None:
    items = Client(config.load()).topics()
    if as_json:
        print(json.dumps(items, indent=2))
    else:
        views.topics(out, items)


@topics_app.command("create")
def topics_create(
    name: str,
    description: Annotated[str, typer.Option()] = "",
    keyword: Annotated[list[str] | None, typer.Option(help="repeatable")] = None,
    color: Annotated[str | None, typer.Option(help="#rrggbb")] = None,
    as_json: JsonOpt = False,
) -> None:
    created = Client(config.load()).create_topic(
        {"name": name, "description": description, "keywords": keyword or [], "color": color}
    )
    print(json.dumps(created, indent=2) if as_json else created["topic_id"])


def main() -> None:
    try:
        app()
    except CliError as exc:
        err.print(f"docuvault: {exc}", highlight=False)
        sys.exit(1)


if __name__ == "__main__":
    main()

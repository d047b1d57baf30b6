"""Catalog administration: rebuilding the read model from the event history (issue 4).

``docuvault catalog rebuild`` runs the catalog's own rebuild in this process (the CLI depends on
``docuvault-catalog``): the same code as ``python -m docuvault.catalog rebuild``, with the
catalog's settings (``DOCUVAULT_MIGRATION_DATABASE_URL``, the broker, the object store) read
from the environment or ``.env``. Progress and the summary go to stderr; ``--json`` prints the
summary on stdout.
"""

from __future__ import annotations

from typing import Annotated

import typer

catalog_app = typer.Typer(no_args_is_help=True, help="Catalog administration.")


@catalog_app.command("rebuild")
def rebuild(
    drop_backup: Annotated[
        bool, typer.Option("--drop-backup", help="drop the previous tables after the swap")
    ] = False,
    batch: Annotated[int, typer.Option(min=1, help="events per transaction")] = 500,
    as_json: Annotated[bool, typer.Option("--json", help="the summary as JSON on stdout")] = False,
) -> None:
    """Replay docuvault.history into fresh tables and swap them in atomically.

    Runs as the catalog's migration role (DOCUVAULT_MIGRATION_DATABASE_URL).

    The catalog keeps answering; its writes wait only for the moment of the swap.

    The previous tables stay in a schema catalog_backup_<time>_<id> unless --drop-backup.
    """
    # imported here: the other commands need none of the catalog's code
    from docuvault.catalog import rebuild as catalog_rebuild
    from docuvault.catalog.config import CatalogSettings
    from docuvault.runtime.settings import load_settings

    settings = load_settings(CatalogSettings, program="docuvault catalog rebuild")
    options = catalog_rebuild.Options(keep_backup=not drop_backup, batch=batch)
    status = catalog_rebuild.run(settings, options, as_json=as_json)
    if status:
        raise typer.Exit(status)

"""FastAPI dependency aliases of the catalog."""

from typing import Annotated

from fastapi import Depends, Request

from docuvault.catalog.bootstrap import Catalog


# async: FastAPI runs a plain ``def`` dependency in a worker thread, a hop per request
async def _catalog(request: Request) -> Catalog:
    catalog: Catalog = request.app.state.catalog
    return catalog


CatalogDep = Annotated[Catalog, Depends(_catalog)]

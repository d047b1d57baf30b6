"""The catalog's HTTP API (DESIGN §5)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from docuvault.catalog import (
    bootstrap,
    openapi,
    routes_admin,
    routes_bulk,
    routes_documents,
    routes_topics,
)
from docuvault.catalog.audit import AuditTrail
from docuvault.catalog.config import CatalogSettings
from docuvault.runtime import security
from docuvault.runtime.app import create_app


def create(settings: CatalogSettings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with bootstrap.running(settings, deny_list) as catalog:
            app.state.catalog = catalog
            app.state.readiness_checks = catalog.checks
            yield

    app = create_app(
        title="DocuVault catalog",
        description="The read model of every document: listing, search, topics, settings.",
        lifespan=lifespan,
    )
    deny_list = security.install(app, settings)
    app.add_middleware(AuditTrail)
    app.include_router(routes_documents.router)
    app.include_router(routes_bulk.router)
    app.include_router(routes_topics.router)
    app.include_router(routes_admin.router)
    openapi.install(app)
    return app

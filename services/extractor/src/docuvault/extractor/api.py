"""The extractor's HTTP surface: only ``/healthz``, ``/readyz`` and ``/metrics`` (DESIGN §5)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from docuvault.extractor import bootstrap
from docuvault.extractor.config import ExtractorSettings
from docuvault.runtime.app import create_app


def create(settings: ExtractorSettings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with bootstrap.running(settings) as extractor:
            app.state.extractor = extractor
            app.state.readiness_checks = extractor.checks
            yield

    return create_app(
        title="DocuVault extractor",
        description="Worker: reads uploaded documents (text layers, OCR) and announces the text.",
        lifespan=lifespan,
    )

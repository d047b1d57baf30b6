"""The classifier's HTTP surface: only ``/healthz``, ``/readyz`` and ``/metrics`` (DESIGN §5)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from docuvault.classifier import bootstrap
from docuvault.classifier.config import ClassifierSettings
from docuvault.runtime.app import create_app


def create(settings: ClassifierSettings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with bootstrap.running(settings) as classifier:
            app.state.classifier = classifier
            app.state.readiness_checks = classifier.checks
            yield

    return create_app(
        title="DocuVault classifier",
        description="Worker: scores each document's text against its owner's topics.",
        lifespan=lifespan,
    )

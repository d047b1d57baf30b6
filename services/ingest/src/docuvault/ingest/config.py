"""Ingest settings (DESIGN §6)."""

from typing import Literal

from pydantic import Field, SecretStr

from docuvault.runtime.settings import ServiceSettings


class IngestSettings(ServiceSettings):
    database_url: SecretStr = SecretStr(
        "postgresql://docuvault_ingest_app@127.0.0.1:5432/docuvault_ingest"
    )
    migration_database_url: SecretStr | None = SecretStr(
        "postgresql://docuvault_ingest_migrator@127.0.0.1:5432/docuvault_ingest"
    )
    ingest_port: int = Field(default=8001, ge=1, le=65535)
    max_upload_bytes: int = Field(default=1 << 30, ge=1, description="per file")
    max_files_per_request: int = Field(default=20, ge=1, le=1000)
    #: how often the sweeper looks for originals without a ledger row; 0 turns it off
    sweep_interval_s: float = Field(default=3600.0, ge=0)
    #: how old such an original must be before it is removed (longer than any upload takes)
    sweep_grace_s: float = Field(default=3600.0, ge=60)
    #: a file whose sha256 the owner uploaded before: stored and flagged, refused (409), or
    #: stored as if new
    duplicates: Literal["flag", "reject", "allow"] = "flag"
    #: uploads one owner may have in flight at once (more → 429 with Retry-After)
    max_concurrent_uploads_per_owner: int = Field(default=8, ge=1, le=1000)
    #: how long an Idempotency-Key is remembered
    idempotency_ttl_s: float = Field(default=24 * 3600.0, ge=60)
    #: flow control: a new upload waits while one of these queues (comma-separated) holds
    #: ``backlog_limit`` or more ready messages, for at most ``backlog_wait_s``; either 0: never
    backlog_queues: str = Field(
        default="extractor.documents,classifier.documents", pattern=r"^([\w.:-]+(,[\w.:-]+)*)?$"
    )
    backlog_limit: int = Field(default=32, ge=0)
    backlog_wait_s: float = Field(default=10.0, ge=0, le=600)

    @property
    def watched_queues(self) -> list[str]:
        return [q for q in self.backlog_queues.split(",") if q]

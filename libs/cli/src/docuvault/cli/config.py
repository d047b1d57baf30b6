"""Where the CLI finds the services and its credentials (environment or ``.env``)."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from docuvault.runtime.settings import _find_topology


class CliSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DOCUVAULT_", extra="ignore", env_file=".env")

    ingest_url: str = "http://127.0.0.1:8001"
    catalog_url: str = "http://127.0.0.1:8002"
    #: the bearer token for API calls (``export DOCUVAULT_TOKEN=$(docuvault token create …)``)
    token: SecretStr | None = None
    #: only ``token create`` needs it: it signs tokens locally, like the services verify them
    secret_key: SecretStr | None = None
    #: the operator commands (``dlq …``) talk to RabbitMQ directly
    amqp_url: SecretStr = SecretStr("amqp://guest:guest@127.0.0.1:5672/")
    #: where the queues are defined (``infra/rabbitmq/topology.json`` of the checkout)
    topology_file: Path = Field(default_factory=_find_topology)
    publish_timeout_s: float = Field(default=10.0, gt=0)


def load() -> CliSettings:
    return CliSettings(_env_file=os.environ.get("DOCUVAULT_ENV_FILE", ".env") or None)

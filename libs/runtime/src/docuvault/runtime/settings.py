"""Settings: environment variables with the prefix ``DOCUVAULT_`` (and a ``.env`` file), read once.

A missing or invalid setting stops the process at start with one line naming it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Literal, NoReturn, TypeVar

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from docuvault.runtime.auth import Keyring

PREFIX = "DOCUVAULT_"
#: environments where a weak secret is tolerated (a developer's machine, the tests)
LENIENT_ENVS = ("dev", "test")
#: outside those, a secret must be at least this long …
STRONG_SECRET_CHARS = 32
#: … use at least this many distinct characters …
STRONG_SECRET_DISTINCT = 12
#: … and not be one of these (examples from docs, compose and tests, common placeholders)
WELL_KNOWN_SECRETS = frozenset(
    s.lower()
    for s in (
        "change-me",
        "changeme",
        "change-me-to-a-long-random-string",
        "secret",
        "docuvault",
        "password",
        "a-test-secret-that-is-long-enough",
        "a-secret-of-sixteen-chars-or-more",
        "0123456789abcdef0123456789abcdef",
        "your-secret-key",
        "replace-me",
    )
)


def secret_problem(secret: str) -> str | None:
    """Why ``secret`` is too weak for an installation outside dev/test, or None."""
    if secret.strip().lower() in WELL_KNOWN_SECRETS or "change-me" in secret.lower():
        return "is a well-known example value: generate one (e.g. `openssl rand -base64 48`)"
    if len(secret) < STRONG_SECRET_CHARS:
        return f"is shorter than {STRONG_SECRET_CHARS} characters"
    if len(set(secret)) < STRONG_SECRET_DISTINCT:
        return "is not random enough (too few distinct characters)"
    return None


def _split(value: SecretStr | None) -> list[str]:
    if value is None:
        return []
    return [s.strip() for s in value.get_secret_value().split(",") if s.strip()]


def _find_topology() -> Path:
    """``infra/rabbitmq/topology.json`` of the checkout (or image) this code runs from."""
    for base in (Path.cwd(), *Path(__file__).resolve().parents):
        candidate = base / "infra" / "rabbitmq" / "topology.json"
        if candidate.is_file():
            return candidate
    return Path("infra/rabbitmq/topology.json")


class CommonSettings(BaseSettings):
    """What every service reads. Each service extends it with its own fields."""

    model_config = SettingsConfigDict(env_prefix=PREFIX, extra="ignore", env_file=".env")

    env: Literal["dev", "test", "prod"] = "dev"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    amqp_url: SecretStr = SecretStr("amqp://guest:guest@127.0.0.1:5672/")
    s3_endpoint: str = "http://127.0.0.1:8333"
    s3_bucket: str = Field(default="docuvault", min_length=3, max_length=63)
    s3_access_key: SecretStr
    s3_secret_key: SecretStr
    s3_region: str = "us-east-1"
    #: the current secret: signs new tokens, seals new objects (keyring: ``keyring()``)
    secret_key: SecretStr = Field(min_length=16)
    #: earlier secrets, comma-separated: their tokens stay valid until they expire, their
    #: objects stay readable (rotation: move the old DOCUVAULT_SECRET_KEY here)
    previous_secret_keys: SecretStr | None = None
    #: secrets no token may use any more; objects sealed with them stay readable
    retired_secret_keys: SecretStr | None = None
    #: encrypt every object before it reaches the object store (AES-256-GCM, see crypto.py)
    encrypt_at_rest: bool = True
    topology_file: Path = Field(default_factory=_find_topology)
    publish_timeout_s: float = Field(default=10.0, gt=0)
    prefetch: int = Field(default=16, ge=1, le=1000)
    host: str = "127.0.0.1"

    @field_validator("secret_key", "previous_secret_keys", "retired_secret_keys")
    @classmethod
    def _strong_outside_dev(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        """Outside dev/test a missing, short or well-known secret stops the service."""
        if info.data.get("env", "dev") in LENIENT_ENVS:
            return value
        for secret in _split(value):
            problem = secret_problem(secret)
            if problem is not None:
                raise ValueError(f"{problem} (DOCUVAULT_ENV={info.data.get('env')})")
        return value

    def keyring(self) -> Keyring:
        return Keyring(
            self.secret_key.get_secret_value(),
            previous=_split(self.previous_secret_keys),
            retired=_split(self.retired_secret_keys),
        )


class ServiceSettings(CommonSettings):
    """A service that also owns a PostgreSQL database (and serves an HTTP API)."""

    #: requests one token may make per second, on average …
    rate_limit_per_s: float = Field(default=100.0, gt=0)
    #: … and at once (the bucket's size); beyond: 429 with Retry-After
    rate_limit_burst: int = Field(default=400, ge=1)
    #: requests with a bad token one client address may make per second (guessing tokens)
    auth_failures_per_s: float = Field(default=5.0, gt=0)
    #: a request's headers, all together (beyond: 431)
    max_header_bytes: int = Field(default=16 * 1024, ge=1024)
    #: a JSON request body (uploads have their own limits; beyond: 413)
    max_body_bytes: int = Field(default=1 << 20, ge=1024)

    database_url: SecretStr
    #: DDL rights; used by ``migrate``. Defaults to ``database_url``.
    migration_database_url: SecretStr | None = None

    def migration_dsn(self) -> str:
        return (self.migration_database_url or self.database_url).get_secret_value()


SettingsT = TypeVar("SettingsT", bound=BaseSettings)


def describe_error(exc: ValidationError, prefix: str = PREFIX) -> str:
    """One line naming the first bad setting, e.g. ``setting DOCUVAULT_S3_BUCKET is missing``."""
    err = exc.errors()[0]
    name = prefix + "_".join(str(p) for p in err["loc"]).upper()
    if err["type"] == "missing":
        return f"setting {name} is missing: set it in the environment or in .env"
    return f"setting {name} is invalid: {err['msg'].removeprefix('Value error, ')}"


def load_settings(cls: type[SettingsT], *, program: str) -> SettingsT:
    """Read the settings or stop the process with one clear line (exit status 2)."""
    env_file = os.environ.get(PREFIX + "ENV_FILE", ".env")
    try:
        return cls(_env_file=env_file or None)
    except ValidationError as exc:
        _die(f"{program}: {describe_error(exc)}")


def _die(line: str) -> NoReturn:
    print(line, file=sys.stderr)
    raise SystemExit(2)

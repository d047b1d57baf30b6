"""Where a local stack lives: ports, vhost, databases, bucket, run directory and secrets.

``make up`` uses the fixed ports of DESIGN §5 and the repository's ``.run``; the tests use
``StackConfig.isolated`` — their own ports, vhost, databases, bucket and run directory — so a
developer's running stack and the tests never touch each other.
"""

from __future__ import annotations

import json
import secrets
import socket
import urllib.parse
from dataclasses import asdict, dataclass, field
from pathlib import Path

from dotenv import dotenv_values

REPO = Path(__file__).resolve().parents[5]
SERVICES = ("ingest", "extractor", "classifier", "catalog")
DATABASE_SERVICES = ("ingest", "catalog")


def amqp_password_key(service: str) -> str:
    """The env-file entry holding the password of the service's RabbitMQ user."""
    return f"RABBITMQ_{service.upper()}_PASSWORD"


@dataclass(frozen=True)
class Ports:
    ingest: int = 8001
    catalog: int = 8002
    extractor: int = 8003
    classifier: int = 8004
    s3: int = 8333
    s3_master: int = 9333
    s3_volume: int = 9340
    s3_filer: int = 8888

    def of(self, service: str) -> int:
        port: int = getattr(self, service)
        return port


@dataclass(frozen=True)
class StackConfig:
    run_dir: Path
    env_file: Path
    ports: Ports = field(default_factory=Ports)
    vhost: str = "/"
    database_prefix: str = "docuvault"
    bucket: str = "docuvault"
    amqp_host: str = "127.0.0.1:5672"
    amqp_user: str = "guest"
    amqp_password: str = "guest"  # noqa: S105 - the local broker's stock account
    postgres_host: str = "127.0.0.1:5432"
    postgres_superuser: str = "postgres"
    #: the broker's Erlang node name when it is not the machine's default node (fault suite)
    rabbit_node: str | None = None
    #: extra DOCUVAULT_* settings for every service (tests tune limits with it)
    extra_env: dict[str, str] = field(default_factory=dict)

    @classmethod
    def default(cls) -> StackConfig:
        return cls(run_dir=REPO / ".run", env_file=REPO / ".env")

    @classmethod
    def isolated(cls, run_dir: Path, **extra_env: str) -> StackConfig:
        tag = secrets.token_hex(4)
        return cls(
            run_dir=run_dir,
            env_file=run_dir / ".env",
            ports=Ports(*free_port_pairs(8)),
            vhost=f"docuvault-test-{tag}",
            database_prefix=f"docuvault_test_{tag}",
            bucket="docuvault-test",
            extra_env=extra_env,
        )

    @property
    def amqp_url(self) -> str:
        """The operator's URL (the broker's admin account): tests, the fault harness, the CLI."""
        vhost = urllib.parse.quote(self.vhost, safe="")
        return f"amqp://{self.amqp_user}:{self.amqp_password}@{self.amqp_host}/{vhost}"

    def amqp_service_user(self, service: str) -> str:
        """The service's own RabbitMQ user (users are per broker: named after the stack)."""
        prefix = "docuvault" if self.vhost == "/" else self.vhost
        return f"{prefix}-{service}"

    def amqp_service_url(self, service: str) -> str:
        """What the service connects with: its own user, its own permissions (least privilege)."""
        vhost = urllib.parse.quote(self.vhost, safe="")
        user = urllib.parse.quote(self.amqp_service_user(service), safe="")
        password = urllib.parse.quote(self.secrets()[amqp_password_key(service)], safe="")
        return f"amqp://{user}:{password}@{self.amqp_host}/{vhost}"

    def database(self, service: str) -> str:
        return f"{self.database_prefix}_{service}"

    def database_url(self, service: str, role: str) -> str:
        user = f"docuvault_{service}_{role}"
        return f"postgresql://{user}@{self.postgres_host}/{self.database(service)}"

    @property
    def superuser_url(self) -> str:
        return f"postgresql://{self.postgres_superuser}@{self.postgres_host}/postgres"

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports.of(service)}"

    def secrets(self) -> dict[str, str]:
        """The installation's secrets, from its env file; created on first use."""
        wanted = (
            "DOCUVAULT_SECRET_KEY",
            "DOCUVAULT_S3_ACCESS_KEY",
            "DOCUVAULT_S3_SECRET_KEY",
            *(amqp_password_key(s) for s in SERVICES),
        )
        values = {k: v for k, v in dotenv_values(self.env_file).items() if v is not None}
        missing = [k for k in wanted if not values.get(k)]
        if missing:
            fresh = {
                "DOCUVAULT_SECRET_KEY": secrets.token_urlsafe(48),
                "DOCUVAULT_S3_ACCESS_KEY": "docuvault" + secrets.token_hex(6),
                "DOCUVAULT_S3_SECRET_KEY": secrets.token_urlsafe(30),
                **{amqp_password_key(s): secrets.token_urlsafe(24) for s in SERVICES},
            }
            self.env_file.parent.mkdir(parents=True, exist_ok=True)
            with self.env_file.open("a") as out:
                if not self.env_file.stat().st_size:
                    out.write("# DocuVault local settings (created by `make up`; keep private)\n")
                for key in missing:
                    out.write(f"{key}={fresh[key]}\n")
                    values[key] = fresh[key]
            self.env_file.chmod(0o600)
        return values

    def service_env(self, service: str) -> dict[str, str]:
        """The DOCUVAULT_* settings a service process of this stack is started with."""
        values = self.secrets()
        env = {
            "DOCUVAULT_ENV_FILE": str(self.env_file),
            "DOCUVAULT_AMQP_URL": self.amqp_service_url(service),
            "DOCUVAULT_S3_ENDPOINT": f"http://127.0.0.1:{self.ports.s3}",
            "DOCUVAULT_S3_BUCKET": self.bucket,
            "DOCUVAULT_TOPOLOGY_FILE": str(REPO / "infra" / "rabbitmq" / "topology.json"),
            f"DOCUVAULT_{service.upper()}_PORT": str(self.ports.of(service)),
        }
        env.update({k: v for k, v in values.items() if k.startswith("DOCUVAULT_")})
        if service in DATABASE_SERVICES:
            env["DOCUVAULT_DATABASE_URL"] = self.database_url(service, "app")
            env["DOCUVAULT_MIGRATION_DATABASE_URL"] = self.database_url(service, "migrator")
        env.update(self.extra_env)
        return env

    def save(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        data = asdict(self)
        data["run_dir"] = str(self.run_dir)
        data["env_file"] = str(self.env_file)
        (self.run_dir / "stack.json").write_text(json.dumps(data, indent=2) + "\n")


def _free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port_pairs(count: int) -> list[int]:
    """Free ports p whose p + 10000 is free too (SeaweedFS puts gRPC there)."""
    found: list[int] = []
    while len(found) < count:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port < 55000 and port not in found and _free(port + 10000):
            found.append(port)
    return found

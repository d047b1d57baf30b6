"""The RabbitMQ topology, read from the one definitions source ``infra/rabbitmq/topology.json``.

From it come both the RabbitMQ definitions that ``make up`` imports (queues, bindings and the
policies that set dead-lettering, delivery limits and overflow) and the queues a service declares
for itself at start. Only ``x-queue-type`` is a queue argument; everything else is a policy, so it
can change without re-creating queues.

Least privilege: each service connects as a user of its own whose permissions
(``permissions(service)``) reach only its own queues (work, retry, dead-letter), the exchange,
and the history stream it binds (read only for ``history_readers``).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

WORK_POLICY_PRIORITY = 10


class HistorySpec(BaseModel):
    queue: str = "docuvault.history"
    max_age: str | None = Field(default=None, description="e.g. 365D; null keeps everything")
    max_length_bytes: int | None = None


class ConsumerDefaults(BaseModel):
    delivery_limit: int = Field(default=5, ge=1)
    max_length: int = Field(default=1_000_000, ge=1)
    dlq_max_length: int = Field(default=1_000_000, ge=1)
    retry_delays_s: list[float] = Field(default_factory=lambda: [1.0, 10.0, 60.0])


class QueueSpec(BaseModel):
    name: str = Field(pattern=r"^[a-z]+\.[a-z0-9_]+$")
    service: str
    bindings: list[str]

    @property
    def dlq(self) -> str:
        return f"{self.name}.dlq"

    def retry_queue(self, tier: int) -> str:
        """Wait queue of retry tier ``tier`` (1-based)."""
        return f"{self.name}.retry.{tier}"


#: the exchange a publish to "" (straight to a queue: retry tiers, dead letters) is checked on
DEFAULT_EXCHANGE = "amq.default"


def _alternatives(names: list[str]) -> str:
    """A regex (Erlang re) matching exactly these resource names."""
    return "^(" + "|".join(re.escape(n) for n in dict.fromkeys(names)) + ")$"


class Topology(BaseModel):
    exchange: str = "docuvault.events"
    history: HistorySpec = Field(default_factory=HistorySpec)
    consumer_defaults: ConsumerDefaults = Field(default_factory=ConsumerDefaults)
    queues: list[QueueSpec]
    #: services that may consume the history stream (the catalog's rebuild replays it)
    history_readers: list[str] = Field(default_factory=lambda: ["catalog"])

    @classmethod
    def load(cls, path: Path) -> Topology:
        return cls.model_validate(json.loads(path.read_text()))

    def queue(self, name: str) -> QueueSpec:
        for spec in self.queues:
            if spec.name == name:
                return spec
        raise KeyError(f"queue {name!r} is not in the topology")

    def queues_of(self, service: str) -> list[QueueSpec]:
        return [q for q in self.queues if q.service == service]

    @property
    def retry_delays_s(self) -> list[float]:
        return self.consumer_defaults.retry_delays_s

    @property
    def services(self) -> list[str]:
        return list(dict.fromkeys(q.service for q in self.queues))

    def queue_names_of(self, service: str) -> list[str]:
        """The service's own queues: work, retry tiers and dead letters."""
        names: list[str] = []
        for spec in self.queues_of(service):
            names.append(spec.name)
            names += [spec.retry_queue(t) for t in range(1, len(self.retry_delays_s) + 1)]
            names.append(spec.dlq)
        return names

    def permissions(self, service: str) -> dict[str, str]:
        """RabbitMQ permissions (configure, write, read regexes) of the service's own user.

        configure: declare its queues, the exchange and the history (idempotently, at start);
        write: publish to the exchange and, through the default exchange, to its retry and
        dead-letter queues; bind its queues and the history; read: consume its queues, bind
        from the exchange (and replay the history, for ``history_readers``).
        """
        own = self.queue_names_of(service)
        shared = [self.exchange, self.history.queue]
        read = [self.exchange, *own]
        if service in self.history_readers:
            read.append(self.history.queue)
        return {
            "configure": _alternatives([*shared, *own]),
            "write": _alternatives([*shared, DEFAULT_EXCHANGE, *own]),
            "read": _alternatives(read),
        }

    def queue_names(self) -> list[str]:
        """Every queue of the topology: work, retry and dead-letter queues and the history."""
        names = [self.history.queue]
        for spec in self.queues:
            names.append(spec.name)
            names += [spec.retry_queue(t) for t in range(1, len(self.retry_delays_s) + 1)]
            names.append(spec.dlq)
        return names

    def policies(self, vhost: str) -> list[dict[str, Any]]:
        d = self.consumer_defaults
        out: list[dict[str, Any]] = []

        def policy(name: str, queue: str, definition: dict[str, Any]) -> None:
            out.append(
                {
                    "vhost": vhost,
                    "name": name,
                    "pattern": f"^{re.escape(queue)}$",
                    "apply-to": "queues",
                    "priority": WORK_POLICY_PRIORITY,
                    "definition": definition,
                }
            )

        for spec in self.queues:
            policy(
                f"docuvault-work-{spec.name}",
                spec.name,
                {
                    "dead-letter-exchange": "",
                    "dead-letter-routing-key": spec.dlq,
                    "dead-letter-strategy": "at-least-once",
                    "overflow": "reject-publish",
                    "max-length": d.max_length,
                    "delivery-limit": d.delivery_limit,
                },
            )
            for tier, delay in enumerate(self.retry_delays_s, start=1):
                policy(
                    f"docuvault-retry-{spec.name}-{tier}",
                    spec.retry_queue(tier),
                    {
                        "message-ttl": int(delay * 1000),
                        "dead-letter-exchange": "",
                        "dead-letter-routing-key": spec.name,
                        "dead-letter-strategy": "at-least-once",
                        "overflow": "reject-publish",
                        "max-length": d.max_length,
                    },
                )
            policy(
                f"docuvault-dlq-{spec.name}",
                spec.dlq,
                {"overflow": "reject-publish", "max-length": d.dlq_max_length},
            )
        retention = {
            k: v
            for k, v in {
                "max-age": self.history.max_age,
                "max-length-bytes": self.history.max_length_bytes,
            }.items()
            if v is not None
        }
        if retention:
            policy("docuvault-history", self.history.queue, retention)
        return out

    def render_permissions(self, vhost: str, users: dict[str, str]) -> list[dict[str, Any]]:
        """Definitions' ``permissions`` of each service's user (``users``: service → user)."""
        return [
            {"user": users[service], "vhost": vhost, **self.permissions(service)}
            for service in self.services
            if service in users
        ]

    def render_definitions(self, vhost: str = "/") -> dict[str, Any]:
        """RabbitMQ definitions (``rabbitmqctl import_definitions``, compose's load_definitions)."""

        def queue(name: str, kind: str) -> dict[str, Any]:
            return {
                "name": name,
                "vhost": vhost,
                "durable": True,
                "auto_delete": False,
                "arguments": {"x-queue-type": kind},
            }

        def binding(queue_name: str, key: str) -> dict[str, Any]:
            return {
                "source": self.exchange,
                "vhost": vhost,
                "destination": queue_name,
                "destination_type": "queue",
                "routing_key": key,
                "arguments": {},
            }

        queues = [queue(self.history.queue, "stream")]
        queues += [queue(n, "quorum") for n in self.queue_names() if n != self.history.queue]
        bindings = [binding(self.history.queue, "#")]
        bindings += [binding(spec.name, key) for spec in self.queues for key in spec.bindings]
        return {
            "vhosts": [{"name": vhost}],
            "exchanges": [
                {
                    "name": self.exchange,
                    "vhost": vhost,
                    "type": "topic",
                    "durable": True,
                    "auto_delete": False,
                    "internal": False,
                    "arguments": {},
                }
            ],
            "queues": queues,
            "bindings": bindings,
            "policies": self.policies(vhost),
        }

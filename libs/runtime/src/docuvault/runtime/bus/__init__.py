"""The RabbitMQ bus: topology, confirmed publishing and consuming with retries and a DLQ."""

from docuvault.runtime.bus.broker import Broker, PublishFailed
from docuvault.runtime.bus.consumer import Consumer, Handler, Publish, Subscriptions
from docuvault.runtime.bus.topology import QueueSpec, Topology

__all__ = [
    "Broker",
    "Consumer",
    "Handler",
    "Publish",
    "PublishFailed",
    "QueueSpec",
    "Subscriptions",
    "Topology",
]

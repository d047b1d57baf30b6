"""The Prometheus metrics every service exposes."""

from prometheus_client import Counter, Histogram

events_consumed = Counter(
    "docuvault_events_consumed_total",
    "Events taken from a queue, by outcome (ok, retry, dead_letter, malformed)",
    ["queue", "type", "outcome"],
)
event_handling_seconds = Histogram(
    "docuvault_event_handling_seconds", "Time spent handling one event", ["queue", "type"]
)
events_published = Counter(
    "docuvault_events_published_total", "Events confirmed by the broker", ["type"]
)
publish_failures = Counter(
    "docuvault_publish_failures_total", "Publishes refused, returned or timed out", ["type"]
)
outbox_backlog = Histogram(
    "docuvault_outbox_relay_batch_size",
    "Events relayed per outbox batch",
    buckets=(1, 2, 5, 10, 20, 50, 100, 200),
)

import json

from docuvault.devstack.definitions import render
from docuvault.devstack.infra import TOPOLOGY
from docuvault.runtime.bus.topology import Topology


def test_committed_definitions_match_the_topology_source() -> None:
    committed = (TOPOLOGY.parent / "definitions.json").read_text()
    assert committed == render(), "run `make topology` after editing topology.json"


def test_queues_carry_only_their_type_as_argument() -> None:
    definitions = Topology.load(TOPOLOGY).render_definitions("v")
    for queue in definitions["queues"]:
        assert set(queue["arguments"]) == {"x-queue-type"}
        expected = "stream" if queue["name"] == "docuvault.history" else "quorum"
        assert queue["arguments"]["x-queue-type"] == expected


def test_every_work_queue_dead_letters_by_policy() -> None:
    topology = Topology.load(TOPOLOGY)
    policies = {p["name"]: p for p in topology.policies("v")}
    for spec in topology.queues:
        work = policies[f"docuvault-work-{spec.name}"]["definition"]
        assert work["dead-letter-routing-key"] == spec.dlq
        assert work["dead-letter-strategy"] == "at-least-once"
        assert work["overflow"] == "reject-publish"
        assert work["delivery-limit"] >= 1
        for tier, delay in enumerate(topology.retry_delays_s, start=1):
            retry = policies[f"docuvault-retry-{spec.name}-{tier}"]["definition"]
            assert retry["message-ttl"] == int(delay * 1000)
            assert retry["dead-letter-routing-key"] == spec.name


def test_history_stream_is_bound_to_everything() -> None:
    definitions = Topology.load(TOPOLOGY).render_definitions("v")
    history = [b for b in definitions["bindings"] if b["destination"] == "docuvault.history"]
    assert [b["routing_key"] for b in history] == ["#"]
    assert json.dumps(definitions)  # serialisable as RabbitMQ expects


def test_each_queue_binding_is_a_known_event() -> None:
    from docuvault.contracts import BY_NAME

    for spec in Topology.load(TOPOLOGY).queues:
        assert set(spec.bindings) <= set(BY_NAME), spec.name

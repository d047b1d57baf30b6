"""`make up` semantics on a stack of the test's own: idempotent, and `down` leaves nothing."""

import json
import subprocess
import tempfile
from pathlib import Path

import httpx

from docuvault.devstack import infra
from docuvault.devstack.config import SERVICES, StackConfig
from docuvault.devstack.stack import Stack
from docuvault.runtime.bus.topology import Topology


def _our_processes(run_dir: Path) -> list[str]:
    """Command lines of processes started for this run directory (by pid file or cwd)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if Path(proc, "cwd").resolve() == run_dir.resolve():
                found.append(Path(proc, "cmdline").read_bytes().replace(b"\0", b" ").decode())
        except OSError:
            continue
    return found


def test_up_is_idempotent_and_down_stops_everything() -> None:
    run_dir = Path(tempfile.mkdtemp(prefix="docuvault-lifecycle-"))
    config = StackConfig.isolated(run_dir, DOCUVAULT_ENV="test")
    stack = Stack(config)
    try:
        assert stack.up(say=False) == ["s3", *SERVICES]
        pids = {name: pid for name, pid, _ in stack.ps()}
        assert all(pids.values())
        for name in ("s3", *SERVICES):
            assert (run_dir / f"{name}.pid").read_text().strip() == str(pids[name])
            assert (run_dir / "logs" / f"{name}.log").exists()
        assert stack.up(say=False) == []  # a second up changes nothing
        assert {name: pid for name, pid, _ in stack.ps()} == pids
        # a process killed from outside is started again by the next up
        stack.tracked("classifier").kill()
        assert stack.up(say=False) == ["classifier"]
        for service in SERVICES:
            assert httpx.get(f"{config.url(service)}/readyz").status_code == 200
    finally:
        stopped = stack.down()
        infra.delete_vhost(config)
        infra.drop_databases(config)
    # SIGTERM is enough: every service shuts down gracefully, none needs SIGKILL
    assert stopped == dict.fromkeys(("s3", *SERVICES), "stopped")
    for service in SERVICES:
        log = (run_dir / "logs" / f"{service}.log").read_text()
        assert "Application shutdown complete" in log, service
    assert [state for _, _, state in stack.ps()] == ["stopped"] * (1 + len(SERVICES))
    assert _our_processes(run_dir) == []
    assert not list(run_dir.glob("*.pid"))


def test_topology_exists_before_anything_publishes(stack: Stack) -> None:
    vhost = stack.config.vhost
    listed = subprocess.run(
        ["rabbitmqctl", "-q", "list_queues", "-p", vhost, "name", "type", "--no-table-headers"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    queues = dict(line.split() for line in listed.splitlines() if line.strip())
    topology = Topology.load(infra.TOPOLOGY)
    assert queues["docuvault.history"] == "stream"
    for spec in topology.queues:
        assert queues[spec.name] == "quorum"
        assert queues[spec.dlq] == "quorum"
        for tier in range(1, len(topology.retry_delays_s) + 1):
            assert queues[spec.retry_queue(tier)] == "quorum"
    policies = subprocess.run(
        ["rabbitmqctl", "-q", "list_policies", "-p", vhost, "--formatter", "json"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    definitions = {
        p["name"]: p["definition"]
        if isinstance(p["definition"], dict)
        else json.loads(p["definition"])
        for p in json.loads(policies)
    }
    for spec in topology.queues:
        work = definitions[f"docuvault-work-{spec.name}"]
        assert work["dead-letter-exchange"] == ""
        assert work["dead-letter-routing-key"] == spec.dlq
        assert work["delivery-limit"] == topology.consumer_defaults.delivery_limit
        assert work["overflow"] == "reject-publish"
        retry = definitions[f"docuvault-retry-{spec.name}-1"]
        assert retry["dead-letter-routing-key"] == spec.name

"""compose.yaml cannot run here (no Docker engine): check it against the Compose specification
and against the code — every service, file, port and setting it names must exist."""

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pydantic_settings import BaseSettings
from ruamel.yaml import YAML

from docuvault.catalog.config import CatalogSettings
from docuvault.classifier.config import ClassifierSettings
from docuvault.devstack.config import REPO
from docuvault.extractor.config import ExtractorSettings
from docuvault.ingest.config import IngestSettings

COMPOSE = REPO / "compose.yaml"
SETTINGS: dict[str, type[BaseSettings]] = {
    "ingest": IngestSettings,
    "catalog": CatalogSettings,
    "extractor": ExtractorSettings,
    "classifier": ClassifierSettings,
    "ingest-migrate": IngestSettings,
    "catalog-migrate": CatalogSettings,
}
PORTS = {"ingest": 8001, "catalog": 8002, "extractor": 8003, "classifier": 8004}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = YAML(typ="safe").load(COMPOSE.read_text())
    return loaded


def test_compose_follows_the_compose_specification() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "check_jsonschema",
            "--builtin-schema",
            "vendor.compose-spec",
            str(COMPOSE),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_four_services_are_built_from_their_dockerfiles(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in PORTS:
        build = services[name]["build"]
        dockerfile = REPO / build["context"] / build["dockerfile"]
        assert dockerfile.is_file(), dockerfile
        assert f"--package docuvault-{name}" in dockerfile.read_text()
        assert f'"docuvault.{name}"' in dockerfile.read_text()


def test_every_setting_named_exists(compose: dict[str, Any]) -> None:
    for name, settings in SETTINGS.items():
        env = compose["services"][name]["environment"]
        fields = {f"DOCUVAULT_{f.upper()}" for f in settings.model_fields}
        unknown = {k for k in env if k.startswith("DOCUVAULT_")} - fields
        assert not unknown, f"{name}: {unknown}"


def test_ports_match_the_service_settings(compose: dict[str, Any]) -> None:
    for name, port in PORTS.items():
        service = compose["services"][name]
        assert service["environment"][f"DOCUVAULT_{name.upper()}_PORT"] == str(port)
        assert service["ports"] == [f"127.0.0.1:{port}:{port}"]
        assert f"127.0.0.1:{port}/readyz" in " ".join(service["healthcheck"]["test"])
        default = SETTINGS[name].model_fields[f"{name}_port"].default
        assert default == port


def test_dependencies_and_mounted_files_exist(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name, service in services.items():
        for dependency in service.get("depends_on", {}):
            assert dependency in services, f"{name} depends on unknown {dependency}"
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (REPO / source).exists(), f"{name} mounts missing {source}"
            else:
                assert source in compose["volumes"], f"{name} uses undeclared volume {source}"


def test_every_secret_has_an_example(compose: dict[str, Any]) -> None:
    import re

    required = set(re.findall(r"\$\{([A-Z_]+):\?", COMPOSE.read_text()))
    example = Path(REPO / "infra" / "compose.env.example").read_text()
    named = set(re.findall(r"^([A-Z_]+)=", example, flags=re.M))
    assert required <= named, required - named


#: the settings DESIGN §6 names (a public contract: they may be added to, never removed)
DESIGN_SETTINGS = (
    "AMQP_URL",
    "DATABASE_URL",
    "S3_ENDPOINT",
    "S3_BUCKET",
    "S3_ACCESS_KEY",
    "S3_SECRET_KEY",
    "S3_REGION",
    "SECRET_KEY",
    "INGEST_PORT",
    "CATALOG_PORT",
    "EXTRACTOR_PORT",
    "CLASSIFIER_PORT",
    "CLASSIFIER_PROVIDERS",
    "CLASSIFIER_PROVIDER",
    "APPLY_THRESHOLD",
    "MAX_UPLOAD_BYTES",
    "OCR_LANGUAGES",
)


def test_design_settings_exist_in_the_code_and_the_readme() -> None:
    fields = {f.upper() for s in SETTINGS.values() for f in s.model_fields}
    readme = (REPO / "README.md").read_text()
    for name in DESIGN_SETTINGS:
        assert name in fields, name
        assert f"`DOCUVAULT_{name}`" in readme, name


def test_compose_variables_are_design_or_service_settings(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        if name not in SETTINGS:
            continue
        for variable in service["environment"]:
            if variable.startswith("DOCUVAULT_"):
                bare = variable.removeprefix("DOCUVAULT_")
                assert bare in DESIGN_SETTINGS or bare.lower() in SETTINGS[name].model_fields


# --- least privilege (issue 9) -------------------------------------------------------------------
SERVICE_NAMES = ("ingest", "extractor", "classifier", "catalog")


def test_each_service_has_its_own_rabbitmq_user(compose: dict[str, Any]) -> None:
    users = set()
    for name in SERVICE_NAMES:
        url = compose["services"][name]["environment"]["DOCUVAULT_AMQP_URL"]
        found = re.fullmatch(r"amqp://([^:]+):\$\{([A-Z_]+)\}@rabbitmq:5672/", url)
        assert found, url
        assert found.group(1) == f"docuvault-{name}"
        assert found.group(2) == f"RABBITMQ_{name.upper()}_PASSWORD"
        users.add(found.group(1))
    assert len(users) == len(SERVICE_NAMES)
    rabbit = compose["services"]["rabbitmq"]
    for name in SERVICE_NAMES:
        assert f"RABBITMQ_{name.upper()}_PASSWORD" in rabbit["environment"]
    assert rabbit["entrypoint"] == ["/bin/sh", "/etc/docuvault/entrypoint.sh"]
    assert "./infra/rabbitmq:/etc/docuvault:ro" in rabbit["volumes"]


def test_every_service_runs_as_prod(compose: dict[str, Any]) -> None:
    for name in SETTINGS:
        assert compose["services"][name]["environment"]["DOCUVAULT_ENV"] == "prod", name


def test_rendered_rabbitmq_files_match_the_topology() -> None:
    from docuvault.devstack.definitions import render, render_entrypoint

    folder = REPO / "infra" / "rabbitmq"
    assert (folder / "definitions.json").read_text() == render(), "run `make topology`"
    assert (folder / "entrypoint.sh").read_text() == render_entrypoint(), "run `make topology`"


def test_the_broker_entrypoint_creates_least_privilege_users(tmp_path: Path) -> None:
    """Run the generated entrypoint as compose would (with `true` for the broker) and read the
    definitions it writes: every service user, a salted hash of its password, permissions that
    reach only its own queues, the exchange and the history."""
    import base64
    import hashlib
    import json
    import os

    from docuvault.devstack.infra import TOPOLOGY
    from docuvault.runtime.bus.topology import Topology

    passwords = {f"RABBITMQ_{n.upper()}_PASSWORD": f"pw-{n}-x1" for n in SERVICE_NAMES}
    passwords["RABBITMQ_PASSWORD"] = "admin-pw"
    out = tmp_path / "definitions.json"
    done = subprocess.run(
        ["sh", str(REPO / "infra" / "rabbitmq" / "entrypoint.sh"), "true"],
        env={**os.environ, **passwords, "DOCUVAULT_DEFINITIONS_OUT": str(out)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    loaded = json.loads(out.read_text())
    topology = Topology.load(TOPOLOGY)
    users = {u["name"]: u for u in loaded["users"]}
    assert set(users) == {"docuvault", *(f"docuvault-{n}" for n in SERVICE_NAMES)}
    for name in SERVICE_NAMES:
        user = users[f"docuvault-{name}"]
        assert user["tags"] == []
        raw = base64.b64decode(user["password_hash"])
        expected = passwords[f"RABBITMQ_{name.upper()}_PASSWORD"].encode()
        assert hashlib.sha256(raw[:4] + expected).digest() == raw[4:]
        [granted] = [p for p in loaded["permissions"] if p["user"] == user["name"]]
        assert {k: granted[k] for k in ("configure", "write", "read")} == topology.permissions(name)
        for other in SERVICE_NAMES:
            if other != name:
                for queue in topology.queue_names_of(other):
                    assert not re.match(granted["read"], queue), (name, queue)
                    assert not re.match(granted["configure"], queue), (name, queue)
    assert {q["name"] for q in loaded["queues"]} == set(topology.queue_names())


def test_minio_user_is_scoped_to_the_bucket() -> None:
    import json

    policy = json.loads((REPO / "infra" / "minio" / "policy.json").read_text())
    resources = {r for s in policy["Statement"] for r in s["Resource"]}
    assert resources == {"arn:aws:s3:::docuvault", "arn:aws:s3:::docuvault/*"}
    actions = {a for s in policy["Statement"] for a in s["Action"]}
    assert not any(a.endswith("*") or a.startswith("admin:") for a in actions)
    assert all(s["Effect"] == "Allow" for s in policy["Statement"])

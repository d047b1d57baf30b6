"""Issue 9, audit: the trail records accesses, and the catalog's app role — the one the running
service connects with — can add to it and read it, but never DROP, ALTER, UPDATE, DELETE or
TRUNCATE it."""

import asyncio
import uuid

import asyncpg
import httpx
import pytest

from docuvault.devstack.pytest_plugin import Api
from docuvault.runtime.auth import owner_id_for

FORBIDDEN = {
    "DROP": "DROP TABLE audit_trail",
    "ALTER": "ALTER TABLE audit_trail ADD COLUMN forged text",
    "ALTER DISABLE TRIGGER": "ALTER TABLE audit_trail DISABLE TRIGGER USER",
    "UPDATE": "UPDATE audit_trail SET result = 'ok:200'",
    "DELETE": "DELETE FROM audit_trail",
    "TRUNCATE": "TRUNCATE audit_trail",
}


async def _recorded_access(api: Api) -> str:
    """Make one refused read of a text show up in the trail; returns the actor's owner id."""
    owner = f"audited-{uuid.uuid4()}"
    admin = api.auth(f"auditor-{uuid.uuid4()}", "admin")
    async with httpx.AsyncClient(timeout=30) as client:
        missing = await client.get(
            f"{api.catalog}/v1/documents/{uuid.uuid4()}/text", headers=api.auth(owner)
        )
        assert missing.status_code == 404
        owner_id = str(owner_id_for(owner))
        for _ in range(100):
            trail = await client.get(
                f"{api.catalog}/v1/audit", params={"owner_id": owner_id}, headers=admin
            )
            assert trail.status_code == 200, trail.text
            if trail.json()["items"]:
                return owner_id
            await asyncio.sleep(0.1)
    raise AssertionError("the refused read never reached the audit trail")


@pytest.mark.parametrize("statement", FORBIDDEN.values(), ids=FORBIDDEN.keys())
async def test_the_app_role_cannot_change_or_remove_the_audit_trail(
    api: Api, statement: str
) -> None:
    owner_id = await _recorded_access(api)
    app_dsn = api.stack.config.database_url("catalog", "app")
    conn = await asyncpg.connect(app_dsn)
    try:
        before = await conn.fetchval("SELECT count(*) FROM audit_trail")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute(statement)
        after = await conn.fetchval("SELECT count(*) FROM audit_trail")
        assert after >= before > 0
        kept = await conn.fetchval(
            "SELECT count(*) FROM audit_trail WHERE owner_id = $1", uuid.UUID(owner_id)
        )
        assert kept >= 1
    finally:
        await conn.close()


async def test_the_app_role_may_only_append(api: Api) -> None:
    """What the service needs — INSERT and SELECT — works with the same connection."""
    conn = await asyncpg.connect(api.stack.config.database_url("catalog", "app"))
    try:
        privileges = {
            p: await conn.fetchval("SELECT has_table_privilege('audit_trail', $1)", p)
            for p in ("INSERT", "SELECT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER")
        }
        owner = await conn.fetchval(
            "SELECT tableowner = current_user FROM pg_tables WHERE tablename = 'audit_trail'"
        )
    finally:
        await conn.close()
    assert privileges == {
        "INSERT": True,
        "SELECT": True,
        "UPDATE": False,
        "DELETE": False,
        "TRUNCATE": False,
        "REFERENCES": False,
        "TRIGGER": False,
    }
    assert owner is False


async def test_uploads_accepted_and_refused_reach_the_catalogs_trail(api: Api) -> None:
    """Ingest announces each upload's outcome (audit.recorded.v1); the catalog appends it."""
    owner = f"uploader-{uuid.uuid4()}"
    admin = api.auth(f"auditor-{uuid.uuid4()}", "admin")
    async with httpx.AsyncClient(timeout=30) as client:
        answer = await client.post(
            f"{api.ingest}/v1/documents",
            files=[("file", ("kept.txt", b"an accepted file")), ("file", ("empty.txt", b""))],
            headers=api.auth(owner),
        )
        assert answer.status_code == 202, answer.text
        document_id = answer.json()["documents"][0]["document_id"]
        wanted = {
            ("document.upload", f"document:{document_id}", "accepted"),
            ("document.upload", "file:empty.txt", "refused:400"),
        }
        seen: set[tuple[str, str, str]] = set()
        for _ in range(100):
            trail = await client.get(
                f"{api.catalog}/v1/audit",
                params={"owner_id": str(owner_id_for(owner)), "action": "document.upload"},
                headers=admin,
            )
            assert trail.status_code == 200, trail.text
            seen = {(e["action"], e["target"], e["result"]) for e in trail.json()["items"]}
            if wanted <= seen:
                break
            await asyncio.sleep(0.1)
    assert wanted <= seen
    entry = trail.json()["items"][0]
    assert entry["remote_address"] == "127.0.0.1"
    assert entry["actor"]["jti"]

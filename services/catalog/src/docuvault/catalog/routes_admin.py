"""``/v1/tokens/revoke`` and ``/v1/audit``: the installation operator's routes (scope ``admin``).

``admin`` is the operator's scope (whoever holds the secret makes tokens): these routes are not
scoped to an owner. Revoking announces ``auth.token_revoked.v1`` through the outbox; ingest and
every catalog process refuse the token within seconds, and after any restart.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field, model_validator

from docuvault.catalog.adapters.audit import AuditQuery, BadCursor
from docuvault.catalog.audit import SOURCE, mark_recorded
from docuvault.catalog.deps import CatalogDep
from docuvault.contracts.events import TokenRevoked
from docuvault.runtime.audit import audit_event, remote_of
from docuvault.runtime.auth import MAX_TTL, InvalidToken, TokenVerifier, owner_id_for
from docuvault.runtime.events import fresh
from docuvault.runtime.problems import Problem
from docuvault.runtime.security import AdminDep

router = APIRouter(tags=["administration"])
JTI = r"^[\x21-\x7e]{1,200}$"


class RevokeIn(BaseModel):
    """Exactly one of ``token`` (the whole token) or ``jti`` (its id)."""

    token: str | None = Field(default=None, min_length=10, max_length=8192)
    jti: str | None = Field(default=None, pattern=JTI)

    @model_validator(mode="after")
    def _one(self) -> RevokeIn:
        if (self.token is None) == (self.jti is None):
            raise ValueError("send exactly one of 'token' or 'jti'")
        return self


class Revoked(BaseModel):
    jti: str
    owner_id: uuid.UUID | None = Field(description="whose token it was, when known")
    expires_at: datetime = Field(description="refused until then (then it expires anyway)")
    already_revoked: bool


class AuditActorOut(BaseModel):
    owner_id: uuid.UUID | None
    jti: str | None


class AuditEntry(BaseModel):
    event_id: uuid.UUID
    time: datetime
    actor: AuditActorOut
    action: str
    target: str | None
    remote_address: str | None
    result: str


class AuditPageOut(BaseModel):
    items: list[AuditEntry]
    next_cursor: str | None


@router.post(
    "/v1/tokens/revoke",
    response_model=Revoked,
    summary="Revoke a token: ingest and the catalog refuse it from now on",
    responses={422: {"description": "not a token of this installation, or a malformed body"}},
)
async def revoke_token(
    body: RevokeIn, request: Request, principal: AdminDep, catalog: CatalogDep
) -> Revoked:
    if body.token is not None:
        verifier: TokenVerifier = request.app.state.token_verifier
        try:
            facts = verifier.facts(body.token)
        except InvalidToken as exc:
            raise Problem(422, f"cannot revoke it: {exc}") from exc
        jti, owner, expires_at = facts.jti, facts.owner_id, facts.expires_at
    else:
        assert body.jti is not None
        jti = body.jti
        owner = await catalog.revocations.owner_of(jti)
        # its expiry is unknown: refused for as long as any token may live
        expires_at = datetime.now(UTC) + MAX_TTL
    revoked = fresh(TokenRevoked(jti=jti, owner_id=owner, expires_at=expires_at), source="catalog")
    entry = audit_event(
        principal, "token.revoke", f"token:{jti}", remote_of(request), "ok:200", source=SOURCE
    )
    new = await catalog.revocations.revoke(jti, owner, expires_at, [revoked, entry])
    catalog.deny_list.add(jti, expires_at)  # this process refuses it at once
    mark_recorded(request)
    return Revoked(jti=jti, owner_id=owner, expires_at=expires_at, already_revoked=not new)


@router.get(
    "/v1/audit",
    response_model=AuditPageOut,
    summary="The audit trail, newest first: who did what, when, from where, with what result",
)
async def list_audit(
    principal: AdminDep,
    catalog: CatalogDep,
    owner_id: Annotated[uuid.UUID | None, Query(description="the actor's owner id")] = None,
    owner: Annotated[
        str | None, Query(max_length=200, description="the actor's owner name")
    ] = None,
    jti: Annotated[str | None, Query(pattern=JTI, description="the actor's token")] = None,
    action: Annotated[str | None, Query(max_length=100, description="e.g. document.upload")] = None,
    target: Annotated[str | None, Query(max_length=300, description="e.g. document:<id>")] = None,
    result: Annotated[
        str | None, Query(max_length=50, description="e.g. refused, or refused:404")
    ] = None,
    since: Annotated[datetime | None, Query(description="from this time on (ISO 8601)")] = None,
    until: Annotated[datetime | None, Query(description="before this time (ISO 8601)")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> AuditPageOut:
    if owner_id is not None and owner is not None and owner_id != owner_id_for(owner):
        raise Problem(422, "owner and owner_id name different owners")
    query = AuditQuery(
        owner_id=owner_id or (owner_id_for(owner) if owner is not None else None),
        jti=jti,
        action=action,
        target=target,
        result=result,
        since=since,
        until=until,
        limit=limit,
        cursor=cursor,
    )
    try:
        page = await catalog.audit.query(query)
    except BadCursor as exc:
        raise Problem(422, str(exc)) from exc
    return AuditPageOut(items=[_entry(r) for r in page.items], next_cursor=page.next_cursor)


def _entry(row: dict[str, Any]) -> AuditEntry:
    return AuditEntry(
        event_id=row["event_id"],
        time=row["time"],
        actor=AuditActorOut(owner_id=row["owner_id"], jti=row["jti"]),
        action=row["action"],
        target=row["target"],
        remote_address=row["remote_address"],
        result=row["result"],
    )

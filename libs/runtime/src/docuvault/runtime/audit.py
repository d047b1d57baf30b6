"""One entry of the audit trail (``audit.recorded.v1``), as every API service writes it."""

from __future__ import annotations

from datetime import UTC, datetime

from starlette.requests import Request
from starlette.types import Message, Send

from docuvault.contracts import CloudEvent
from docuvault.contracts.events import AuditActor, AuditRecorded
from docuvault.runtime.auth import Principal
from docuvault.runtime.events import fresh


def audit_event(
    principal: Principal | None,
    action: str,
    target: str | None,
    remote_address: str | None,
    result: str,
    *,
    source: str,
) -> CloudEvent[AuditRecorded]:
    return fresh(
        AuditRecorded(
            actor=AuditActor(
                owner_id=principal.owner_id if principal else None,
                jti=principal.jti if principal else None,
            ),
            action=action,
            target=target,
            remote_address=remote_address,
            result=result,
            time=datetime.now(UTC),
        ),
        source=source,
    )


def remote_of(request: Request) -> str | None:
    return request.client.host if request.client else None


class StatusWatch:
    """A ``send`` that notes the response's status on its way (500 until one is sent), for
    the audit middlewares, which record the outcome after the app has answered."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self.status = 500

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = int(message["status"])
        await self._send(message)

"""Ingest's HTTP API: ``POST /v1/documents`` (DESIGN §5)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, Query, Request
from fastapi.responses import JSONResponse

from docuvault.contracts.events import DocumentUploaded
from docuvault.ingest import bootstrap
from docuvault.ingest.adapters.ledger import Answer, KeyClaim
from docuvault.ingest.audit import UPLOAD_PATH, AuditRefusals, file_audit, record
from docuvault.ingest.config import IngestSettings
from docuvault.ingest.limits import TooBusy
from docuvault.ingest.receiver import BadRequestBody, Received, UploadReceiver
from docuvault.ingest.schemas import MULTIPART_SCHEMA, UploadAccepted, accepted_body
from docuvault.runtime import security
from docuvault.runtime.app import create_app
from docuvault.runtime.auth import Principal
from docuvault.runtime.blobstore import BlobStoreError
from docuvault.runtime.db import CommitUncertain
from docuvault.runtime.events import fresh
from docuvault.runtime.problems import PROBLEM_JSON, Problem, problem_body
from docuvault.runtime.security import WriterDep
from docuvault.runtime.tracing import current_document_id

log = logging.getLogger("docuvault.ingest")
_TRUE = {"1", "true", "yes", "on"}
#: 1 to 200 visible ASCII characters
IDEMPOTENCY_KEY = r"^[\x21-\x7e]{1,200}$"


# async: FastAPI runs a plain ``def`` dependency in a worker thread, a hop per request
async def _ingest(request: Request) -> bootstrap.Ingest:
    ingest: bootstrap.Ingest = request.app.state.ingest
    return ingest


IngestDep = Annotated[bootstrap.Ingest, Depends(_ingest)]


def create(settings: IngestSettings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with bootstrap.running(settings, deny_list) as ingest:
            app.state.ingest = ingest
            app.state.readiness_checks = ingest.checks
            yield

    app = create_app(
        title="DocuVault ingest",
        description="Upload gateway: streams files to the object store and announces them.",
        lifespan=lifespan,
    )
    # the upload route enforces its own body limits (per file, files per request)
    deny_list = security.install(app, settings, unlimited_body_paths=(UPLOAD_PATH,))
    app.add_middleware(AuditRefusals)
    app.add_api_route(
        UPLOAD_PATH,
        upload_documents,
        methods=["POST"],
        status_code=202,
        response_model=UploadAccepted,
        summary="Upload one or more files (multipart field 'file', repeatable)",
        responses={
            400: {"description": "no file, an empty file or a malformed body"},
            401: {"description": "missing or invalid token"},
            403: {"description": "the token lacks documents:write"},
            409: {"description": "a duplicate (policy reject), or the key's request is running"},
            413: {"description": "too large, or too many files"},
            415: {"description": "unsupported type"},
            422: {"description": "an Idempotency-Key reused with another body"},
            429: {
                "description": "too many uploads or requests of this owner or token (Retry-After)"
            },
            431: {"description": "request headers too large"},
            503: {"description": "object store or database unavailable"},
        },
        openapi_extra=MULTIPART_SCHEMA,
    )
    return app


async def upload_documents(
    request: Request,
    principal: WriterDep,
    ingest: IngestDep,
    content_type: Annotated[str, Header()] = "",
    idempotency_key: Annotated[
        str | None,
        Header(
            pattern=IDEMPOTENCY_KEY,
            description="repeat the request safely: the same key and files give the first answer",
        ),
    ] = None,
    auto_classify: Annotated[bool | None, Query()] = None,
) -> JSONResponse:
    settings = ingest.settings
    cap = settings.max_upload_bytes * settings.max_files_per_request
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > cap:
        raise Problem(
            413,
            f"request of {declared} bytes is over the limit of {cap} bytes "
            f"({settings.max_files_per_request} files of {settings.max_upload_bytes} bytes)",
        )
    # before the body is read: a waiting upload costs a socket, not its bytes
    await ingest.admission.admit()
    try:
        with ingest.limiter.slot(principal.owner_id):
            return await _upload(
                request, principal, ingest, content_type, idempotency_key, auto_classify
            )
    except TooBusy as exc:
        raise Problem(429, f"{exc}; retry shortly", headers={"Retry-After": "1"}) from exc


async def _upload(
    request: Request,
    principal: Principal,
    ingest: bootstrap.Ingest,
    content_type: str,
    key: str | None,
    auto_classify: bool | None,
) -> JSONResponse:
    settings, ledger, owner = ingest.settings, ingest.ledger, principal.owner_id
    if key is not None:
        state = await ledger.claim_key(owner, key, settings.idempotency_ttl_s)
        if state.kind == "in_progress":
            raise Problem(
                409,
                "a request with this Idempotency-Key is still running; retry shortly",
                headers={"Retry-After": "1"},
            )
        if state.kind == "done":
            seen = await _receive(request, ingest, owner, content_type, store=False)
            if seen.fingerprint != state.fingerprint:
                raise Problem(
                    422,
                    "this Idempotency-Key was used with another body; use a "
                    "new key for a new upload",
                )
            assert state.status is not None
            request.state.audit_result = f"replayed:{state.status}"
            return _answer((state.status, state.response or {}), replayed=True)
    remembered = False
    try:
        received = await _receive(request, ingest, owner, content_type, store=True)
        claim = KeyClaim(owner, key, received.fingerprint) if key else None
        if not received.files:
            answer = _refusal(received.errors)
            if claim is not None:
                await ledger.remember(claim, answer)
                remembered = True
            if received.errors:
                await record(request, ingest, file_audit(request, principal, [], [], received))
            return _answer(answer)
        if auto_classify is None:
            auto_classify = received.fields.get("auto_classify", "true").lower() in _TRUE
        uploads = [_uploaded(f, owner, auto_classify) for f in received.files]
        try:
            answer, rejected = await ledger.record_uploads(
                uploads,
                lambda d: fresh(d, source="ingest"),
                duplicates=settings.duplicates,
                respond=lambda recorded, dups: _respond(recorded, dups, received),
                claim=claim,
                audit=lambda recorded, dups: file_audit(
                    request, principal, recorded, dups, received
                ),
            )
            request.state.audited = True
        except CommitUncertain as exc:
            # the originals stay: if the commit did not happen, the sweeper removes them
            log.error("upload ledger outcome unknown: %s", exc)
            raise Problem(
                503,
                "the upload ledger failed while recording this upload, so whether it was "
                "recorded is not known; resending with the same Idempotency-Key is safe, "
                "without one check GET /v1/documents first or it may be stored twice",
            ) from exc
        except Exception as exc:
            await _remove(ingest, [u.object_key for u in uploads])
            log.error("upload ledger unavailable: %s", exc)
            raise Problem(503, "the upload ledger is unavailable; try again shortly") from exc
        remembered = claim is not None
        await _remove(ingest, [data.object_key for data, _ in rejected])
        for document_id in answer[1].get("documents", []):
            current_document_id.set(document_id["document_id"])
            log.info("document accepted")
        return _answer(answer)
    finally:
        if key is not None and not remembered:
            try:
                await ledger.release_key(owner, key)
            except Exception as exc:  # the answer already says what went wrong
                log.warning("could not release the Idempotency-Key (it expires by itself): %s", exc)


async def _receive(
    request: Request,
    ingest: bootstrap.Ingest,
    owner: uuid.UUID,
    content_type: str,
    *,
    store: bool,
) -> Received:
    receiver = UploadReceiver(
        blobs=ingest.blobs,
        owner_id=owner,
        max_bytes=ingest.settings.max_upload_bytes,
        max_files=ingest.settings.max_files_per_request,
        store=store,
    )
    try:
        return await receiver.receive(content_type, request.stream())
    except BadRequestBody as exc:
        raise Problem(400, str(exc)) from exc
    except BlobStoreError as exc:
        log.error("object store failed during upload: %s", exc)
        raise Problem(503, "the object store is unavailable; try again shortly") from exc


def _uploaded(stored: Any, owner: uuid.UUID, auto_classify: bool) -> DocumentUploaded:
    return DocumentUploaded(
        document_id=stored.document_id,
        owner_id=owner,
        generation=1,
        filename=stored.filename,
        content_type=stored.content_type,
        size_bytes=stored.size_bytes,
        sha256=stored.sha256,
        object_key=stored.object_key,
        auto_classify=auto_classify,
    )


def _respond(
    recorded: list[DocumentUploaded],
    duplicates: list[tuple[DocumentUploaded, uuid.UUID]],
    received: Received,
) -> Answer:
    errors = [vars(e) for e in received.errors] + [
        {
            "filename": d.filename,
            "status": 409,
            "detail": f"a duplicate of document {original} (this installation refuses duplicates)",
            "duplicate_of": str(original),
        }
        for d, original in duplicates
    ]
    if not recorded:
        return _refusal_of(errors)
    return 202, accepted_body(recorded, errors)


def _refusal(errors: list[Any]) -> Answer:
    return _refusal_of([vars(e) for e in errors])


def _refusal_of(errors: list[dict[str, Any]]) -> Answer:
    if not errors:
        return 400, problem_body(
            400, "no file in the request: send multipart/form-data field 'file'"
        )
    statuses = {e["status"] for e in errors}
    status = statuses.pop() if len(statuses) == 1 else 400
    detail = "; ".join(f"{e['filename']}: {e['detail']}" for e in errors)
    return status, problem_body(status, f"no file accepted: {detail}", errors=errors)


def _answer(answer: Answer, *, replayed: bool = False) -> JSONResponse:
    status, body = answer
    headers = {"Idempotent-Replayed": "true"} if replayed else None
    media = PROBLEM_JSON if status >= 400 else "application/json"
    return JSONResponse(body, status_code=status, media_type=media, headers=headers)


async def _remove(ingest: bootstrap.Ingest, keys: list[str]) -> None:
    for key in keys:
        try:
            await ingest.blobs.delete(key)
        except BlobStoreError as exc:  # the sweeper removes what is left after its grace
            log.warning("could not remove %s: %s", key, exc)

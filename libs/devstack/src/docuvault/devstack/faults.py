"""The fault suite's harness (issue 4): upload, break something mid-flight, heal, check.

Every upload is recorded as accepted (202), refused (an HTTP error, or no connection at all) or
unknown (the request went out and no answer came back). At the moment of the fault the harness
records how many documents were in flight (the fault waits, a few seconds at most, for a moment
when some are: a pipeline as fast as the uploads is empty at times) and how many messages were
ready and unacked per queue, so an idle pipeline cannot pass. After healing it waits for every
accepted document and checks: none lost, one catalog row each, the right text and topic, every
announced document's original stored, nothing announced for a refused upload, no duplicated
history, empty DLQs.
"""

from __future__ import annotations

import asyncio
import io
import json
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aio_pika
import docx
import httpx
import pymupdf

from docuvault.devstack import infra
from docuvault.devstack.private import PrivatePostgres, PrivateRabbit
from docuvault.devstack.stack import Stack
from docuvault.runtime.auth import issue_token, owner_id_for
from docuvault.runtime.blobstore import S3BlobStore

FINAL = ("classified", "extraction_failed", "classification_failed")
CONCURRENCY = 8
#: how long a run waits, once the fault is due, for a moment with documents in flight
IN_FLIGHT_WAIT_S = 5.0
SETTLE_TIMEOUT_S = 300.0
Fault = Callable[[], Awaitable[None]]


@dataclass
class Upload:
    filename: str
    marker: str
    outcome: str = "pending"  # accepted | refused | unknown
    document_id: str | None = None
    detail: str = ""


@dataclass
class Report:
    scenario: str
    uploads: int = 0
    accepted: int = 0
    refused: int = 0
    unknown: int = 0
    in_flight_at_fault: int = 0
    queues_at_fault: dict[str, tuple[int, int]] = field(default_factory=dict)
    final: int = 0
    lost: int = 0
    duplicated: int = 0
    problems: list[str] = field(default_factory=list)
    dlq: dict[str, list[str]] = field(default_factory=dict)
    #: reads that failed once and succeeded when repeated (reported, not a loss)
    transient: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return not self.problems

    def summary(self) -> dict[str, Any]:
        data = dict(vars(self))
        data["passed"] = self.passed
        data["queues_at_fault"] = {k: list(v) for k, v in self.queues_at_fault.items() if any(v)}
        return data


def _document(index: int, marker: str) -> tuple[str, bytes]:
    """Small documents of three kinds, each carrying its unique marker and the topic's word."""
    text = f"Ledger entry {marker}: the quarterly ledger of account {index} is balanced."
    match index % 3:
        case 0:
            return f"{marker}.txt", text.encode()
        case 1:
            document = docx.Document()
            document.add_paragraph(text)
            out = io.BytesIO()
            document.save(out)
            return f"{marker}.docx", out.getvalue()
        case _:
            pdf = pymupdf.open()  # type: ignore[no-untyped-call]
            pdf.new_page().insert_text((72, 72), text)
            return f"{marker}.pdf", bytes(pdf.tobytes())  # type: ignore[no-untyped-call]


class Harness:
    def __init__(self, stack: Stack, documents: int) -> None:
        self.stack = stack
        self.documents = documents
        self._secret = stack.config.secrets()["DOCUVAULT_SECRET_KEY"]

    # --- the run ---------------------------------------------------------------------------
    async def run(self, name: str, fault: Fault, *, fault_after: float = 0.3) -> Report:
        started = time.monotonic()
        report = Report(name)
        owner = f"faults-{name}-{uuid.uuid4().hex[:8]}"
        headers = {"Authorization": f"Bearer {issue_token(self._secret, owner)}"}
        tag = uuid.uuid4().hex[:6]
        uploads = [Upload(*_name_marker(i, tag)) for i in range(self.documents)]
        async with httpx.AsyncClient(headers=headers, timeout=60) as client:
            topic = await self._topic(client)
            trigger = asyncio.Event()
            uploader = asyncio.create_task(self._upload_all(client, uploads, trigger, fault_after))
            await trigger.wait()
            # rabbitmqctl takes a second or more to answer: its snapshot is taken beside the
            # fault, and the fault waits for documents in flight, counted just before it
            depths = asyncio.create_task(asyncio.to_thread(self._depths_or_none))
            report.in_flight_at_fault = await self._when_in_flight(client, uploads, uploader)
            await fault()
            report.queues_at_fault = await depths or {}
            await uploader
            await self._settle(client, uploads)
            await self._check(client, uploads, topic, owner, report)
        report.seconds = round(time.monotonic() - started, 1)
        return report

    async def _topic(self, client: httpx.AsyncClient) -> str:
        answer = await client.post(
            f"{self.stack.config.url('catalog')}/v1/topics",
            json={"name": "Ledgers", "keywords": ["ledger"], "description": "account ledgers"},
        )
        answer.raise_for_status()
        await asyncio.sleep(1)  # the classifier's replica hears of it
        topic_id: str = answer.json()["topic_id"]
        return topic_id

    async def _upload_all(
        self,
        client: httpx.AsyncClient,
        uploads: list[Upload],
        trigger: asyncio.Event,
        fault_after: float,
    ) -> None:
        limit = asyncio.Semaphore(CONCURRENCY)
        threshold = max(1, int(len(uploads) * fault_after))

        async def one(index: int, upload: Upload) -> None:
            async with limit:
                name, body = _document(index, upload.marker)
                try:
                    answer = await client.post(
                        f"{self.stack.config.url('ingest')}/v1/documents",
                        files={"file": (name, body)},
                    )
                except httpx.ConnectError as exc:
                    upload.outcome, upload.detail = "refused", f"no connection: {exc}"
                except httpx.HTTPError as exc:
                    upload.outcome, upload.detail = "unknown", f"{type(exc).__name__}: {exc}"
                else:
                    if answer.status_code == 202:
                        upload.outcome = "accepted"
                        upload.document_id = answer.json()["documents"][0]["document_id"]
                    else:
                        upload.outcome, upload.detail = "refused", f"{answer.status_code}"
                if sum(u.outcome == "accepted" for u in uploads) >= threshold:
                    trigger.set()

        await asyncio.gather(*(one(i, u) for i, u in enumerate(uploads)))
        trigger.set()

    async def _when_in_flight(
        self, client: httpx.AsyncClient, uploads: list[Upload], uploader: asyncio.Task[None]
    ) -> int:
        """Documents accepted and not final yet, read again until there are some: a pipeline
        as fast as the uploads is empty at some moments, and a fault then would prove nothing.
        Gives up (0) once the uploads are over or after ``IN_FLIGHT_WAIT_S``."""
        deadline = time.monotonic() + IN_FLIGHT_WAIT_S
        while True:
            count = await self._in_flight(client, uploads)
            if count or uploader.done() or time.monotonic() >= deadline:
                return count
            await asyncio.sleep(0.05)

    def _depths_or_none(self) -> dict[str, tuple[int, int]] | None:
        try:
            return self.queue_depths()
        except Exception:  # e.g. the fault is a broker restart: the count is lost, not the run
            return None

    async def _in_flight(self, client: httpx.AsyncClient, uploads: list[Upload]) -> int:
        accepted = {u.document_id for u in uploads if u.outcome == "accepted"}
        done = {d["document_id"] for d in await self._listing(client, list(FINAL))}
        return len(accepted - done)

    async def _listing(
        self, client: httpx.AsyncClient, statuses: list[str] | None = None
    ) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        cursor = None
        while True:
            params: dict[str, Any] = {"limit": 100}
            if statuses:
                params["status"] = statuses
            if cursor:
                params["cursor"] = cursor
            try:
                answer = await polite_get(
                    client, f"{self.stack.config.url('catalog')}/v1/documents", params
                )
            except httpx.HTTPError:
                return items  # the catalog is down for a moment: nothing is known final
            if answer.status_code != 200:
                return items
            items += answer.json()["items"]
            cursor = answer.json()["next_cursor"]
            if cursor is None:
                return items

    async def _settle(self, client: httpx.AsyncClient, uploads: list[Upload]) -> None:
        """Wait until every accepted document is final and the pipeline has gone quiet.

        A final status alone is not the end: events of one document may arrive in any order, so
        a document can be classified while the catalog's projection of its text still waits in a
        retry queue (the object store was down when it first tried). Quiet means no message ready
        or unacked in any queue but the DLQs, twice in a row.
        """
        accepted = {u.document_id for u in uploads if u.outcome == "accepted"}
        deadline = time.monotonic() + SETTLE_TIMEOUT_S
        quiet = 0
        while time.monotonic() < deadline and quiet < 2:
            done = {d["document_id"] for d in await self._listing(client, list(FINAL))}
            # the broker is asked only then: rabbitmqctl costs a second of CPU
            busy = not accepted <= done or busy_queues(await asyncio.to_thread(self.queue_depths))
            quiet = 0 if busy else quiet + 1
            await asyncio.sleep(1)

    # --- the checks ------------------------------------------------------------------------
    async def _check(
        self,
        client: httpx.AsyncClient,
        uploads: list[Upload],
        topic: str,
        owner: str,
        report: Report,
    ) -> None:
        report.uploads = len(uploads)
        for outcome in ("accepted", "refused", "unknown"):
            setattr(report, outcome, sum(u.outcome == outcome for u in uploads))
        listed = await self._listing(client)
        by_id = {d["document_id"]: d for d in listed}
        accepted = {u.document_id: u for u in uploads if u.outcome == "accepted"}
        final = {i for i, d in by_id.items() if d["status"] in FINAL}
        report.final = len(final & set(accepted))
        report.lost = len(set(accepted) - final)
        if report.lost:
            report.problems.append(f"{report.lost} accepted document(s) never became final")
        strangers = unaccounted(uploads, listed)
        if strangers:
            report.problems.append(f"{len(strangers)} catalog document(s) nobody accepted")
        refused = {u.marker for u in uploads if u.outcome == "refused"}
        announced = [d for d in listed if _stem(d["filename"]) in refused]
        if announced:
            report.problems.append(f"{len(announced)} refused upload(s) were announced")
        await self._check_documents(client, accepted, by_id, topic, report)
        await self._check_objects(owner, list(by_id), report)
        report.dlq = await self.dead_letters()
        if any(report.dlq.values()):
            report.problems.append(f"dead letters: {report.dlq}")
        for service in self.stack.services:
            ready = await client.get(f"{self.stack.config.url(service)}/readyz")
            if ready.status_code != 200:
                report.problems.append(f"{service} not ready afterwards: {ready.text}")

    async def _check_documents(
        self,
        client: httpx.AsyncClient,
        accepted: dict[str | None, Upload],
        by_id: dict[str, dict[str, Any]],
        topic: str,
        report: Report,
    ) -> None:
        catalog = self.stack.config.url("catalog")
        limit = asyncio.Semaphore(8)

        async def one(document_id: str, upload: Upload) -> None:
            async with limit:
                detail = (await polite_get(client, f"{catalog}/v1/documents/{document_id}")).json()
                answer = await polite_get(client, f"{catalog}/v1/documents/{document_id}/text")
                text = answer.text
                if upload.marker not in text:  # a failed read is not lost data: read again
                    report.transient.append(
                        f"{upload.filename}: {answer.status_code} {text[:200]!r}"
                    )
                    await asyncio.sleep(1)
                    answer = await polite_get(client, f"{catalog}/v1/documents/{document_id}/text")
                    text = answer.text
            if detail.get("status") != "classified":
                report.problems.append(
                    f"{upload.filename}: {detail.get('status')} {detail.get('failure')}"
                )
            elif [t["topic_id"] for t in detail["topics"]] != [topic]:
                report.problems.append(f"{upload.filename}: topics {detail['topics']}")
            if upload.marker not in text:
                report.problems.append(
                    f"{upload.filename}: its text lacks its marker ({answer.status_code}:"
                    f" {text[:200]!r}; history {[h['type'] for h in detail['history']]})"
                )
            types = [h["type"] for h in detail.get("history", [])]
            if len(types) != len(set(types)):
                report.duplicated += 1

        await asyncio.gather(*(one(i, u) for i, u in accepted.items() if i in by_id))
        if report.duplicated:
            report.problems.append(f"{report.duplicated} document(s) with duplicated history")

    async def _check_objects(self, owner: str, document_ids: list[str], report: Report) -> None:
        env = self.stack.config.service_env("ingest")
        async with S3BlobStore(
            endpoint=env["DOCUVAULT_S3_ENDPOINT"],
            bucket=env["DOCUVAULT_S3_BUCKET"],
            access_key=env["DOCUVAULT_S3_ACCESS_KEY"],
            secret_key=env["DOCUVAULT_S3_SECRET_KEY"],
            region="us-east-1",
        ) as blobs:
            owner_id = owner_id_for(owner)
            missing = [
                d for d in document_ids if await blobs.head(f"{owner_id}/{d}/original") is None
            ]
        if missing:
            report.problems.append(f"{len(missing)} announced document(s) without their file")

    # --- the broker's view -----------------------------------------------------------------
    def queue_depths(self) -> dict[str, tuple[int, int]]:
        """Ready and unacked messages per queue; streams (the history) are left out: a stream
        keeps every message it was given, its consumers only read it."""
        listed = infra.run_ctl(
            self.stack.config,
            "-q",
            "list_queues",
            "-p",
            self.stack.config.vhost,
            "name",
            "messages_ready",
            "messages_unacknowledged",
            "type",
            "--no-table-headers",
        )
        depths = {}
        for line in listed.splitlines():
            parts = line.split()
            if len(parts) == 4 and parts[1].isdigit() and parts[3] != "stream":
                depths[parts[0]] = (int(parts[1]), int(parts[2]))
        return depths

    async def dead_letters(self, peek: int = 20) -> dict[str, list[str]]:
        """What each DLQ holds: type and reason of each message, read without removing it."""
        depths = await asyncio.to_thread(self.queue_depths)
        held: dict[str, list[str]] = {}
        connection = await aio_pika.connect(self.stack.config.amqp_url)
        async with connection:
            channel = await connection.channel()
            for name, (ready, unacked) in depths.items():
                if not name.endswith(".dlq") or not ready + unacked:
                    continue
                queue = await channel.get_queue(name, ensure=False)
                taken = []
                for _ in range(min(peek, ready)):
                    message = await queue.get(no_ack=False, fail=False)
                    if message is None:
                        break
                    taken.append(message)
                held[name] = [
                    f"{m.type}: {(m.headers or {}).get('x-docuvault-failure-reason')!s}"
                    for m in taken
                ] or [f"{ready + unacked} message(s)"]
                for message in taken:
                    await message.nack(requeue=True)
        return held


async def polite_get(
    client: httpx.AsyncClient, url: str, params: dict[str, Any] | None = None
) -> httpx.Response:
    """A read that honours the catalog's rate limit (429 and Retry-After): the checks read two
    answers per document, more than one token's burst when the run has more documents."""
    while True:
        answer = await client.get(url, params=params)
        if answer.status_code != 429:
            return answer
        await asyncio.sleep(float(answer.headers.get("Retry-After", "1")))


def _name_marker(index: int, tag: str) -> tuple[str, str]:
    marker = f"mark{tag}x{index:05d}"
    return f"{marker}{['.txt', '.docx', '.pdf'][index % 3]}", marker


def unaccounted(uploads: list[Upload], listed: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Catalog documents that no upload explains.

    An accepted upload explains its own document; an unknown one (the request went out, the answer
    never came back) may have been stored and announced before the gateway died, so a document
    carrying its marker is explained too. Nothing else may appear.
    """
    accepted = {u.document_id for u in uploads if u.outcome == "accepted"}
    unknown = {u.marker for u in uploads if u.outcome == "unknown"}
    return [
        d
        for d in listed
        if d["document_id"] not in accepted and _stem(d["filename"]) not in unknown
    ]


def busy_queues(depths: dict[str, tuple[int, int]]) -> list[str]:
    """Queues still holding work: a DLQ's messages wait for a person, not for the pipeline."""
    return [n for n, (r, u) in depths.items() if r + u and not n.endswith(".dlq")]


def _stem(filename: str | None) -> str:
    return (filename or "").rsplit(".", 1)[0]


async def publish_twice_shuffled(stack: Stack, bodies: list[bytes]) -> int:
    """The same events published twice, in a shuffled order, straight to the exchange."""
    copies = bodies * 2
    random.Random(4).shuffle(copies)
    connection = await aio_pika.connect(stack.config.amqp_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange("docuvault.events")
        for body in copies:
            event = json.loads(body)
            await exchange.publish(
                aio_pika.Message(
                    body,
                    message_id=event["id"],
                    type=event["type"],
                    content_type="application/cloudevents+json",
                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                ),
                routing_key=event["type"].removeprefix("io.docuvault."),
            )
    return len(copies)


@dataclass
class FaultStack:
    stack: Stack
    rabbit: PrivateRabbit
    postgres: PrivatePostgres


#: the reports of this run, printed as a table at the end
REPORTS: list[Report] = []


def summary_table(reports: list[Report]) -> list[str]:
    head = (
        "scenario",
        "in flight",
        "accepted",
        "refused",
        "unknown",
        "final",
        "lost",
        "dup",
        "dlq",
        "seconds",
        "result",
    )
    lines = ["  ".join(f"{h:>16}" if i == 0 else f"{h:>9}" for i, h in enumerate(head))]
    for r in reports:
        dlq = sum(len(v) for v in r.dlq.values())
        cells = (
            r.scenario,
            r.in_flight_at_fault,
            r.accepted,
            r.refused,
            r.unknown,
            r.final,
            r.lost,
            r.duplicated,
            dlq,
            r.seconds,
            "pass" if r.passed else "FAIL",
        )
        lines.append(
            "  ".join(f"{c!s:>16}" if i == 0 else f"{c!s:>9}" for i, c in enumerate(cells))
        )
    return lines

# PyMuPDF ships type hints, but parts of its API are untyped:
# mypy: disable-error-code="no-untyped-call"
"""The raw libraries doing the same work as the pipeline, to the same servers, in the same run:
S3 put/get with aioboto3, aio-pika publishes with confirms, PyMuPDF text extraction and the
``tesseract`` CLI. Each returns a ``Timed``: wall time, item count and per-item latencies."""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import resource
import subprocess
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import aio_pika
import aioboto3
import pymupdf


@dataclass
class Timed:
    seconds: float
    count: int  # objects, messages or pages
    latencies: list[float]  # per object, message or document
    cpu_s: float | None = None  # CPU time of the work, where measured

    @property
    def per_s(self) -> float:
        return self.count / self.seconds if self.seconds > 0 else 0.0


async def _bounded(count: int, concurrency: int, op: Callable[[int], Awaitable[None]]) -> Timed:
    limit = asyncio.Semaphore(concurrency)
    latencies = [0.0] * count

    async def one(n: int) -> None:
        async with limit:
            started = time.perf_counter()
            await op(n)
            latencies[n] = time.perf_counter() - started

    started = time.perf_counter()
    await asyncio.gather(*(one(n) for n in range(count)))
    return Timed(time.perf_counter() - started, count, latencies)


async def s3_put_get(
    env: dict[str, str], bodies: Sequence[bytes], concurrency: int
) -> tuple[Timed, Timed]:
    """Put every body, then get every one back, ``concurrency`` in flight; objects removed after."""
    session = aioboto3.Session(
        aws_access_key_id=env["DOCUVAULT_S3_ACCESS_KEY"],
        aws_secret_access_key=env["DOCUVAULT_S3_SECRET_KEY"],
        region_name=env.get("DOCUVAULT_S3_REGION", "us-east-1"),
    )
    bucket, prefix = env["DOCUVAULT_S3_BUCKET"], f"bench-raw/{uuid.uuid4()}"
    async with session.client("s3", endpoint_url=env["DOCUVAULT_S3_ENDPOINT"]) as s3:

        async def put(n: int) -> None:
            await s3.put_object(Bucket=bucket, Key=f"{prefix}/{n}", Body=bodies[n])

        async def get(n: int) -> None:
            answer = await s3.get_object(Bucket=bucket, Key=f"{prefix}/{n}")
            async with answer["Body"] as body:
                await body.read()

        puts = await _bounded(len(bodies), concurrency, put)
        gets = await _bounded(len(bodies), concurrency, get)
        for start in range(0, len(bodies), 1000):
            keys = [{"Key": f"{prefix}/{n}"} for n in range(start, min(start + 1000, len(bodies)))]
            await s3.delete_objects(Bucket=bucket, Delete={"Objects": keys})  # type: ignore[typeddict-item]
    return puts, gets


async def publish_confirmed(amqp_url: str, count: int, concurrency: int) -> Timed:
    """Persistent, mandatory publishes with publisher confirms to a quorum queue of the vhost
    (deleted after); the body is about the size of a ``document.text_extracted.v1`` event."""
    body = json.dumps({"specversion": "1.0", "data": {"text_preview": "x" * 1000}}).encode()
    name = f"bench.raw-publish.{uuid.uuid4().hex[:8]}"
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        queue = await channel.declare_queue(
            name, durable=True, arguments={"x-queue-type": "quorum"}
        )

        async def publish(n: int) -> None:
            message = aio_pika.Message(
                body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT, message_id=str(n)
            )
            await channel.default_exchange.publish(
                message, routing_key=name, mandatory=True, timeout=30
            )

        try:
            return await _bounded(count, concurrency, publish)
        finally:
            await queue.delete(if_unused=False, if_empty=False)


def _pdf_texts(pdfs: list[bytes]) -> list[tuple[float, int]]:
    out = []
    for data in pdfs:
        started = time.perf_counter()
        with pymupdf.open(stream=data) as pdf:
            pages = sum(1 for page in pdf if page.get_text() is not None)
        out.append((time.perf_counter() - started, pages))
    return out


def _nothing() -> None:
    time.sleep(0.2)


def pymupdf_text(pdfs: Sequence[bytes], processes: int) -> Timed:
    """``page.get_text()`` of every page, the PDFs dealt round-robin to ``processes`` processes
    (started and warmed before the clock starts)."""
    context = multiprocessing.get_context("forkserver")
    with ProcessPoolExecutor(processes, mp_context=context) as pool:
        for warm in [pool.submit(_nothing) for _ in range(processes)]:
            warm.result()
        chunks = [list(pdfs[i::processes]) for i in range(processes)]
        started = time.perf_counter()
        results = list(pool.map(_pdf_texts, chunks))
        seconds = time.perf_counter() - started
    done = [item for chunk in results for item in chunk]
    return Timed(seconds, sum(p for _, p in done), [s for s, _ in done])


def _tesseract(image: Path) -> float:
    started = time.perf_counter()
    subprocess.run(
        ["tesseract", str(image), "stdout", "-l", "eng"],
        env={**os.environ, "OMP_THREAD_LIMIT": "1"},
        capture_output=True,
        check=True,
    )
    return time.perf_counter() - started


def tesseract_cli(documents: Sequence[Sequence[Path]], pages: int, processes: int) -> Timed:
    """``tesseract IMAGE stdout -l eng`` (OMP_THREAD_LIMIT=1), ``processes`` at a time, over the
    page images of each document; latencies are per document (the sum over its images); cpu_s
    is the CPU time of the tesseract processes (RUSAGE_CHILDREN)."""
    work = [(d, image) for d, images in enumerate(documents) for image in images]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    with ThreadPoolExecutor(processes) as pool:
        took = list(pool.map(_tesseract, [image for _, image in work]))
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    per_document = [0.0] * len(documents)
    for (d, _), spent in zip(work, took, strict=True):
        per_document[d] += spent
    return Timed(seconds, pages, per_document, cpu)

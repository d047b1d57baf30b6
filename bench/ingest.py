"""``make bench`` part ``ingest`` (issue 5): the gateway against the raw cost of its work.

16 uploads in flight of 100 KiB and of 5 MiB files, each one file per request; the raw baseline
is, for the same files with the same concurrency to the same servers in the same run, an
aioboto3 ``put_object`` plus one aio-pika publish with confirm per file. Then one 2 GiB upload
streamed from memory, while the gateway's peak RSS and the files it holds open are watched.
Only ingest runs (the other services would compete for the two cores).
"""

from __future__ import annotations

import asyncio
import os
import random
import statistics
import string
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aio_pika
import aioboto3
import httpx

from bench.measure import percentile
from bench.stack import owner_headers, private_stack
from docuvault.devstack.stack import Stack

CONCURRENCY = 16
ROUNDS = 4
SIZES = {"100 KiB": (100 * 1024, 400), "5 MiB": (5 * 1024 * 1024, 48)}
TARGETS = {"100 KiB": 0.5, "5 MiB": 0.8}
BIG = 2 * 1024**3
CHUNK = 1024 * 1024
RSS_LIMIT_MIB = 150


def _bodies(size: int, count: int, seed: int) -> list[bytes]:
    """Text files (ingest takes text): random words, a different file each time."""
    rng = random.Random(seed)
    alphabet = (string.ascii_lowercase + " \n").encode()
    block = bytes(rng.choice(alphabet) for _ in range(64 * 1024))
    return [
        (f"{n}:{seed}\n".encode() + block * (size // len(block) + 1))[:size] for n in range(count)
    ]


async def _ours(stack: Stack, bodies: list[bytes]) -> tuple[float, list[float]]:
    headers = owner_headers(stack, "ingest")
    limit = asyncio.Semaphore(CONCURRENCY)
    latencies: list[float] = []
    async with httpx.AsyncClient(
        headers=headers, timeout=300, limits=httpx.Limits(max_connections=CONCURRENCY)
    ) as client:

        async def one(n: int) -> None:
            async with limit:
                started = time.perf_counter()
                answer = await client.post(
                    f"{stack.config.url('ingest')}/v1/documents",
                    files={"file": (f"f{n}.txt", bodies[n])},
                )
                answer.raise_for_status()
                latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(one(n) for n in range(len(bodies))))
        return time.perf_counter() - started, latencies


async def _raw(stack: Stack, bodies: list[bytes]) -> tuple[float, list[float]]:
    env = stack.config.service_env("ingest")
    session = aioboto3.Session(
        aws_access_key_id=env["DOCUVAULT_S3_ACCESS_KEY"],
        aws_secret_access_key=env["DOCUVAULT_S3_SECRET_KEY"],
        region_name="us-east-1",
    )
    connection = await aio_pika.connect(stack.config.amqp_url)
    limit = asyncio.Semaphore(CONCURRENCY)
    latencies: list[float] = []
    queue_name = f"bench.ingest-raw.{os.getpid()}"
    async with connection, session.client("s3", endpoint_url=env["DOCUVAULT_S3_ENDPOINT"]) as s3:
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        queue = await channel.declare_queue(
            queue_name, durable=True, arguments={"x-queue-type": "quorum"}
        )

        async def one(n: int) -> None:
            async with limit:
                started = time.perf_counter()
                await s3.put_object(
                    Bucket=env["DOCUVAULT_S3_BUCKET"], Key=f"bench-raw/{n}", Body=bodies[n]
                )
                await channel.default_exchange.publish(
                    aio_pika.Message(b"{}" * 300, delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                    routing_key=queue_name,
                    mandatory=True,
                )
                latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(one(n) for n in range(len(bodies))))
        elapsed = time.perf_counter() - started
        await queue.delete(if_unused=False, if_empty=False)
    return elapsed, latencies


def _vm(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    return 0


def _largest_open_file(pid: int) -> int:
    """The size of the largest regular file the process holds open right now."""
    largest = 0
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
            if target.startswith("/") and not target.startswith(("/dev/", "/proc/")):
                largest = max(largest, os.stat(target).st_size)
        except OSError:
            continue
    return largest


def _reset_peak(pid: int) -> None:
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # VmHWM starts again from here


async def _big_upload(stack: Stack, pid: int) -> dict[str, Any]:
    largest_file = 0
    done = asyncio.Event()

    async def watch() -> None:
        nonlocal largest_file
        while not done.is_set():
            largest_file = max(largest_file, _largest_open_file(pid))
            await asyncio.sleep(0.2)

    async def body() -> AsyncIterator[bytes]:
        yield b'--b\r\nContent-Disposition: form-data; name="file"; filename="big.txt"\r\n\r\n'
        block = (b"all work and no play makes a big file " * 30_000)[:CHUNK]
        for _ in range(BIG // CHUNK):
            yield block
        yield b"\r\n--b--\r\n"

    watcher = asyncio.create_task(watch())
    started = time.perf_counter()
    async with httpx.AsyncClient(headers=owner_headers(stack, "big"), timeout=1800) as client:
        answer = await client.post(
            f"{stack.config.url('ingest')}/v1/documents",
            content=body(),
            headers={"content-type": "multipart/form-data; boundary=b"},
        )
    seconds = time.perf_counter() - started
    done.set()
    await watcher
    answer.raise_for_status()
    return {
        "accepted": answer.json()["documents"][0]["size_bytes"] == BIG,
        "seconds": seconds,
        "mib_per_s": BIG / seconds / 2**20,
        "peak_rss_mib": _vm(pid, "VmHWM") / 2**20,
        "largest_open_file_bytes": largest_file,
    }


def run() -> tuple[list[dict[str, Any]], dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    with private_stack(
        ("ingest",),
        DOCUVAULT_MAX_UPLOAD_BYTES=str(BIG + CHUNK),
        DOCUVAULT_MAX_CONCURRENT_UPLOADS_PER_OWNER="64",
    ) as stack:
        for label, (size, count) in SIZES.items():
            bodies = _bodies(size, count, seed=len(rows))
            # alternate raw and ours in rounds so that both see the same machine (it is shared
            # and noisy); the ratio is the median of the rounds' ratios
            raw_s = ours_s = 0.0
            raw_lat: list[float] = []
            ours_lat: list[float] = []
            ratios: list[float] = []
            per_round = count // ROUNDS
            for r in range(ROUNDS):
                part = bodies[r * per_round : (r + 1) * per_round]
                raw_time, raw_round = asyncio.run(_raw(stack, part))
                ours_time, ours_round = asyncio.run(_ours(stack, part))
                raw_s, ours_s = raw_s + raw_time, ours_s + ours_time
                raw_lat += raw_round
                ours_lat += ours_round
                ratios.append(raw_time / ours_time)  # throughput ours / raw
            ratio = statistics.median(ratios)
            count = per_round * ROUNDS
            rows.append(
                {
                    "files": f"{count} x {label}",
                    "ours_files_per_s": count / ours_s,
                    "raw_files_per_s": count / raw_s,
                    "ratio": ratio,
                    "ours_p50_s": percentile(ours_lat, 50),
                    "ours_p95_s": percentile(ours_lat, 95),
                    "raw_p50_s": percentile(raw_lat, 50),
                    "raw_p95_s": percentile(raw_lat, 95),
                    "target": f">= {TARGETS[label]}",
                    "verdict": "pass" if ratio >= TARGETS[label] else "FAIL",
                }
            )
        # a fresh gateway: the memory of the 16-at-a-time runs must not count against it
        stack.tracked("ingest").stop()
        stack.start("ingest")
        stack.wait_ready(services=("ingest",))
        pid = stack.tracked("ingest").pid()
        assert pid is not None
        idle_mib = _vm(pid, "VmRSS") / 2**20
        _reset_peak(pid)
        big = asyncio.run(_big_upload(stack, pid))
        big["idle_rss_mib"] = idle_mib
    rows.append(
        {
            "files": "1 x 2 GiB (streamed)",
            "ours_files_per_s": 1 / big["seconds"],
            "raw_files_per_s": None,
            "ratio": None,
            "ours_p50_s": big["seconds"],
            "ours_p95_s": None,
            "raw_p50_s": None,
            "raw_p95_s": None,
            "target": f"RSS < {RSS_LIMIT_MIB} MiB, no file > {CHUNK} B",
            "verdict": "pass"
            if big["accepted"]
            and big["peak_rss_mib"] < RSS_LIMIT_MIB
            and big["largest_open_file_bytes"] <= CHUNK
            else "FAIL",
        }
    )
    notes = {
        "concurrency": CONCURRENCY,
        "raw": "aioboto3 put_object of the same bytes + one aio-pika publish with confirm "
        "(persistent, mandatory, quorum queue) per file, same servers, same run",
        "ratio": "throughput of ours / throughput of raw (1 = no cost added by the gateway): "
        f"the median over {ROUNDS} rounds, each running raw then ours on a quarter of "
        "the files",
        "big_upload": big,
        "note": "only ingest runs: no extraction competes for the two cores",
    }
    return rows, notes

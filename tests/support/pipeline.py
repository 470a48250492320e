"""Helpers for the tests of a running pipeline: the intake over HTTP, JetStream reads, page
snapshots."""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import nats
from nats.js import JetStreamContext
from nats.js import api as js_api

from shared.filings import current_reporting_year
from shared.topology import ConsumerSpec
from tests.support.waiting import eventually
from tools.launcher import System

#: the year being filed now, so that reports made by the tests are on time
YEAR = current_reporting_year(datetime.now(UTC))


def service_consumers() -> list[ConsumerSpec]:
    """Every durable consumer the four services declare, from their composition roots."""
    from services.aggregator.main import CONSUMER as AGGREGATOR
    from services.intake.main import CONSUMERS as INTAKE
    from services.publisher.main import CONSUMERS as PUBLISHER
    from services.validator.main import CONSUMER as VALIDATOR

    return [VALIDATOR, AGGREGATOR, *INTAKE, *PUBLISHER]


def takes(spec: ConsumerSpec, subject: str) -> bool:
    """Whether the consumer's filter subjects match ``subject`` (NATS ``*`` and ``>``)."""

    def matches(pattern: str) -> bool:
        want, have = pattern.split("."), subject.split(".")
        for i, token in enumerate(want):
            if token == ">":
                return len(have) > i
            if i >= len(have) or (token != "*" and token != have[i]):
                return False
        return len(want) == len(have)

    return any(matches(p) for p in spec.filter_subjects)


async def post(system: System, token: str, report: Any) -> httpx.Response:
    async with httpx.AsyncClient(timeout=15) as client:
        return await client.post(
            f"{system.intake_url}/v1/reports",
            json=report,
            headers={"Authorization": f"Bearer {token}"},
        )


async def receipt(system: System, token: str, receipt_id: str) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=15) as client:
        response = await client.get(
            f"{system.intake_url}/v1/receipts/{receipt_id}",
            headers={"Authorization": f"Bearer {token}"},
        )
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    return body


async def reaches(
    system: System, token: str, receipt_id: str, stage: str = "published", within: float = 60
) -> dict[str, Any]:
    """Poll the receipt until it has reached ``stage`` ("judged": accepted or rejected)."""

    async def reached() -> dict[str, Any] | None:
        body = await receipt(system, token, receipt_id)
        stages = {s["stage"] for s in body["stages"]}
        done = bool(stages & {"accepted", "rejected"}) if stage == "judged" else stage in stages
        return body if done else None

    return await eventually(reached, within=within, interval=0.1)


@asynccontextmanager
async def jetstream(url: str) -> AsyncIterator[JetStreamContext]:
    nc = await nats.connect(url, connect_timeout=5)
    try:
        yield nc.jetstream()
    finally:
        await nc.close()


async def last_per_subject(js: JetStreamContext, stream: str, subject: str) -> dict[str, bytes]:
    """Each subject's last message body, read as a new subscriber would (ordered consumer)."""
    info = await js.stream_info(stream, subjects_filter=subject)
    expected = len(info.state.subjects or {})
    if not expected:
        return {}
    sub = await js.subscribe(
        subject,
        stream=stream,
        ordered_consumer=True,
        deliver_policy=js_api.DeliverPolicy.LAST_PER_SUBJECT,
    )
    bodies: dict[str, bytes] = {}
    try:
        while True:
            msg = await sub.next_msg(timeout=10)
            assert msg.subject not in bodies, f"{msg.subject} delivered twice"
            bodies[msg.subject] = msg.data
            if msg.metadata.num_pending == 0:
                return bodies
    finally:
        await sub.unsubscribe()


async def pipeline_idle(js: JetStreamContext, consumers: list[ConsumerSpec]) -> bool:
    """Every durable has consumed and acknowledged everything in its stream."""
    for spec in consumers:
        info = await js.consumer_info(spec.stream.name, spec.durable)
        if info.num_pending or info.num_ack_pending:
            return False
    return True


def dirty_pages(data_dir: Path) -> int:
    """Pages the publisher still has to render (its own table; read-only here)."""
    with sqlite3.connect(f"file:{data_dir / 'publisher.db'}?mode=ro", uri=True) as db:
        return int(db.execute("SELECT count(*) FROM publisher_dirty").fetchone()[0])


def pages_snapshot(pages_dir: Path) -> dict[str, str]:
    """SHA-256 of every page file, by path."""
    snapshot = {}
    for path in sorted(pages_dir.rglob("*")):
        if path.name.startswith(".tmp-"):
            continue  # the writer's temporary file, renamed over its page in a moment
        try:
            snapshot[str(path.relative_to(pages_dir))] = hashlib.sha256(path.read_bytes())
        except (IsADirectoryError, FileNotFoundError):
            continue
    return {name: digest.hexdigest() for name, digest in snapshot.items()}


async def settled_pages(
    system: System, consumers: list[ConsumerSpec], within: float = 60
) -> dict[str, str]:
    """The pages once the pipeline is idle: nothing pending, nothing dirty, and two snapshots a
    second apart equal."""
    deadline = time.monotonic() + within
    pages = system.data_dir / "pages"
    async with jetstream(system.nats.url) as js:
        before: dict[str, str] | None = None
        while True:
            idle = await pipeline_idle(js, consumers) and dirty_pages(system.data_dir) == 0
            now = await asyncio.to_thread(pages_snapshot, pages)
            if idle and now == before:
                return now
            before = now if idle else None
            if time.monotonic() > deadline:
                raise AssertionError(f"the publisher did not settle within {within} s")
            await asyncio.sleep(1 if idle else 0.2)

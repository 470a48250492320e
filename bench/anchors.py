"""The anchors that bound the result on this machine, measured in the same run.

- The transport's ceiling: one pipeline stage with nothing to do — the services' own
  ``BatchStage`` decoding the same ``ReportSubmitted`` messages and republishing each with a
  confirmed publish, on the same server, through a temporary stream.
- A full recompute: every node's roll-up rebuilt from the stored facts (read the aggregator's
  stored versions, find each site's standing, ``shared.rollup.full_rollups``), and the roll-up
  arithmetic alone over the benchmark's own states.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import nats
from faststream.nats import NatsBroker
from pydantic import BaseModel

from shared.contracts import ReportSubmitted, StreamSpec
from shared.deadlines import DeadlinePolicy
from shared.filings import FiledVersion, standing
from shared.forms import WORK_REPORT, count_paths, load_form, yes_no_paths
from shared.registry import Registry
from shared.rollup import SiteState, full_rollups
from shared.runtime.messaging import (
    BatchStage,
    DeadLetters,
    Envelope,
    ensure_consumer,
    ensure_streams,
    publish_all,
)
from shared.topology import ConsumerSpec

ANCHOR_STREAM = StreamSpec(
    name="NIANBAO_BENCH_ANCHOR",
    subjects=("nianbao.bench.>",),
    description="nianbao bench: the transport anchor's input and output (deleted after the run)",
)
ANCHOR_CONSUMER = ConsumerSpec(
    durable="bench-anchor",
    stream=ANCHOR_STREAM,
    filter_subjects=("nianbao.bench.in.>",),
    description="nianbao bench: a stage that only republishes",
)


async def transport_ceiling(
    nats_url: str, messages: Sequence[ReportSubmitted], within: float = 300
) -> dict[str, Any]:
    """Messages per second through one consume → confirmed republish stage (batch 200)."""
    logger = logging.getLogger("faststream.bench")
    logger.setLevel(logging.WARNING)
    broker = NatsBroker(nats_url, name="nianbao-bench-anchor", logger=logger, log_level=10)
    done = asyncio.Event()
    republished = 0

    async def republish(batch: list[Envelope[ReportSubmitted]]) -> None:
        nonlocal republished
        items: list[tuple[str, BaseModel, str]] = [
            (f"nianbao.bench.out.{e.event.code}", e.event, f"out:{e.event.receipt_id}")
            for e in batch
        ]
        await publish_all(broker, ANCHOR_STREAM, items)
        republished += len(batch)
        if republished >= len(messages):
            done.set()

    BatchStage(broker, ANCHOR_CONSUMER, ReportSubmitted, republish, DeadLetters(broker, "bench"))
    client = await nats.connect(nats_url, name="nianbao-bench-anchor-admin")
    js = client.jetstream()
    try:
        await _delete_stream(js)
        await ensure_streams(js, [ANCHOR_STREAM], 1)
        await ensure_consumer(js, ANCHOR_CONSUMER)
        payloads = [(f"nianbao.bench.in.{m.code}", m.model_dump_json().encode()) for m in messages]
        futures = [await js.publish_async(subject, body) for subject, body in payloads]
        await asyncio.gather(*futures)
        started = time.monotonic()
        try:
            await broker.start()
            await asyncio.wait_for(done.wait(), within)
            elapsed = time.monotonic() - started
        finally:
            await broker.stop()
    finally:
        await _delete_stream(js)
        await client.close()
    size = sum(len(body) for _, body in payloads) / max(1, len(payloads))
    return {
        "messages": len(messages),
        "message_bytes": round(size),
        "seconds": round(elapsed, 3),
        "rate_per_s": round(len(messages) / elapsed, 1),
    }


async def _delete_stream(js: Any) -> None:
    from nats.js.errors import NotFoundError

    with contextlib.suppress(NotFoundError):
        await js.delete_stream(ANCHOR_STREAM.name)


def recompute_from_states(
    registry: Registry, year: int, states: Mapping[str, SiteState]
) -> dict[str, Any]:
    """The roll-up arithmetic alone: every node from the sites' states."""
    definition = load_form(WORK_REPORT)
    started = time.monotonic()
    rollups = full_rollups(
        registry, year, states, count_paths(definition), yes_no_paths(definition)
    )
    return {"nodes": len(rollups), "seconds": round(time.monotonic() - started, 3)}


async def recompute_from_store(registry: Registry, year: int, database_url: str) -> dict[str, Any]:
    """What a rebuild costs: read every version the aggregator stored, find each site's standing,
    compute every node's roll-up from scratch (``full_rollups``)."""
    from services.aggregator.main import stored_versions

    started = time.monotonic()
    rows = await stored_versions(database_url)
    read = time.monotonic()
    filed: dict[str, list[FiledVersion]] = defaultdict(list)
    for row in rows:
        if row.year == year and row.form == WORK_REPORT and row.code in registry.sites:
            filed[row.code].append(
                FiledVersion(
                    receipt_id=row.receipt_id,
                    version=row.version,
                    outcome=row.outcome,
                    received_at=row.received_at,
                    content_hash=row.content_hash,
                    report=row.report if row.outcome == "accepted" else None,
                )
            )
    deadline = DeadlinePolicy.default(year).national
    states = {}
    for code, versions in filed.items():
        current = standing(versions, deadline)
        report = current.counted.report if current.counted else None
        states[code] = SiteState(site=code, status=current.status, report=report)
    rebuilt = recompute_from_states(registry, year, states)
    finished = time.monotonic()
    return {
        "versions": len(rows),
        "nodes": rebuilt["nodes"],
        "read_seconds": round(read - started, 3),
        "rebuild_seconds": round(finished - read, 3),
        "seconds": round(finished - started, 3),
    }


def submitted_like(code: str, report: dict[str, Any], index: int) -> ReportSubmitted:
    """A ``submitted`` event as the intake makes it, for the transport anchor."""
    from shared.contracts import content_hash

    return ReportSubmitted(
        receipt_id=f"bench{index:08d}",
        content_hash=content_hash(report),
        form=str(report["form"]),
        form_version=str(report["form_version"]),
        year=int(report["year"]),
        code=code,
        version=1,
        received_at=datetime.now(UTC),
        submitted_by=f"site:{code}",
        report=report,
    )


def pages_size(root: Path) -> dict[str, Any]:
    files = total = 0
    for path in root.rglob("*"):
        if path.is_file():
            files += 1
            total += path.stat().st_size
    return {"files": files, "megabytes": round(total / 2**20, 1)}

"""The roll-up check: every node's roll-up in the system against an SQL oracle's."""

from __future__ import annotations

import json
import time
from typing import Any

from bench.oracle import AcceptedVersion, compare, postgres_oracle, sqlite_oracle
from shared.deadlines import national_deadline
from shared.forms import WORK_REPORT, count_paths, load_form, yes_no_paths
from shared.registry import Registry


async def system_rollups(nats_url: str, year: int) -> dict[str, dict[str, Any]]:
    """Every node's current roll-up as NIANBAO_ROLLUPS keeps it (last message per subject)."""
    import nats
    from nats.js import api

    client = await nats.connect(nats_url, name="nianbao-bench-rollups")
    try:
        js = client.jetstream()
        config = api.ConsumerConfig(
            deliver_policy=api.DeliverPolicy.LAST_PER_SUBJECT,
            ack_policy=api.AckPolicy.NONE,
            inactive_threshold=60,
        )
        sub = await js.pull_subscribe(
            f"nianbao.rollup.{year}.>", stream="NIANBAO_ROLLUPS", config=config
        )
        out: dict[str, dict[str, Any]] = {}
        while True:
            try:
                msgs = await sub.fetch(500, timeout=2)
            except TimeoutError:
                break
            for msg in msgs:
                event = json.loads(msg.data)
                out[event["node"]] = event["rollup"]["tally"]
            if msgs and msgs[-1].metadata.num_pending == 0:
                break
        await sub.unsubscribe()
        return out
    finally:
        await client.close()


async def rollup_check(
    registry: Registry,
    year: int,
    nats_url: str,
    versions: list[AcceptedVersion],
    oracle_url: str | None,
) -> dict[str, Any]:
    definition = load_form(WORK_REPORT)
    counts, yes_no = count_paths(definition), yes_no_paths(definition)
    deadline = national_deadline(year)
    system = await system_rollups(nats_url, year)
    engine = "sqlite"
    started = time.monotonic()
    oracle = None
    if oracle_url:
        try:
            oracle = await postgres_oracle(
                oracle_url, registry, year, versions, counts, yes_no, deadline
            )
            engine = "postgresql"
        except (TimeoutError, OSError, ImportError) as exc:
            engine = f"sqlite (PostgreSQL unreachable: {exc.__class__.__name__})"
    if oracle is None:
        oracle = sqlite_oracle(registry, year, versions, counts, yes_no, deadline)
    seconds = time.monotonic() - started
    differences = compare(registry, system, oracle)
    return {
        "engine": engine,
        "nodes": len(registry.nodes),
        "nodes_with_sites": len(oracle),
        "oracle_seconds": round(seconds, 3),
        "differences": len(differences),
        "first_differences": differences[:10],
        "ok": not differences,
    }

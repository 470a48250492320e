"""One benchmark run: a national registry, the system, the burst, the amendments, the checks."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from bench.amendments import amend
from bench.anchors import (
    recompute_from_states,
    recompute_from_store,
    submitted_like,
    transport_ceiling,
)
from bench.figures import (
    TARGETS,
    cpu_spent,
    idle_figures,
    intake_figures,
    memory_figures,
    per_report_ms,
    targets,
)
from bench.floor import FLOOR_SAMPLE, floor_anchor, pipeline_multiple, service_batch
from bench.load import Burst, encode_post
from bench.measure import best_seconds, load_average, steal_seconds
from bench.oracle import AcceptedVersion
from bench.reports import work_report
from bench.rollup_check import rollup_check, system_rollups
from bench.system_under_test import REPORTS_PATH, Options, Target
from bench.watch import EventWatch, wait_for
from shared.filings import current_reporting_year
from shared.forms import check_report
from shared.registry import Registry
from shared.rollup import SiteState


async def settle(target: Target, watch: EventWatch, within: float) -> float:
    """Wait until the publisher has nothing left to render and roll-ups are quiet; seconds."""
    started = time.monotonic()

    def quiet() -> bool:
        last = max(watch.rollup_last.values(), default=0.0)
        dirty = target.dirty_pages()
        return time.monotonic() - last > 1.0 and (dirty is None or dirty == 0)

    await wait_for(quiet, within, interval=0.2)
    return time.monotonic() - started


def sample_checked(registry: Registry, reports: dict[str, dict[str, Any]], every: int) -> int:
    """Judge a sample of the generated reports as the validator will; all must be accepted."""
    codes = sorted(reports)[::every]
    for code in codes:
        result = check_report(reports[code], registry)
        if not result.accepted or result.issues:
            raise AssertionError(f"the generated report of {code} is not clean: {result.issues}")
    return len(codes)


#: checks of one report timed for the machine's speed (the validator's own work, no I/O)
REFERENCE_CHECKS = 100


def machine_speed(registry: Registry, reports: dict[str, dict[str, Any]]) -> float:
    """Milliseconds one ``check_report`` takes here, best of five timings of a fixed report:
    the same code costs more on a slower or busier machine, so figures from different machines
    (or from one machine on different days) compare only next to this."""
    report = reports[min(reports)]

    def work() -> None:
        for _ in range(REFERENCE_CHECKS):
            check_report(report, registry)

    return round(best_seconds(work) / REFERENCE_CHECKS * 1000, 3)


async def run_bench(options: Options) -> dict[str, Any]:
    """The whole run; returns the JSON report."""
    from shared.registry.national import national_registry

    if options.registry_file is not None:
        from shared.runtime.registry_files import load_registry

        registry = load_registry(options.registry_file)
    else:
        registry = national_registry(options.sites, options.seed)
    year = options.year or current_reporting_year(datetime.now(UTC))
    report_seed = options.report_seed
    if report_seed is None:
        report_seed = options.seed if options.url is None else int(time.time())
    result: dict[str, Any] = {
        "sites": sum(1 for site in registry.sites.values() if site.active_in(year)),
        "nodes": len(registry.nodes),
        "year": year,
        "processes": options.processes,
        "concurrency": options.concurrency,
        "rate": options.rate,
        "target": "started here" if options.url is None else options.url,
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "load_average_before": load_average(),
    }
    target = Target(options, registry)
    starting = asyncio.ensure_future(asyncio.to_thread(target.start))
    try:
        await asyncio.shield(starting)
    except asyncio.CancelledError:
        # stopped while the system starts: let it finish starting, then stop all of it
        with contextlib.suppress(Exception):
            await starting
        target.stop()
        raise
    watch = EventWatch(year)
    burst: Burst | None = None
    try:
        result["startup_seconds"] = (
            None if target.startup_seconds is None else round(target.startup_seconds, 2)
        )
        await watch.start(target.nats_url)
        result["settle_before_seconds"] = round(await settle(target, watch, 300), 2)
        tokens = target.tokens()
        reports = {
            code: work_report(site, year, report_seed)
            for code, site in registry.sites.items()
            if site.active_in(year)
        }
        result["reports_checked"] = sample_checked(registry, reports, max(1, len(reports) // 200))
        result["machine"] = {
            "cores": os.cpu_count(),
            "check_ms_before": machine_speed(registry, reports),
        }
        order = sorted(reports)
        random.Random(report_seed).shuffle(order)
        host = urlsplit(target.intake_url).netloc
        bodies = {code: json.dumps(reports[code], ensure_ascii=False).encode() for code in order}
        requests = [
            (code, encode_post(host, REPORTS_PATH, tokens[code], bodies[code])) for code in order
        ]
        burst = Burst(
            target.intake_url,
            requests,
            options.processes,
            options.concurrency,
            options.rate,
            options.max_connections,
        )
        await asyncio.to_thread(burst.start)
        result["load_average_at_start"] = load_average()
        cpu_before, steal_before = target.cpu(), steal_seconds()
        fired = burst.fire()
        posted = await asyncio.to_thread(burst.results, options.timeout)
        result["intake"] = intake_figures(
            posted,
            fired,
            options.rate,
            burst.connections,
            burst.in_flight,
            options.max_connections,
        )
        receipts = {p.body["receipt_id"]: p for p in posted if p.status == 202}
        await wait_for(lambda: all(r in watch.published for r in receipts), options.timeout, 0.05)
        published = [watch.published[r] for r in receipts if r in watch.published]
        end = max(published, default=fired)
        result["end_to_end"] = {
            "receipts": len(receipts),
            "published": len(published),
            "seconds": round(end - fired, 2),
            "rate_per_s": round(len(published) / (end - fired), 1) if published else 0.0,
        }
        result["cpu_seconds_burst"] = cpu_spent(cpu_before, target.cpu())
        result["cpu_ms_per_report"] = per_report_ms(result["cpu_seconds_burst"], len(published))
        steal_after = steal_seconds()
        if steal_before is not None and steal_after is not None:
            result["machine"]["steal_seconds_burst"] = round(steal_after - steal_before, 1)
        accepted = {r for r in receipts if r in watch.accepted}
        national_sum = sum(
            reports[p.code]["services"]["cases"]["total"]
            for r, p in receipts.items()
            if r in accepted
        )
        n_sites = len({p.code for r, p in receipts.items() if r in accepted})
        complete = await wait_for(
            lambda: watch.national_since(
                fired, lambda n: n.reported == n_sites and n.tracked_sum == national_sum
            ),
            options.timeout,
        )
        settled = await settle(target, watch, options.timeout)
        result["rollups"] = {
            "national_complete_seconds": None if complete is None else round(complete - fired, 2),
            "all_final_seconds": round(max(watch.rollup_last.values()) - fired, 2),
            "events": watch.rollup_messages,
            # one per batch the aggregator counted: the floor counts in batches of that size
            "national_events": sum(1 for seen in watch.national if seen.at >= fired),
            "verdicts": {"accepted": len(accepted), "rejected": len(watch.rejected)},
        }
        result["pages"] = {
            "settled_seconds": round(time.monotonic() - fired, 2) if target.local else None,
            "settle_wait_seconds": round(settled, 2),
            **target.pages(),
        }
        versions = [
            AcceptedVersion(
                p.code,
                int(p.body["version"]),
                datetime.fromisoformat(p.body["received_at"]),
                reports[p.code],
            )
            for r, p in receipts.items()
            if r in accepted
        ]
        result["amendments"], amended_versions = await amend(
            target, watch, tokens, reports, options.amendments, national_sum
        )
        versions += amended_versions
        result["rollup_check"] = await rollup_check(
            registry, year, target.nats_url, versions, options.oracle_url
        )
        result["memory_mb"] = memory_figures(target.memory())
        batch = service_batch(len(receipts), result["rollups"]["national_events"])
        result["anchors"] = await anchors(
            options, target, registry, year, reports, bodies, versions, batch
        )
        floor = result["anchors"].get("floor")
        if floor:
            floor.update(pipeline_multiple(result["cpu_ms_per_report"], floor["ms_per_report"]))
        result["machine"]["check_ms_after"] = machine_speed(registry, reports)
        if options.idle_seconds > 0 and target.local:
            result["idle"] = await idle(target, watch, options.idle_seconds, options.timeout)
        result["load_average_after"] = load_average()
        result["targets"] = targets(result)
        return result
    finally:
        if burst is not None:
            burst.stop()
        await watch.stop()
        target.stop()


async def idle(target: Target, watch: EventWatch, seconds: float, within: float) -> dict[str, Any]:
    """Each process's CPU over a quiet window once the burst (and everything after it) has
    settled: what the system costs when nobody files."""
    await settle(target, watch, within)
    before, started = target.cpu(), time.monotonic()
    await asyncio.sleep(seconds)  # the window measured, not a wait for a condition
    return idle_figures(before, target.cpu(), time.monotonic() - started)


async def anchors(
    options: Options,
    target: Target,
    registry: Registry,
    year: int,
    reports: dict[str, dict[str, Any]],
    bodies: dict[str, bytes],
    versions: list[AcceptedVersion],
    floor_batch: int = 1,
) -> dict[str, Any]:
    if not options.anchors:
        return {}
    codes = sorted(reports)
    messages = [submitted_like(code, reports[code], i) for i, code in enumerate(codes)]
    out: dict[str, Any] = {"transport": await transport_ceiling(target.nats_url, messages)}
    out["floor"] = await asyncio.to_thread(
        floor_anchor, registry, year, bodies, FLOOR_SAMPLE, floor_batch
    )
    states = {
        v.code: SiteState(site=v.code, status="on_time", report=v.report)
        for v in sorted(versions, key=lambda v: v.version)
    }
    out["recompute_arithmetic"] = recompute_from_states(registry, year, states)
    database = target.aggregator_database()
    if database is not None:
        out["recompute_from_store"] = await recompute_from_store(registry, year, database)
    return out


__all__ = [
    "REFERENCE_CHECKS",
    "REPORTS_PATH",
    "TARGETS",
    "Options",
    "Target",
    "amend",
    "anchors",
    "cpu_spent",
    "idle",
    "intake_figures",
    "machine_speed",
    "memory_figures",
    "per_report_ms",
    "rollup_check",
    "run_bench",
    "sample_checked",
    "settle",
    "system_rollups",
    "targets",
]

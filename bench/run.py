"""One benchmark run: a national registry, the system, the burst, the amendments, the checks."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import shutil
import sqlite3
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench.anchors import (
    pages_size,
    recompute_from_states,
    recompute_from_store,
    submitted_like,
    transport_ceiling,
)
from bench.load import Burst, Connection, Posted, encode_post
from bench.measure import (
    best_seconds,
    cpu_seconds,
    family_cpu_seconds,
    family_peak_rss_mb,
    load_average,
    peak_rss_mb,
    steal_seconds,
    summary_ms,
)
from bench.oracle import AcceptedVersion, compare, postgres_oracle, sqlite_oracle
from bench.reports import amended, work_report
from bench.watch import EventWatch, NationalSeen, wait_for
from shared.deadlines import national_deadline
from shared.filings import current_reporting_year
from shared.forms import check_report, count_paths, load_form, yes_no_paths
from shared.registry import Registry
from shared.rollup import SiteState

REPORTS_PATH = "/v1/reports"
#: (name, measured key, limit, unit, applies from this many sites)
TARGETS = (
    ("burst end to end", "end_to_end_seconds", 60.0, "s", 14_474),
    ("amendment → national roll-up p99", "amend_rollup_p99_ms", 250.0, "ms", 0),
    ("amendment → site page published p99", "amend_page_p99_ms", 1000.0, "ms", 0),
    ("all services' peak memory", "services_memory_mb", 1024.0, "MiB", 0),
)


@dataclass
class Options:
    sites: int = 14_474
    seed: int = 0
    report_seed: int | None = None
    year: int | None = None
    processes: int = 2
    concurrency: int = 64
    amendments: int = 50
    data_dir: Path | None = None
    keep: bool = False
    registry_file: Path | None = None
    url: str | None = None
    nats_url: str | None = None
    tokens_file: Path | None = None
    oracle_url: str | None = None
    timeout: float = 900
    anchors: bool = True


class Target:
    """Where the system under test is: started here (local) or already running (remote)."""

    def __init__(self, options: Options, registry: Registry) -> None:
        self.options = options
        self.registry = registry
        self.system: Any = None
        self.own_dir: Path | None = None
        self.startup_seconds: float | None = None

    @property
    def local(self) -> bool:
        return self.system is not None

    def start(self) -> None:
        options = self.options
        if options.url is not None:
            if options.nats_url is None or options.tokens_file is None:
                raise ValueError("--url needs --nats-url and --tokens")
            return
        from shared.runtime.registry_files import dump_registry
        from tools.launcher import start_system

        data_dir = options.data_dir
        if data_dir is None:
            data_dir = self.own_dir = Path(tempfile.mkdtemp(prefix="nianbao-bench-"))
        elif data_dir.exists() and any(data_dir.iterdir()):
            raise ValueError(f"{data_dir} is not empty: the benchmark starts from a fresh system")
        data_dir.mkdir(parents=True, exist_ok=True)
        registry_file = data_dir / "registry.json"
        dump_registry(self.registry, registry_file)
        started = time.monotonic()
        self.system = start_system(
            data_dir, registry_file, intake_port=0, pages_port=0, nats_port=0
        )
        self.startup_seconds = time.monotonic() - started

    @property
    def intake_url(self) -> str:
        return self.system.intake_url if self.local else str(self.options.url)

    @property
    def nats_url(self) -> str:
        return self.system.nats.url if self.local else str(self.options.nats_url)

    def tokens(self) -> dict[str, str]:
        path = self.system.data_dir / "demo-tokens.json" if self.local else self.options.tokens_file
        assert path is not None
        loaded: dict[str, str] = json.loads(Path(path).read_text(encoding="utf-8"))
        return loaded

    def dirty_pages(self) -> int | None:
        """Pages the publisher still has to render (local SQLite only), else None."""
        if not self.local:
            return None
        path = self.system.data_dir / "publisher.db"
        if not path.exists():
            return None
        try:
            with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5) as db:
                return int(db.execute("SELECT COUNT(*) FROM publisher_dirty").fetchone()[0])
        except sqlite3.Error:
            return None

    def memory(self) -> dict[str, float | None]:
        if not self.local:
            return {}
        # a service's worker processes (the publisher's site page worker) count as its own
        out = {name: family_peak_rss_mb(p.pid) for name, p in self.system.processes.items()}
        out["nats-server"] = peak_rss_mb(self.system.nats.process.pid)
        return out

    def cpu(self) -> dict[str, float | None]:
        """CPU seconds used so far by each process of the system (and this benchmark)."""
        import os

        if not self.local:
            return {}
        out = {name: family_cpu_seconds(p.pid) for name, p in self.system.processes.items()}
        out["nats-server"] = cpu_seconds(self.system.nats.process.pid)
        out["bench (this process)"] = cpu_seconds(os.getpid())
        return out

    def pages(self) -> dict[str, Any]:
        return pages_size(self.system.data_dir / "pages") if self.local else {}

    def aggregator_database(self) -> str | None:
        if not self.local:
            return None
        path = self.system.data_dir / "aggregator.db"
        return f"sqlite+aiosqlite:///{path}" if path.exists() else None

    def stop(self) -> None:
        if self.system is not None:
            self.system.stop()
        if self.own_dir is not None and not self.options.keep:
            shutil.rmtree(self.own_dir, ignore_errors=True)


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


async def amend(
    target: Target,
    watch: EventWatch,
    tokens: dict[str, str],
    reports: dict[str, dict[str, Any]],
    count: int,
    national_sum: int,
    within: float = 60,
) -> tuple[dict[str, Any], list[AcceptedVersion]]:
    """Correct ``count`` sites' reports one after another; time each to the national roll-up
    event that includes it and to its site's published event, both from the 202."""
    codes = sorted(reports)
    chosen = [codes[i * len(codes) // count] for i in range(count)] if count else []
    parts = urlsplit(target.intake_url)
    connection = Connection(parts.hostname or "127.0.0.1", parts.port or 80)
    to_rollup: list[float] = []
    to_page: list[float] = []
    posts: list[float] = []
    timeouts = 0
    versions: list[AcceptedVersion] = []
    for step, code in enumerate(chosen, start=1):
        report = amended(reports[code], step)
        body = json.dumps(report, ensure_ascii=False).encode()
        host = f"{parts.hostname}:{parts.port}"
        sent = time.monotonic()
        status, raw = await connection.exchange(encode_post(host, REPORTS_PATH, tokens[code], body))
        answered = time.monotonic()
        if status != 202:
            raise RuntimeError(f"amendment of {code} answered {status}: {raw[:300]!r}")
        receipt = json.loads(raw)
        reports[code] = report
        national_sum += step
        posts.append(answered - sent)
        expected, receipt_id = national_sum, str(receipt["receipt_id"])

        def counted(seen: NationalSeen, expected: int = expected) -> bool:
            return seen.tracked_sum == expected

        def in_national(sent: float = sent) -> float | None:
            return watch.national_since(sent, counted)

        def published(receipt_id: str = receipt_id) -> float | None:
            return watch.published.get(receipt_id)

        seen = await wait_for(in_national, within)
        page = await wait_for(published, within)
        if seen is None or page is None:
            timeouts += 1
        if seen is not None:
            to_rollup.append(max(0.0, seen - answered))
        if page is not None:
            to_page.append(max(0.0, page - answered))
        versions.append(
            AcceptedVersion(
                code, receipt["version"], datetime.fromisoformat(receipt["received_at"]), report
            )
        )
    await connection.close()
    return {
        "count": len(chosen),
        "timeouts": timeouts,
        "http_ms": summary_ms(posts),
        "to_national_rollup_ms": summary_ms(to_rollup),
        "to_site_page_ms": summary_ms(to_page),
    }, versions


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
    definition = load_form("work-report")
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
        requests = [
            (
                code,
                encode_post(
                    host,
                    REPORTS_PATH,
                    tokens[code],
                    json.dumps(reports[code], ensure_ascii=False).encode(),
                ),
            )
            for code in order
        ]
        burst = Burst(target.intake_url, requests, options.processes, options.concurrency)
        await asyncio.to_thread(burst.start)
        result["load_average_at_start"] = load_average()
        cpu_before, steal_before = target.cpu(), steal_seconds()
        fired = burst.fire()
        posted = await asyncio.to_thread(burst.results, options.timeout)
        result["intake"] = intake_figures(posted, fired)
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
        result["anchors"] = await anchors(options, target, registry, year, reports, versions)
        result["load_average_after"] = load_average()
        result["machine"]["check_ms_after"] = machine_speed(registry, reports)
        result["targets"] = targets(result)
        return result
    finally:
        if burst is not None:
            burst.stop()
        await watch.stop()
        target.stop()


def intake_figures(posted: list[Posted], fired: float) -> dict[str, Any]:
    last = max((p.done for p in posted), default=fired)
    statuses = Counter(str(p.status) for p in posted)
    return {
        "requests": len(posted),
        "statuses": dict(sorted(statuses.items())),
        "seconds": round(last - fired, 2),
        "rate_per_s": round(len(posted) / (last - fired), 1) if posted else 0.0,
        "latency_ms": summary_ms([p.done - p.sent for p in posted]),
    }


def cpu_spent(before: dict[str, float | None], after: dict[str, float | None]) -> dict[str, float]:
    """CPU seconds each process spent between two readings (first POST → last published)."""
    spent = {
        name: round(value - start, 1)
        for name, value in after.items()
        if value is not None and (start := before.get(name)) is not None
    }
    if spent:
        spent["all"] = round(sum(spent.values()), 1)
    return spent


def per_report_ms(spent: dict[str, float], reports: int) -> dict[str, float]:
    """CPU milliseconds per published report, by process: the cost that decides the burst on
    a machine with few cores (every process shares them)."""
    if not reports:
        return {}
    return {name: round(seconds * 1000 / reports, 2) for name, seconds in spent.items()}


def memory_figures(peaks: dict[str, float | None]) -> dict[str, Any]:
    services = ("intake", "validator", "aggregator", "publisher")
    known = {name: value for name, value in peaks.items() if value is not None}
    return {
        "peak_by_process": peaks,
        "services_total": round(sum(known.get(s, 0.0) for s in services), 1) if known else None,
        "all_total": round(sum(known.values()), 1) if known else None,
    }


async def anchors(
    options: Options,
    target: Target,
    registry: Registry,
    year: int,
    reports: dict[str, dict[str, Any]],
    versions: list[AcceptedVersion],
) -> dict[str, Any]:
    if not options.anchors:
        return {}
    codes = sorted(reports)
    messages = [submitted_like(code, reports[code], i) for i, code in enumerate(codes)]
    out: dict[str, Any] = {"transport": await transport_ceiling(target.nats_url, messages)}
    states = {
        v.code: SiteState(site=v.code, status="on_time", report=v.report)
        for v in sorted(versions, key=lambda v: v.version)
    }
    out["recompute_arithmetic"] = recompute_from_states(registry, year, states)
    database = target.aggregator_database()
    if database is not None:
        out["recompute_from_store"] = await recompute_from_store(registry, year, database)
    return out


def targets(result: dict[str, Any]) -> list[dict[str, Any]]:
    measured = {
        "end_to_end_seconds": result.get("end_to_end", {}).get("seconds"),
        "amend_rollup_p99_ms": result["amendments"]["to_national_rollup_ms"]["p99"],
        "amend_page_p99_ms": result["amendments"]["to_site_page_ms"]["p99"],
        "services_memory_mb": result.get("memory_mb", {}).get("services_total"),
    }
    transport = result.get("anchors", {}).get("transport")
    if transport:
        result["anchors"]["pipeline_fraction_of_transport"] = round(
            result["end_to_end"]["rate_per_s"] / transport["rate_per_s"], 3
        )
    recompute = result.get("anchors", {}).get("recompute_from_store") or result.get(
        "anchors", {}
    ).get("recompute_arithmetic")
    p50 = result["amendments"]["to_national_rollup_ms"]["p50"]
    if recompute and p50:
        result["anchors"]["amendment_vs_full_recompute"] = round(
            p50 / (recompute["seconds"] * 1000), 4
        )
    out = []
    for name, key, limit, unit, applies_from in TARGETS:
        value = measured[key]
        applies = result["sites"] >= applies_from
        out.append(
            {
                "target": name,
                "limit": limit,
                "unit": unit,
                "measured": value,
                "applies": applies,
                "met": None if value is None or not applies else value < limit,
            }
        )
    return out

"""Faults while reports flow: each service and the nats-server SIGKILLed at random moments and
restarted; afterwards nothing acknowledged is lost, nothing is counted twice, every verdict is the
validator's own judgement, every roll-up equals an independent SQL recomputation, every page
shows the latest accepted version. Then the aggregator and the pages are rebuilt from the streams
alone, byte for byte. NIANBAO_FAULT_SEED=N replays a run's choices (the seed is printed)."""

from __future__ import annotations

import asyncio
import difflib
import json
import os
import random
import shutil
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from bench.oracle import AcceptedVersion, compare, postgres_oracle, sqlite_oracle
from bench.run import system_rollups
from shared.contracts import DEAD_LETTERS, SUBMISSIONS, VERDICTS, content_hash
from shared.deadlines import national_deadline
from shared.forms import count_paths, load_form, parse_report, yes_no_paths
from shared.registry.demo import demo_registry
from tests.support.chaos import (
    TARGETS,
    Chaos,
    Clients,
    Filed,
    fault_seed,
    intake_receipts,
    page_json,
    page_tallies,
    plan_reports,
)
from tests.support.figures import FAULT_FIGURES
from tests.support.pipeline import (
    YEAR,
    jetstream,
    service_consumers,
    settled_pages,
)
from tests.support.system import tokens_of
from tests.support.waiting import eventually
from tools.launcher import SERVICES, System

SEED = fault_seed()
#: sites filing (each 1-4 POSTs: several hundred reports), rounds of faults per target (each
#: round kills every target once; `make test-faults-soak` runs 200 rounds: 1,000 faults)
SITES = int(os.environ.get("NIANBAO_FAULT_SITES", "200"))
ROUNDS = int(os.environ.get("NIANBAO_FAULT_ROUNDS", "2"))

#: a fault takes a few seconds (quiet, down, restart): the time limit grows with the rounds
pytestmark = [
    pytest.mark.faults,
    pytest.mark.e2e,
    pytest.mark.timeout(600 + 15 * ROUNDS * len(TARGETS)),
]


def ensure_running(system: System) -> None:
    for name in SERVICES:
        process = system.processes.get(name)
        if process is None or process.poll() is not None:
            system.start_service(name)
    system.wait_ready(timeout=120)


async def stream_receipts(url: str, stream: str) -> Counter[str]:
    """How many messages of each receipt a stream holds (by its events' receipt_id)."""
    async with jetstream(url) as js:
        info = await js.stream_info(stream)
        found: Counter[str] = Counter()
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            msg = await js.get_msg(stream, seq)
            found[json.loads(msg.data or b"{}")["receipt_id"]] += 1
        return found


async def all_published(system: System, receipts: set[str], within: float) -> None:
    async def done() -> bool:
        rows = intake_receipts(system.data_dir)
        return all(rows.get(r, {}).get("published_at") for r in receipts)

    await eventually(done, within=within, interval=0.5)


async def oracle_figures(
    postgres_database: str | None, versions: list[AcceptedVersion]
) -> tuple[str, dict[str, dict[str, Any]]]:
    registry = demo_registry()
    definition = load_form("work-report")
    counts, yes_no = count_paths(definition), yes_no_paths(definition)
    deadline = national_deadline(YEAR)
    if postgres_database is not None:
        figures = await postgres_oracle(
            postgres_database, registry, YEAR, versions, counts, yes_no, deadline
        )
        return "PostgreSQL GROUP BY ROLLUP", figures
    return "SQLite GROUP BY per depth", sqlite_oracle(
        registry, YEAR, versions, counts, yes_no, deadline
    )


async def test_nothing_acknowledged_is_lost_or_doubled_under_faults(
    system: System, postgres_database: str | None
) -> None:
    print(f"\nNIANBAO_FAULT_SEED={SEED}")
    FAULT_FIGURES["seed (NIANBAO_FAULT_SEED)"] = SEED
    replay = f"replay with NIANBAO_FAULT_SEED={SEED}"
    rng = random.Random(SEED)
    registry = demo_registry()
    plans = plan_reports(registry, YEAR, rng, SITES)
    clients = Clients(system, tokens_of(system))
    chaos = Chaos(system, random.Random(rng.random()))
    clients_done = asyncio.Event()
    started = time.monotonic()

    async def push() -> None:
        try:
            await clients.push(plans, paced_by=chaos)
        finally:
            clients_done.set()

    await asyncio.gather(push(), chaos.run(ROUNDS, clients_done))
    pushed = time.monotonic() - started
    ensure_running(system)
    filed: list[Filed] = clients.filed
    receipts = {f.receipt["receipt_id"] for f in filed}
    await all_published(system, receipts, within=180)
    await settled_pages(system, service_consumers(), within=180)
    settled = time.monotonic() - started

    FAULT_FIGURES.update(
        {
            "reports pushed (POSTs answered 202)": len(filed),
            "distinct receipts": len(receipts),
            "planned kinds": dict(Counter(f.planned.kind for f in filed)),
            "faults injected": len(chaos.faults),
            "faults by target": dict(Counter(f.target for f in chaos.faults)),
            "fault schedule (target@s, seconds down)": ", ".join(
                f"{f.target}@{f.at:.1f}/{f.down:.1f}" for f in chaos.faults
            ),
            **clients.fault_figures(),
            "seconds: pushing with faults / until settled": f"{pushed:.0f} / {settled:.0f}",
        }
    )
    assert {f.target for f in chaos.faults} == set(TARGETS), replay
    # the point of the run: kills landed while clients posted, and they retried until a 202
    assert clients.faults_met > 0, f"no request met a fault: {clients.answers}; {replay}"

    # ---- nothing lost, nothing extra: the intake's receipts are exactly the 202s, and each is
    # in the audit log and judged once
    rows = intake_receipts(system.data_dir)
    assert set(rows) == receipts, replay
    submitted = await stream_receipts(system.nats.url, SUBMISSIONS.name)
    judged = await stream_receipts(system.nats.url, VERDICTS.name)
    assert set(submitted) == set(judged) == receipts, replay
    FAULT_FIGURES["extra copies of a receipt in SUBMISSIONS/VERDICTS (server dedupe missed)"] = (
        sum(submitted.values()) - len(submitted) + sum(judged.values()) - len(judged)
    )
    versions_per_site = Counter((r["code"], r["version"]) for r in rows.values())
    assert max(versions_per_site.values()) == 1, replay  # one receipt per (site, version)

    # ---- every verdict is the validator's own judgement (`nianbao forms check`)
    for f in filed:
        row = rows[f.receipt["receipt_id"]]
        parsed = parse_report(f.planned.body).report
        assert parsed is not None and row["content_hash"] == content_hash(parsed), replay
        assert row["outcome"] == ("accepted" if f.planned.accepted else "rejected"), (
            f.planned.code,
            f.planned.kind,
            replay,
        )

    # ---- the latest accepted version counts, once
    latest: dict[str, dict[str, Any]] = {}
    for row in rows.values():
        if row["outcome"] == "accepted" and (
            row["code"] not in latest or row["version"] > latest[row["code"]]["version"]
        ):
            latest[row["code"]] = row
    pages = system.data_dir / "pages"
    for code in {f.planned.code for f in filed}:
        page = page_json(pages, f"sites/{YEAR}/{code}/report.json")
        assert page is not None, (code, replay)
        counted = page["counted"]
        mine = sorted(r["receipt_id"] for r in rows.values() if r["code"] == code)
        assert sorted(v["receipt_id"] for v in page["versions"]) == mine, (code, replay)
        if code in latest:
            assert counted is not None, (code, replay)
            assert counted["receipt_id"] == latest[code]["receipt_id"], (code, replay)
            assert page["status"] == "on_time", (code, replay)
        else:
            assert counted is None and page["status"] == "rejected", (code, replay)

    # ---- every roll-up, in the stream and on its page, equals an independent recomputation
    accepted = [
        AcceptedVersion(
            f.planned.code,
            int(f.receipt["version"]),
            datetime.fromisoformat(f.receipt["received_at"]),
            f.planned.body,
        )
        for f in {f.receipt["receipt_id"]: f for f in filed if f.planned.accepted}.values()
    ]
    engine, oracle = await oracle_figures(postgres_database, accepted)
    FAULT_FIGURES["roll-up oracle"] = f"{engine}, {len(registry.nodes)} nodes"
    streamed = await system_rollups(system.nats.url, YEAR)
    assert compare(registry, streamed, oracle) == [], replay
    published = page_tallies(pages, YEAR, sorted(registry.nodes))
    assert compare(registry, published, oracle) == [], replay
    national = published["CN"]
    assert national["reported"] == len(latest), replay
    FAULT_FIGURES["sites counted (nation)"] = (
        f"{national['reported']} = sites with an accepted version"
    )

    # ---- handlers that failed while a peer was down were retried and succeeded: nothing is
    # dead-lettered from real traffic
    async with jetstream(system.nats.url) as js:
        dead = (await js.stream_info(DEAD_LETTERS.name)).state.messages
    assert dead == 0, replay
    logs = "".join(
        p.read_text(encoding="utf-8", errors="replace")
        for p in (system.data_dir / "logs").glob("*.log")
    )
    FAULT_FIGURES["handler failures retried, then handled (logs)"] = (
        f"{logs.count('; retrying one by one')} batches, "
        f"{logs.count(' failed (delivery ')} messages; 0 dead-lettered"
    )


def test_the_aggregator_and_pages_rebuild_from_the_streams_alone(system: System) -> None:
    """`nianbao rebuild`: stop aggregator and publisher, rebuild, start: every page file comes
    back byte for byte (after the faults above, or on its own)."""
    ensure_running(system)
    before = asyncio.run(settled_pages(system, service_consumers(), within=180))
    assert any(name.endswith("rollup.json") for name in before)
    for name in ("aggregator", "publisher"):
        system.stop_service(name)
    kept = system.data_dir / "pages-before-rebuild"
    shutil.rmtree(kept, ignore_errors=True)
    shutil.copytree(system.data_dir / "pages", kept)
    started = time.monotonic()
    nianbao = str(Path(sys.executable).parent / "nianbao")
    done = subprocess.run(
        [nianbao, "rebuild", "--data-dir", str(system.data_dir), "--service", "all"],
        env=system.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert not any((system.data_dir / "pages").iterdir())
    assert not (system.data_dir / "aggregator.db").exists()
    for name in ("aggregator", "publisher"):
        system.start_service(name)
    system.wait_ready(timeout=120)
    after = asyncio.run(settled_like(system, before, within=240))
    took = time.monotonic() - started
    missing = sorted(set(before) - set(after))
    extra = sorted(set(after) - set(before))
    changed = sorted(p for p in set(before) & set(after) if before[p] != after[p])
    assert (missing, extra, changed) == ([], [], []), (
        f"{len(changed)} changed, {Counter(p.split('/')[0] for p in changed)}; "
        + first_difference(kept, system.data_dir / "pages", (missing + extra + changed)[:1])
    )
    FAULT_FIGURES["rebuild"] = f"{len(after)} page files byte-identical, {took:.0f} s to rebuild"


async def settled_like(system: System, before: dict[str, str], within: float) -> dict[str, str]:
    """The pages once settled and equal to ``before``, or as they are at the deadline (a costly
    node page may be rendered a moment after the pipeline looks idle)."""
    deadline = time.monotonic() + within
    while True:
        now = await settled_pages(system, service_consumers(), within=within)
        if now == before or time.monotonic() > deadline:
            return now
        await asyncio.sleep(1)


def first_difference(before: Path, after: Path, names: list[str]) -> str:
    for name in names:
        old = (
            (before / name).read_text(encoding="utf-8").splitlines()
            if (before / name).exists()
            else []
        )
        new = (
            (after / name).read_text(encoding="utf-8").splitlines()
            if (after / name).exists()
            else []
        )
        return "\n".join(list(difflib.unified_diff(old, new, name, name, lineterm="", n=2))[:40])
    return ""

"""Fault injection on a running system: SIGKILL a service or the nats-server at a random moment
and restart it; clients that retry what got no answer (connection errors, 5xx), their filings
spread over the whole chaos."""

from __future__ import annotations

import asyncio
import copy
import json
import os
import random
import secrets
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from shared.forms import check_report
from shared.registry import Registry
from tests.support.reports import work_report_for
from tools.launcher import SERVICES, System
from tools.natsserver import start_nats_server

#: what the suite kills: the four services and the nats-server itself
TARGETS = (*SERVICES, "nats")


def fault_seed() -> int:
    """NIANBAO_FAULT_SEED replays a run; otherwise a fresh seed (printed by the suite)."""
    given = os.environ.get("NIANBAO_FAULT_SEED", "").strip()
    return int(given) if given else secrets.randbelow(2**31)


# ------------------------------------------------------------------ the reports


@dataclass
class Planned:
    """One POST a client will make (and repeat until it gets a 202)."""

    code: str
    body: dict[str, Any]
    kind: str  # new, amendment, duplicate, invalid, undo
    accepted: bool  # what `nianbao forms check` says of the body


@dataclass
class Filed:
    planned: Planned
    receipt: dict[str, Any]
    attempts: int


def plan_reports(
    registry: Registry, year: int, rng: random.Random, sites: int
) -> list[list[Planned]]:
    """Per site, the POSTs in the order its client makes them: a first version, amendments,
    exact duplicates of what was just sent, and versions the validator rejects (UV > PV)."""
    codes = sorted(c for c, s in registry.sites.items() if s.active_in(year))
    plans: list[list[Planned]] = []
    for code in sorted(rng.sample(codes, min(sites, len(codes)))):
        site = registry.sites[code]
        steps: list[tuple[str, dict[str, Any]]] = []
        if rng.random() < 0.06:  # a site whose only filing is rejected
            steps.append(("invalid", invalid(work_report_for(site, year, rng.randint(1, 4)))))
        else:
            steps.append(("new", work_report_for(site, year, rng.randint(1, 4))))
        for _ in range(rng.choice((0, 1, 1, 2))):
            roll = rng.random()
            if roll < 0.2:
                steps.append(("invalid", invalid(work_report_for(site, year, rng.randint(1, 9)))))
            elif roll < 0.45:
                steps.append(("duplicate", copy.deepcopy(steps[-1][1])))
            else:
                amended = work_report_for(site, year, rng.randint(1, 9))
                amended["interaction"]["smart_qa"] = rng.random() < 0.5
                steps.append(("amendment", amended))
        if len(steps) > 1 and steps[-1][1] != steps[0][1] and rng.random() < 0.3:
            # back to the first content: a new version, and every roll-up above goes A -> B -> A
            steps.append(("undo", copy.deepcopy(steps[0][1])))
        if rng.random() < 0.25:
            steps.append(("duplicate", copy.deepcopy(steps[-1][1])))
        plans.append(
            [
                Planned(code, body, kind, check_report(body, registry).accepted)
                for kind, body in steps
            ]
        )
    return plans


def invalid(report: dict[str, Any]) -> dict[str, Any]:
    """Well-formed, but the validator rejects it: more unique visitors than page views."""
    report["traffic"]["unique_visitors"] = report["traffic"]["page_views"] + 1
    return report


@dataclass
class Clients:
    """Concurrent sites filing over HTTP, each retrying a POST that got no answer or a 5xx
    with the same body, until it gets a 202."""

    system: System
    tokens: dict[str, str]
    concurrency: int = 12
    give_up_after: float = 240
    filed: list[Filed] = field(default_factory=list)
    retries: int = 0
    answers: dict[str, int] = field(default_factory=dict)
    #: answers that were a fault: a connection error or timeout (0 in ``answers``' keys: its
    #: exception's name) or a 5xx
    faults_met: int = 0

    async def push(self, plans: list[list[Planned]], paced_by: Chaos | None = None) -> None:
        """File every plan; with ``paced_by``, the i-th of n plans waits for i/n of the chaos's
        faults, so that the filings are spread over the whole chaos and kills land while
        clients post (unpaced, they were done before the first kill reached the intake)."""
        queue: asyncio.Queue[tuple[int, list[Planned]]] = asyncio.Queue()
        for index, plan in enumerate(plans):
            queue.put_nowait((index, plan))
        limits = httpx.Limits(max_connections=self.concurrency)
        async with httpx.AsyncClient(timeout=20, limits=limits) as client:

            async def worker() -> None:
                while not queue.empty():
                    index, plan = queue.get_nowait()
                    if paced_by is not None:
                        await paced_by.reached(index / len(plans))
                    for planned in plan:
                        self.filed.append(await self.file(client, planned))

            await asyncio.gather(*(worker() for _ in range(self.concurrency)))

    async def file(self, client: httpx.AsyncClient, planned: Planned) -> Filed:
        url = f"{self.system.intake_url}/v1/reports"
        headers = {"Authorization": f"Bearer {self.tokens[planned.code]}"}
        deadline = time.monotonic() + self.give_up_after
        attempts, pause = 0, 0.1
        while True:
            attempts += 1
            try:
                response = await client.post(url, json=planned.body, headers=headers)
                status = response.status_code
            except httpx.TransportError as exc:
                status, response = 0, None
                self.answers[type(exc).__name__] = self.answers.get(type(exc).__name__, 0) + 1
            else:
                self.answers[str(status)] = self.answers.get(str(status), 0) + 1
            if response is not None and status == 202:
                return Filed(planned, response.json(), attempts)
            if response is not None and status < 500:
                raise AssertionError(f"{planned.code} {planned.kind}: {status} {response.text}")
            self.faults_met += 1
            if time.monotonic() > deadline:
                raise AssertionError(f"{planned.code}: no 202 after {attempts} attempts")
            self.retries += 1
            await asyncio.sleep(pause)
            pause = min(pause * 2, 1.0)

    def fault_figures(self) -> dict[str, Any]:
        """What the clients met, for the suite's figures."""
        met = {k: n for k, n in sorted(self.answers.items()) if not k.isdigit() or k >= "500"}
        return {
            "requests that met a fault (connection error, timeout or 5xx)": (
                f"{self.faults_met} of {sum(self.answers.values())}: {met}"
            ),
            "client retries": self.retries,
            "filings retried at least once": sum(1 for f in self.filed if f.attempts > 1),
            "answers seen": dict(sorted(self.answers.items())),
        }


# ------------------------------------------------------------------ the faults


@dataclass
class Fault:
    target: str
    at: float  # seconds since the chaos began
    down: float  # seconds between the kill and the restart


@dataclass
class Chaos:
    """Kills each target with SIGKILL at random moments and restarts it."""

    system: System
    rng: random.Random
    faults: list[Fault] = field(default_factory=list)
    #: faults this run will inject (known once ``run`` began)
    planned: int = 0
    _progress: asyncio.Condition = field(default_factory=asyncio.Condition)
    _over: bool = False

    async def run(self, rounds: int, stop: asyncio.Event) -> None:
        """Every target ``rounds`` times in a seeded order; after the clients are done (``stop``)
        the remaining faults still hit the pipeline draining its backlog."""
        order = [t for _ in range(rounds) for t in self.rng.sample(TARGETS, len(TARGETS))]
        self.planned = len(order)
        began = time.monotonic()
        try:
            for target in order:
                quiet = (
                    self.rng.uniform(0.3, 2.5) if not stop.is_set() else self.rng.uniform(0.1, 0.6)
                )
                await asyncio.sleep(quiet)
                down = self.rng.uniform(0.1, 1.5)
                at = round(time.monotonic() - began, 2)
                self.faults.append(Fault(target, at, round(down, 2)))
                await asyncio.to_thread(self.kill, target)
                await self._progressed()
                await asyncio.sleep(down)
                await asyncio.to_thread(self.restart, target)
        finally:
            self._over = True  # whatever happened, no client waits for faults that never come
            await self._progressed()

    async def _progressed(self) -> None:
        async with self._progress:
            self._progress.notify_all()

    async def reached(self, fraction: float) -> None:
        """Return once ``fraction`` of the planned faults were injected (or the chaos ended)."""
        async with self._progress:
            await self._progress.wait_for(
                lambda: (
                    self._over or (self.planned > 0 and len(self.faults) >= fraction * self.planned)
                )
            )

    def kill(self, target: str) -> None:
        if target == "nats":
            self.system.nats.kill()
        else:
            self.system.stop_service(target, kill=True)

    def restart(self, target: str) -> None:
        if target == "nats":
            old = self.system.nats
            self.system.nats = start_nats_server(
                old.store_dir,
                port=old.port,
                monitor_port=old.monitor_port,
                log_file=self.system.data_dir / "logs" / "nats.log",
                timeout=60,
            )
        else:
            self.system.start_service(target)
            self.system.wait_ready(timeout=120)


# ------------------------------------------------------------------ what the system kept


def intake_receipts(data_dir: Path) -> dict[str, dict[str, Any]]:
    """Every receipt the intake holds (its own SQLite file, read-only)."""
    with sqlite3.connect(f"file:{data_dir / 'intake.db'}?mode=ro", uri=True) as db:
        db.row_factory = sqlite3.Row
        rows = db.execute(
            "SELECT r.receipt_id, code, version, content_hash, received_at, outcome, in_stream,"
            " published_at, b.report FROM intake_receipts r"
            " LEFT JOIN intake_reports b ON b.receipt_id = r.receipt_id"
        ).fetchall()
    return {r["receipt_id"]: dict(r) | {"report": json.loads(r["report"])} for r in rows}


def page_json(pages: Path, path: str) -> dict[str, Any] | None:
    file = pages / path
    if not file.exists():
        return None
    loaded: dict[str, Any] = json.loads(file.read_text(encoding="utf-8"))
    return loaded


def page_tallies(pages: Path, year: int, nodes: list[str]) -> dict[str, dict[str, Any]]:
    """Each node's figures as its published rollup.json shows them (the oracle's shape)."""
    out: dict[str, dict[str, Any]] = {}
    for node in nodes:
        page = page_json(pages, f"rollups/{year}/{node}/rollup.json")
        if page is not None:
            out[node] = {**page["figures"], "sums": page["sums"], "yes_counts": page["yes_counts"]}
    return out

"""The aggregator under an imported registry: the roll-ups that change are published, the moved
sites' filings re-stated, and what it holds equals a fresh start on the new registry."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from pydantic import BaseModel

from services.aggregator.handlers import Aggregator
from services.aggregator.ports import Outlets, Ports
from services.aggregator.store import Journal, SupervisionStore, VersionStore, as_verdict
from shared.contracts import ReportAggregated, ReportJudged, RollupUpdated
from shared.deadlines import DeadlinePolicy, national_deadline
from shared.registry import Registry
from shared.registry.demo import demo_registry
from shared.runtime.db import make_engine
from shared.runtime.messaging import Envelope
from tests.support.reports import work_report_for

YEAR = 2026
CLOSED, MOVED, STAYS = "5109030001", "bm07230001", "1100000088"


def own(registry: Registry) -> Registry:
    return Registry(registry.nodes.values(), registry.sites.values())


def imported() -> Registry:
    sites = dict(demo_registry().sites)
    sites[CLOSED] = sites[CLOSED].model_copy(update={"active_to": YEAR - 1, "ended_by": "closed"})
    sites[MOVED] = sites[MOVED].model_copy(update={"admin_node": "CN", "dept_node": "bm07"})
    return Registry(demo_registry().nodes.values(), sites.values())


def policy(year: int) -> DeadlinePolicy:
    return DeadlinePolicy(year=year, national=national_deadline(year))


def verdict(code: str, receipt: str) -> ReportJudged:
    at = datetime(YEAR, 12, 1, tzinfo=UTC)
    return ReportJudged(
        outcome="accepted",
        receipt_id=receipt,
        content_hash=receipt,
        form="work-report",
        form_version="2018",
        year=YEAR,
        code=code,
        version=1,
        received_at=at,
        judged_at=at,
        report=work_report_for(demo_registry().sites[code], YEAR),
        issues=[],
    )


class Counting:
    def __init__(self, database_url: str, registry: Registry) -> None:
        self.engine = make_engine(database_url)
        self.versions = VersionStore(self.engine)
        self.supervision = SupervisionStore(self.engine)
        self.published: list[tuple[str, BaseModel, str]] = []
        outlets = Outlets(rollups=self.publish, progress=self.publish, reminders=self.publish)
        journal = Journal(self.engine)
        ports = Ports(self.versions, self.supervision, self.supervision, journal, outlets)
        self.aggregator = Aggregator(registry, policy, ports)

    async def publish(self, items: Sequence[tuple[str, BaseModel, str]]) -> None:
        self.published.extend(items)

    async def load(self) -> None:
        await self.versions.create()
        await self.supervision.create()
        self.aggregator.books.load([as_verdict(row) for row in await self.versions.all()])


async def test_a_switch_counts_as_a_fresh_start_on_the_new_registry(database_url: str) -> None:
    registry = own(demo_registry())
    running = Counting(database_url, registry)
    await running.load()
    batch: list[Envelope[Any]] = [
        Envelope(SimpleNamespace(subject="nianbao.test"), verdict(code, f"r-{code}"))  # type: ignore[arg-type]
        for code in (CLOSED, MOVED, STAYS)
    ]
    await running.aggregator.on_verdicts(batch)
    running.published.clear()

    await running.aggregator.switch_registry(imported(), registry.adopt, [YEAR], "registry:test")

    rollups = {e.node: e for _s, e, _id in running.published if isinstance(e, RollupUpdated)}
    # bm07's figures stay (the site moved within its system): not published again
    assert {"510903", "510900", "510000", "CN", "bm07-510000"} == set(rollups)
    assert rollups["510903"].rollup["tally"]["reported"] == 0  # the closed site counts no more
    assert rollups["bm07-510000"].rollup["tally"]["reported"] == 0
    restated = {
        e.receipt_id: (e.nodes, msg_id)
        for _s, e, msg_id in running.published
        if isinstance(e, ReportAggregated)
    }
    assert restated == {
        f"r-{CLOSED}": (
            ["510903", "510900", "510000", "CN"],
            f"aggregated:r-{CLOSED}:registry:test",
        ),
        f"r-{MOVED}": (["CN", "bm07"], f"aggregated:r-{MOVED}:registry:test"),
    }

    fresh = Counting(database_url, imported())
    await fresh.load()
    assert running.aggregator.books.all_rollups([YEAR]) == fresh.aggregator.books.all_rollups(
        [YEAR]
    )
    await running.engine.dispose()
    await fresh.engine.dispose()

"""The aggregator counts publication per node (declared, verified, verified on time, and each
other state), from declarations, the verifier's checks and offices' judgements, in the roll-up
events; two replicas on one database apply each other's facts; a redelivery counts once."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import BaseModel

from services.aggregator.handlers import Aggregator
from services.aggregator.ports import Outlets, Ports
from services.aggregator.publication import PublicationCounting, PublicationStore
from services.aggregator.store import Journal, SupervisionStore, VersionStore
from shared.contracts import RollupUpdated
from shared.deadlines import DeadlinePolicy, national_deadline
from shared.publication import (
    Finding,
    PublicationChecked,
    PublicationDeclared,
    PublicationJudged,
)
from shared.registry.demo import demo_registry
from shared.runtime.db import make_engine
from shared.runtime.messaging import Envelope

YEAR = 2026
CITY = "510900"
SITES = ["5109030001", "5109040001", "5109000001", "5109000002"]


class Replica:
    def __init__(self, database_url: str) -> None:
        self.engine = make_engine(database_url)
        journal = Journal(self.engine)
        supervision = SupervisionStore(self.engine)
        self.versions = VersionStore(self.engine)
        self.supervision = supervision
        self.published: list[tuple[str, BaseModel, str]] = []
        outlets = Outlets(rollups=self.publish, progress=self.publish, reminders=self.publish)
        ports = Ports(self.versions, supervision, supervision, journal, outlets)
        policy = lambda year: DeadlinePolicy(year=year, national=national_deadline(year))  # noqa: E731
        self.aggregator = Aggregator(demo_registry(), policy, ports)
        self.counting = PublicationCounting(
            self.aggregator.books, PublicationStore(self.engine), ports
        )

    async def publish(self, items: Sequence[tuple[str, BaseModel, str]]) -> None:
        self.published.extend(items)

    async def start(self) -> None:
        await self.versions.create()
        await self.supervision.create()
        await self.counting.store.create()
        await self.counting.load()

    def city(self) -> dict[str, int]:
        latest = [e for _s, e, _i in self.published if isinstance(e, RollupUpdated)]
        mine = [e for e in latest if e.node == CITY]
        counts: dict[str, int] = mine[-1].rollup["tally"]["publication"]
        return counts

    async def take(self, *events: Any) -> None:
        await self.counting.on_events([Envelope(None, e) for e in events])  # type: ignore[arg-type]


@pytest.fixture
async def replicas(database_url: str) -> AsyncIterator[tuple[Replica, Replica]]:
    first, second = Replica(database_url), Replica(database_url)
    await first.start()
    await second.start()
    yield first, second
    await first.engine.dispose()
    await second.engine.dispose()


def declared(code: str, url: str, at: datetime) -> PublicationDeclared:
    return PublicationDeclared(
        declaration_id=f"d{code}{url[-6:]}",
        kind="report",
        code=code,
        year=YEAR,
        url=url,
        declared_by=code,
        at=at,
    )


def checked(
    code: str, url: str, state: str, at: datetime, first: datetime | None = None
) -> PublicationChecked:
    return PublicationChecked(
        check_id=f"c{code}{at.timestamp()}",
        kind="report",
        code=code,
        year=YEAR,
        url=url,
        state=state,  # type: ignore[arg-type]
        checked_at=at,
        first_verified_at=first,
    )


async def test_counts_follow_declarations_checks_and_judgements(
    replicas: tuple[Replica, Replica],
) -> None:
    first, second = replicas
    t0 = datetime(2027, 1, 10, tzinfo=UTC)
    late = national_deadline(YEAR) + timedelta(days=3)
    urls = {code: f"https://{code}.gov.cn/nb/2026.html" for code in SITES}
    await first.take(*(declared(code, urls[code], t0) for code in SITES))
    assert first.city()["declared"] == 4
    assert first.city()["verified"] == 0
    a, b, c, d = SITES
    await first.take(
        checked(a, urls[a], "verified", t0, first=t0),
        checked(b, urls[b], "verified", late, first=late),
        checked(c, urls[c], "not_linked", t0),
    )
    counts = first.city()
    assert (counts["verified"], counts["verified_on_time"], counts["not_linked"]) == (2, 1, 1)
    # the other replica applies the first one's facts with its own next event
    judged = PublicationJudged(
        judgement_id="j1",
        code=c,
        year=YEAR,
        verdict="verified",
        reason="链接在浮窗中，人工确认",
        office=CITY,
        at=t0 + timedelta(days=1),
    )
    await second.take(judged)
    counts = second.city()
    assert (counts["verified"], counts["verified_on_time"], counts["not_linked"]) == (3, 2, 0)
    # a redelivered check is stored and counted once
    await second.take(checked(a, urls[a], "verified", t0, first=t0))
    assert second.city()["verified"] == 3
    # a new URL is pending until it is checked: a check of the old URL no longer counts
    await second.take(declared(d, urls[d] + "?v=2", t0 + timedelta(days=2)))
    await second.take(checked(d, urls[d], "content_differs", t0 + timedelta(days=2)))
    assert second.city()["content_differs"] == 0
    await second.take(checked(d, urls[d] + "?v=2", "content_differs", t0 + timedelta(days=3)))
    counts = second.city()
    assert counts["content_differs"] == 1 and counts["declared"] == 4
    # a restarted replica loads every fact and counts the same
    third = Replica(second.engine.url.render_as_string(hide_password=False))
    await third.start()
    book = third.aggregator.books.book(YEAR)
    assert book.rollup(CITY).tally.publication == counts
    await third.engine.dispose()


async def test_a_check_s_evidence_travels_in_the_site_s_own_roll_up(
    replicas: tuple[Replica, Replica],
) -> None:
    """The roll-up event of the site's own node carries its standing with the summary of the
    latest check (what the site page shows); a new check with only other findings publishes
    that node's roll-up again, the city's counts stay; the event stays small."""
    first, _ = replicas
    code, county = SITES[0], "510903"
    url = f"https://{code}.gov.cn/nb/2026.html"
    t0 = datetime(2027, 1, 10, tzinfo=UTC)
    found = [Finding(kind="footer", message_zh="首页页脚的ICP备案号与报表不一致", message_en="x")]
    await first.take(
        declared(code, url, t0),
        checked(code, url, "verified", t0, first=t0).model_copy(
            update={"findings": found, "link_text": "年度报表", "link_position": "首页 · 页脚"}
        ),
    )

    def own(node: str) -> RollupUpdated:
        return [
            e for _s, e, _i in first.published if isinstance(e, RollupUpdated) and e.node == node
        ][-1]

    standing = own(county).rollup["publication_sites"][code]
    assert standing["state"] == "verified" and standing["on_time"] is True
    assert standing["findings"] == ["首页页脚的ICP备案号与报表不一致"]
    assert (standing["link_text"], standing["link_position"]) == ("年度报表", "首页 · 页脚")
    assert code not in own(CITY).rollup["publication_sites"]  # only its own node's roll-up
    published = len(first.published)
    later = t0 + timedelta(days=1)
    await first.take(checked(code, url, "verified", later, first=t0))
    fresh = [e for _s, e, _i in first.published[published:] if isinstance(e, RollupUpdated)]
    assert {e.node for e in fresh} == {county}  # the counts above did not change
    assert fresh[0].rollup["publication_sites"][code]["findings"] == []
    assert len(fresh[0].model_dump_json()) < 4096


def office_declared(kind: str, node: str, url: str, at: datetime) -> PublicationDeclared:
    return PublicationDeclared(
        declaration_id=f"d{kind}{node}{url[-6:]}",
        kind=kind,  # type: ignore[arg-type]
        code=node,
        year=YEAR,
        url=url,
        declared_by=node,
        at=at,
    )


def office_checked(
    kind: str, node: str, url: str, state: str, at: datetime, coverage: tuple[int, int] | None
) -> PublicationChecked:
    return PublicationChecked(
        check_id=f"c{kind}{node}{at.timestamp()}",
        kind=kind,  # type: ignore[arg-type]
        code=node,
        year=YEAR,
        url=url,
        state=state,  # type: ignore[arg-type]
        checked_at=at,
        coverage=coverage,
    )


async def test_a_province_roll_up_carries_its_own_catalogue_and_column_with_coverage(
    replicas: tuple[Replica, Replica],
) -> None:
    first, second = replicas
    province = "510000"
    t0 = datetime(2027, 1, 10, tzinfo=UTC)
    catalogue = "https://www.sc.gov.cn/zfxxgk/nb2026.html"
    column = "https://www.sc.gov.cn/ndbb/"

    def office_of(replica: Replica, node: str) -> dict[str, Any] | None:
        mine = [
            e for _s, e, _i in replica.published if isinstance(e, RollupUpdated) and e.node == node
        ]
        assert mine, f"no roll-up of {node} was published"
        office: dict[str, Any] | None = mine[-1].rollup["office_publication"]
        return office

    await first.take(office_declared("column", province, column, t0))
    shown = office_of(first, province)
    assert shown is not None
    assert (shown["column_state"], shown["column_url"]) == ("pending", column)
    assert shown["catalogue_state"] == "undeclared"
    await first.take(
        office_declared("catalogue", province, catalogue, t0),
        office_checked("catalogue", province, catalogue, "verified", t0, None),
        office_checked("column", province, column, "not_linked", t0, (37, 212)),
    )
    shown = office_of(first, province)
    assert shown is not None
    assert (shown["catalogue_state"], shown["column_state"]) == ("verified", "not_linked")
    assert (shown["column_covered"], shown["column_sites"]) == (37, 212)
    # a site's declaration touches no office: the city below has none of its own
    await first.take(declared(SITES[0], f"https://{SITES[0]}.gov.cn/nb.html", t0))
    assert office_of(first, CITY) is None
    # the other replica applies these facts with its next one, and a restart loads them
    later = t0 + timedelta(days=1)
    await second.take(office_checked("column", province, column, "verified", later, (212, 212)))
    shown = office_of(second, province)
    assert shown is not None
    assert (shown["catalogue_state"], shown["column_state"]) == ("verified", "verified")
    assert (shown["column_covered"], shown["column_sites"]) == (212, 212)
    third = Replica(second.engine.url.render_as_string(hide_password=False))
    await third.start()
    loaded = third.aggregator.books.book(YEAR).rollup(province).office_publication
    assert loaded is not None and loaded.model_dump(mode="json") == shown
    assert third.aggregator.books.book(YEAR).rollup(CITY).office_publication is None
    await third.engine.dispose()

"""Counting publication (issue 17): declarations, offices' judgements and the verifier's checks,
stored, shared between replicas by sequence number, applied to each site's standing."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Column, select
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import Field, SQLModel

from services.aggregator.books import Books, FilingKey
from services.aggregator.events import RollupSender
from services.aggregator.ports import Ports
from shared.forms import WORK_REPORT
from shared.publication import (
    OfficePublication,
    PublicationChecked,
    PublicationDeclared,
    PublicationJudged,
    PublicationStanding,
    office_publication,
    publication_standing,
    with_evidence,
)
from shared.rollup import NodeRollup
from shared.runtime.db import JsonDocument, create_schema, sql_table
from shared.runtime.messaging import Envelope

PublicationEvent = PublicationDeclared | PublicationJudged | PublicationChecked


class PublicationFact(SQLModel, table=True):
    """One publication event as received, in commit order (``seq``): replicas apply each other's
    facts from it."""

    __tablename__ = "aggregator_publication"

    seq: int | None = Field(default=None, primary_key=True)
    event_id: str = Field(unique=True)
    kind: str  # declared | judged | checked
    body: dict[str, Any] = Field(sa_column=Column(JsonDocument, nullable=False))


def event_id(event: PublicationEvent) -> tuple[str, str]:
    if isinstance(event, PublicationDeclared):
        return "declared", event.declaration_id
    if isinstance(event, PublicationJudged):
        return "judged", event.judgement_id
    return "checked", event.check_id


def as_event(kind: str, body: dict[str, Any]) -> PublicationEvent:
    if kind == "declared":
        return PublicationDeclared.model_validate(body)
    if kind == "judged":
        return PublicationJudged.model_validate(body)
    return PublicationChecked.model_validate(body)


class PublicationStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def create(self) -> None:
        await create_schema(self.engine, [PublicationFact])

    async def add(self, events: Sequence[PublicationEvent]) -> None:
        """Store the events not stored yet (a redelivered one is kept once)."""
        table = sql_table(PublicationFact)
        rows = {eid: (kind, e) for e in events for kind, eid in [event_id(e)]}
        async with self.engine.begin() as conn:
            known = {
                r.event_id
                for r in await conn.execute(
                    select(table.c.event_id).where(table.c.event_id.in_(list(rows)))
                )
            }
            fresh = [
                {"event_id": eid, "kind": kind, "body": e.model_dump(mode="json")}
                for eid, (kind, e) in rows.items()
                if eid not in known
            ]
            if fresh:
                await conn.execute(table.insert(), fresh)

    async def since(self, seq: int) -> list[PublicationFact]:
        table = sql_table(PublicationFact)
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(table).where(table.c.seq > seq).order_by(table.c.seq))
            return [PublicationFact.model_validate(dict(r._mapping)) for r in rows]


@dataclass
class SiteFacts:
    url: str | None = None
    declared_at: datetime | None = None
    check: PublicationChecked | None = None
    judgement: PublicationJudged | None = None


class PublicationFacts:
    """The latest declaration, check and judgement of every site's report per year, and the
    latest check of every office's catalogue entry and 专栏."""

    def __init__(self) -> None:
        self.sites: dict[tuple[str, int], SiteFacts] = {}
        self.offices: dict[tuple[str, str, int], PublicationChecked] = {}
        self.declared_offices: dict[tuple[str, str, int], str] = {}
        self.seq = 0

    def apply(self, event: PublicationEvent) -> tuple[str, int] | None:
        """Take one event; the (site, year) whose standing may have changed."""
        if isinstance(event, PublicationDeclared):
            if event.kind != "report":
                self.declared_offices[(event.kind, event.code, event.year)] = event.url
                return None
            facts = self.sites.setdefault((event.code, event.year), SiteFacts())
            if facts.declared_at is None or event.at >= facts.declared_at:
                facts.url, facts.declared_at = event.url, event.at
            return (event.code, event.year)
        if isinstance(event, PublicationJudged):
            facts = self.sites.setdefault((event.code, event.year), SiteFacts())
            if facts.judgement is None or event.at >= facts.judgement.at:
                facts.judgement = event
            return (event.code, event.year)
        if event.kind != "report":
            key = (event.kind, event.code, event.year)
            if key not in self.offices or event.checked_at >= self.offices[key].checked_at:
                self.offices[key] = event
            return None
        facts = self.sites.setdefault((event.code, event.year), SiteFacts())
        if facts.check is None or event.checked_at >= facts.check.checked_at:
            first = facts.check.first_verified_at if facts.check else None
            if first is not None and event.first_verified_at is not None:
                event = event.model_copy(
                    update={"first_verified_at": min(first, event.first_verified_at)}
                )
            facts.check = event
        return (event.code, event.year)

    def standing(self, code: str, year: int, deadline: datetime) -> PublicationStanding | None:
        facts = self.sites.get((code, year))
        if facts is None:
            return None
        check = facts.check if facts.check and facts.check.url == facts.url else None
        judged = facts.judgement
        standing = publication_standing(
            facts.url,
            check.state if check else None,
            check.checked_at if check else None,
            check.first_verified_at if check else None,
            (judged.verdict, judged.office, judged.reason, judged.at) if judged else None,
            deadline,
        )
        return with_evidence(standing, check) if check is not None else standing

    def office(self, node: str, year: int) -> OfficePublication | None:
        """A province's or department's catalogue entry and 专栏, as its roll-up shows them."""
        return office_publication(
            self.declared_offices.get(("catalogue", node, year)),
            self.offices.get(("catalogue", node, year)),
            self.declared_offices.get(("column", node, year)),
            self.offices.get(("column", node, year)),
        )

    def office_nodes(self, year: int) -> set[str]:
        """The nodes with a declared or checked catalogue entry or 专栏 in a year."""
        keys = set(self.declared_offices) | set(self.offices)
        return {code for (_kind, code, y) in keys if y == year}

    def site_codes(self, year: int) -> set[str]:
        return {code for (code, y) in self.sites if y == year}


class PublicationCounting:
    """The handler of both publication consumers: store, catch up, re-count, publish."""

    def __init__(
        self,
        books: Books,
        store: PublicationStore,
        ports: Ports,
        rollups: RollupSender | None = None,
    ) -> None:
        self.books = books
        self.store = store
        self.ports = ports
        #: the aggregator's sender (its owed roll-ups are the same books' roll-ups)
        self.rollups = rollups or RollupSender(books, ports.outlets.rollups)
        self.facts = PublicationFacts()
        books.publication = self.facts

    async def load(self) -> None:
        for row in await self.store.since(0):
            self.facts.apply(as_event(row.kind, row.body))
            self.facts.seq = max(self.facts.seq, row.seq or 0)

    async def catch_up(self) -> tuple[list[FilingKey], list[NodeRollup]]:
        """Apply the facts stored since this replica's last look (its own and the others'):
        the filings whose standing may have changed, and the roll-ups of the offices whose
        catalogue entry or 专栏 changed. Under the exclusive turn."""
        touched: set[tuple[str, int]] = set()
        offices: set[tuple[str, int]] = set()
        for row in await self.store.since(self.facts.seq):
            event = as_event(row.kind, row.body)
            changed = self.facts.apply(event)
            if changed is not None and changed[0] in self.books.registry.sites:
                touched.add(changed)
            if not isinstance(event, PublicationJudged) and event.kind != "report":
                offices.add((event.code, event.year))
            self.facts.seq = max(self.facts.seq, row.seq or 0)
        rollups = [
            r for node, year in sorted(offices) for r in self.books.recount_office(node, year)
        ]
        return [(code, WORK_REPORT, year) for code, year in sorted(touched)], rollups

    async def on_events(self, batch: list[Envelope[Any]]) -> None:
        async with self.ports.journal.exclusive():
            await self.store.add([e.event for e in batch])
            keys, office_rollups = await self.catch_up()
            changed_rollups = [*office_rollups, *self.books.recount(keys)]
            # one message per node: its latest roll-up
            latest = {(r.year, r.node): r for r in changed_rollups}
            await self.rollups.send(list(latest.values()))

"""What pages need, held in memory and loaded from the store: latest statuses, counts, roll-ups."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast, get_args

from services.publisher.pages.formatting import count_columns, lookup
from services.publisher.pages.records import SiteRow
from services.publisher.store import PublisherStore
from shared.contracts import ReportAggregated, RollupUpdated
from shared.filings import Status
from shared.forms import SUPERVISION_REPORT, WORK_REPORT, layout, load_form
from shared.publication import PublicationStanding
from shared.registry import Registry
from shared.rollup import NodeRollup

STATUSES: frozenset[str] = frozenset(get_args(Status))


@dataclass(frozen=True, slots=True)
class LatestStatus:
    """The aggregator's latest status of a filing, as the publisher holds it (a row of
    ``SiteStanding``; a plain slotted record: ~15,000 of them live as long as the process)."""

    code: str
    form: str
    year: int
    #: the event's stream sequence: a later word replaces an earlier one, never the reverse
    seq: int
    status: Status
    counted_receipt: str | None = None
    received_at: datetime | None = None


def as_status(text: str) -> Status:
    """A status column read back (it was stored from a validated event)."""
    if text not in STATUSES:
        raise ValueError(f"not a filing status: {text!r}")
    return cast(Status, text)


def latest_status(event: ReportAggregated, seq: int) -> LatestStatus:
    return LatestStatus(
        code=event.code,
        form=event.form,
        year=event.year,
        seq=seq,
        status=event.status.status,
        counted_receipt=event.status.counted_receipt,
        received_at=event.status.received_at,
    )


class PageState:
    """The publisher's memory of what its pages show (the store keeps the same, durably)."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.layout = layout(load_form(WORK_REPORT))
        self.count_paths = tuple(path for path, _h in count_columns(self.layout))
        #: (site, year) -> the latest status of its work report
        self.statuses: dict[tuple[str, int], LatestStatus] = {}
        #: (office node, year) -> the latest status of its supervision report
        self.office_statuses: dict[tuple[str, int], LatestStatus] = {}
        #: counted receipt -> its count cells (what column pages show; not the whole report)
        self.counts: dict[str, tuple[Any, ...]] = {}
        self.rollups: dict[tuple[int, str], NodeRollup] = {}
        self.digests: dict[tuple[int, str], str] = {}
        #: counts every change to what pages show (what was worked out from it may be kept
        #: while it stays the same)
        self.changes = 0

    def count_cells(self, report: dict[str, Any]) -> tuple[Any, ...]:
        return tuple(lookup(report, path) for path in self.count_paths)

    async def load(self, store: PublisherStore) -> None:
        self.counts = {
            receipt: self.count_cells(report)
            for receipt, report in (await store.counted_reports()).items()
        }
        for row in await store.standings():
            latest = LatestStatus(
                row.code,
                row.form,
                row.year,
                row.seq,
                as_status(row.status),
                row.counted_receipt,
                row.received_at,
            )
            if latest.form == WORK_REPORT:
                self.statuses[(latest.code, latest.year)] = latest
            elif latest.form == SUPERVISION_REPORT:
                self.office_statuses[(latest.code, latest.year)] = latest
        for rollup in await store.rollups():
            self.rollups[(rollup.year, rollup.node)] = NodeRollup.model_validate(rollup.body)
            self.digests[(rollup.year, rollup.node)] = rollup.digest

    def remember_filing(self, event: ReportAggregated, latest: LatestStatus) -> None:
        self.changes += 1
        if event.form == WORK_REPORT:
            held = self.statuses
            # the count cells of every accepted version, whatever order the words about the
            # filing arrive in (a redelivered or retried event may come after a later one, and
            # the status may then count a version whose own event was skipped below)
            if event.outcome == "accepted" and event.report is not None:
                self.counts.setdefault(event.receipt_id, self.count_cells(event.report))
        elif event.form == SUPERVISION_REPORT:
            held = self.office_statuses
        else:
            return
        key = (event.code, event.year)
        current = held.get(key)
        if current is None or current.seq < latest.seq:
            held[key] = latest

    def remember_rollup(self, event: RollupUpdated) -> bool:
        """Keep a node's roll-up; False when it is the one already kept (same digest)."""
        key = (event.year, event.node)
        if self.digests.get(key) == event.digest:
            return False
        self.digests[key] = event.digest
        self.rollups[key] = NodeRollup.model_validate(event.rollup)
        self.changes += 1
        return True

    def publication_of(self, code: str, year: int) -> PublicationStanding | None:
        """A site's publication standing, from the roll-up of its region's node (or of its
        system's): each node's roll-up carries the standings of its own sites."""
        site = self.registry.sites.get(code)
        if site is None:
            return None
        for node in site.nodes():
            rollup = self.rollups.get((year, node))
            if rollup is not None and code in rollup.publication_sites:
                return rollup.publication_sites[code]
        return None

    def publications_under(self, node: str, year: int) -> dict[str, PublicationStanding]:
        """The publication standing of every site below a node that has one."""
        out = {}
        for code in self.registry.sites_under(node, year):
            standing = self.publication_of(code, year)
            if standing is not None:
                out[code] = standing
        return out

    def site_rows(self, node: str, year: int) -> dict[str, SiteRow]:
        rows = {}
        for code in self.registry.sites_under(node, year):
            latest = self.statuses.get((code, year))
            if latest is None:
                continue
            rows[code] = SiteRow(
                code=code,
                status=latest.status,
                filed_at=latest.received_at,
                counts=self.counts.get(latest.counted_receipt or ""),
            )
        return rows

    def child_rollups(self, year: int, node: str) -> list[NodeRollup]:
        return [
            self.rollups[(year, child)]
            for child in self.registry.children(node)
            if (year, child) in self.rollups
        ]

"""Keeps what pages need, marks the pages a change affects, renders them in coalesced passes."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel

from services.publisher.pages import (
    SUPERVISION_REPORT,
    PageRef,
    ReviewRecord,
    SiteRow,
    VersionRecord,
    affected_pages,
    count_columns,
    has_supervision_page,
    lookup,
    plan_column_page,
    plan_index,
    plan_rollup_page,
)
from services.publisher.render import (
    column_page_files,
    index_files,
    rollup_page_files,
    supervision_page_files,
)
from services.publisher.sites_worker import SiteJob, SiteRenderer
from services.publisher.store import (
    Announcement,
    PublishedVersion,
    PublisherStore,
)
from services.publisher.supervision import plan_supervision_page
from shared.contracts import (
    PagesPublished,
    ReportAggregated,
    ReviewRecorded,
    RollupUpdated,
    published_subject,
)
from shared.forms import layout, load_form
from shared.registry import Level, Registry
from shared.rollup import NodeRollup
from shared.runtime.messaging import Arrivals, Envelope

log = logging.getLogger(__name__)

WORK_REPORT = "work-report"
INDEXED_LEVELS = {Level.NATIONAL, Level.PROVINCE, Level.DEPARTMENT}
Publish = Callable[[Sequence[tuple[str, BaseModel, str]]], Awaitable[None]]
WriteFiles = Callable[[dict[str, bytes]], Awaitable[None]]
RenderSites = Callable[[Sequence[SiteJob]], Awaitable[list[dict[str, bytes]]]]
#: site pages built from one read of the store and written with one flush to disk
SITE_CHUNK = 100
#: while events arrived this recently, node pages sleep BURST_YIELD × their render time after
#: each one: they take at most a twentieth of a core from the pipeline during a burst (they are
#: rendered in full once it is over)
BURST_QUIET_SECONDS = 1.0
BURST_YIELD = 19.0
#: a burst: at least this many events within BURST_QUIET_SECONDS (a few corrections are not)
BURST_EVENTS = 100


@dataclass(frozen=True, slots=True)
class Standing:
    """The aggregator's latest word on a filing, as the publisher keeps it in memory (a row of
    ``SiteStanding``; a plain slotted record: ~15,000 of them live as long as the process)."""

    code: str
    form: str
    year: int
    seq: int
    status: str
    counted_receipt: str | None = None
    received_at: datetime | None = None


def page_key(ref: PageRef) -> str:
    return f"{ref.kind}:{ref.year}:{ref.code}"


def page_ref(key: str) -> PageRef:
    kind, year, code = key.split(":", 2)
    return PageRef(kind, int(year), code)  # type: ignore[arg-type]


def version_record(row: PublishedVersion) -> VersionRecord:
    return VersionRecord(
        receipt_id=row.receipt_id,
        version=row.version,
        content_hash=row.content_hash,
        received_at=row.received_at,
        outcome="accepted" if row.outcome == "accepted" else "rejected",
        report=row.report,
        issues=row.issues,
    )


class Publisher:
    """State for pages (in memory, backed by the store) and the render passes."""

    def __init__(
        self,
        registry: Registry,
        store: PublisherStore,
        write: WriteFiles,
        publish: Publish,
        base_url: str,
        render_sites: RenderSites | None = None,
    ) -> None:
        self.registry = registry
        self.store = store
        self.write = write
        self.publish = publish
        self.base_url = base_url.rstrip("/")
        #: site pages from jobs (a worker process in the service, this process elsewhere)
        self.render_sites_port = render_sites or SiteRenderer(registry, self.base_url)
        self.layout = layout(load_form(WORK_REPORT))
        self.standings: dict[tuple[str, int], Standing] = {}
        #: (office node, year) -> the standing of its supervision report
        self.office_standings: dict[tuple[str, int], Standing] = {}
        #: counted receipt -> its count cells (what column pages show; not the whole report)
        self.counts: dict[str, tuple[Any, ...]] = {}
        self.count_paths = tuple(path for path, _h in count_columns(self.layout))
        self.rollups: dict[tuple[int, str], NodeRollup] = {}
        self.digests: dict[tuple[int, str], str] = {}
        #: earliest monotonic time a costly page may be rendered again (coalescing under bursts)
        self.not_before: dict[str, float] = {}
        #: when the last aggregated or roll-up event arrived (node pages yield during bursts)
        self.last_event = 0.0
        #: (arrival, events) of recent batches: how fast events come
        self.arrivals = Arrivals(BURST_QUIET_SECONDS)
        #: an announcement may have been left behind (at start, or after a failed publish)
        self.maybe_stranded = True

    def count_cells(self, report: dict[str, Any]) -> tuple[Any, ...]:
        return tuple(lookup(report, path) for path in self.count_paths)

    async def load(self) -> None:
        self.counts = {
            receipt: self.count_cells(report)
            for receipt, report in (await self.store.counted_reports()).items()
        }
        for row in await self.store.standings():
            standing = Standing(
                row.code,
                row.form,
                row.year,
                row.seq,
                row.status,
                row.counted_receipt,
                row.received_at,
            )
            if standing.form == WORK_REPORT:
                self.standings[(standing.code, standing.year)] = standing
            elif standing.form == SUPERVISION_REPORT:
                self.office_standings[(standing.code, standing.year)] = standing
        for rollup in await self.store.rollups():
            self.rollups[(rollup.year, rollup.node)] = NodeRollup.model_validate(rollup.body)
            self.digests[(rollup.year, rollup.node)] = rollup.digest

    # ---------------------------------------------------------------- handlers
    def note_events(self, count: int) -> None:
        self.last_event = time.monotonic()
        self.arrivals.note(count)

    def bursting(self) -> bool:
        return self.arrivals.recent() >= BURST_EVENTS

    async def on_aggregated(self, batch: list[Envelope[ReportAggregated]]) -> None:
        self.note_events(len(batch))
        versions: list[dict[str, Any]] = []
        standings: list[dict[str, Any]] = []
        dirty: list[str] = []
        announcements: list[dict[str, Any]] = []
        for envelope in batch:
            event, seq = envelope.event, envelope.msg.metadata.sequence.stream
            versions.append(
                {
                    "receipt_id": event.receipt_id,
                    "code": event.code,
                    "form": event.form,
                    "year": event.year,
                    "version": event.version,
                    "outcome": event.outcome,
                    "content_hash": event.content_hash,
                    "received_at": event.received_at,
                    "report": event.report,
                    "issues": [i.model_dump() for i in event.issues],
                }
            )
            standing = {
                "code": event.code,
                "form": event.form,
                "year": event.year,
                "seq": seq,
                "status": event.status.status,
                "counted_receipt": event.status.counted_receipt,
                "received_at": event.status.received_at,
            }
            standings.append(standing)
            if event.form == WORK_REPORT and event.code in self.registry.sites:
                refs = affected_pages(self.registry, event.code, event.year)
            elif event.form == SUPERVISION_REPORT and has_supervision_page(
                self.registry, event.code
            ):
                refs = [
                    PageRef("supervision", event.year, event.code),
                    PageRef("index", event.year),
                ]
            elif event.code in self.registry.nodes:
                refs = [PageRef("rollup", event.year, event.code)]
            else:
                refs = []
            dirty.extend(page_key(r) for r in refs)
            if refs:
                announcements.append(
                    {
                        "receipt_id": event.receipt_id,
                        "code": event.code,
                        "year": event.year,
                        "key": page_key(refs[0]),
                    }
                )
            self._remember(event, standing)
        await self.store.save(versions, standings, [], dirty, announcements)

    def _remember(self, event: ReportAggregated, standing: dict[str, Any]) -> None:
        if event.form == WORK_REPORT:
            standings = self.standings
            # the count cells of every accepted version, whatever order the words about the
            # filing arrive in (a redelivered or retried event may come after a later one, and
            # the standing may then count a version whose own event was skipped below)
            if event.outcome == "accepted" and event.report is not None:
                self.counts.setdefault(event.receipt_id, self.count_cells(event.report))
        elif event.form == SUPERVISION_REPORT:
            standings = self.office_standings
        else:
            return
        key = (event.code, event.year)
        current = standings.get(key)
        if current is not None and current.seq >= standing["seq"]:
            return
        standings[key] = Standing(**standing)

    async def on_reviews(self, batch: list[Envelope[ReviewRecorded]]) -> None:
        rows = [e.event.model_dump(exclude={"schema_version"}) for e in batch]
        dirty = [
            page_key(PageRef("site", e.event.year, e.event.code))
            for e in batch
            if e.event.code in self.registry.sites
        ]
        await self.store.add_reviews(rows, dirty)

    async def on_rollups(self, batch: list[Envelope[RollupUpdated]]) -> None:
        self.note_events(len(batch))
        # a node's roll-up is state: of several in one batch only the last one counts
        latest = {(e.event.year, e.event.node): e.event for e in batch}
        rows: list[dict[str, Any]] = []
        dirty: list[str] = []
        for key, event in latest.items():
            if self.digests.get(key) == event.digest:
                continue
            self.digests[key] = event.digest
            self.rollups[key] = NodeRollup.model_validate(event.rollup)
            rows.append(
                {
                    "year": event.year,
                    "node": event.node,
                    "digest": event.digest,
                    "body": event.rollup,
                }
            )
            dirty.append(page_key(PageRef("rollup", event.year, event.node)))
            dirty.append(page_key(PageRef("column", event.year, event.node)))
            if has_supervision_page(self.registry, event.node):
                dirty.append(page_key(PageRef("supervision", event.year, event.node)))
            node = self.registry.nodes.get(event.node)
            if node is not None and node.level in INDEXED_LEVELS:
                dirty.append(page_key(PageRef("index", event.year)))
        await self.store.save([], [], rows, dirty, [])

    # ---------------------------------------------------------------- rendering
    async def render_pending(self) -> int:
        """One pass: site pages first (they answer receipts), then node pages as paced."""
        return await self.render_sites() + await self.render_nodes()

    async def render_sites(self) -> int:
        """Site pages in chunks: read together, written with one flush, announced chunk by
        chunk, so receipts learn their URLs while a burst is still arriving. One chunk is
        written and announced while the next one is built (the flush to disk and the PubAcks
        are waits, not work)."""
        if self.maybe_stranded:
            # rendered, but the published event was never sent (a failed publish, or a crash
            # between the render and the announcement): announce before anything else
            await self.announce_due(await self.store.stranded_announcements())
            self.maybe_stranded = False
        pending = sorted(await self.store.dirty(sites=True))
        finishing: asyncio.Task[None] | None = None
        try:
            for start in range(0, len(pending), SITE_CHUNK):
                chunk = pending[start : start + SITE_CHUNK]
                # announcements due before building: a version saved meanwhile waits for its
                # own pass
                due = await self.store.announcements([key for key, _ in chunk])
                files: dict[str, bytes] = {}
                for built in await self.build_sites([page_ref(key) for key, _ in chunk]):
                    files.update(built)
                if finishing is not None:
                    await finishing
                finishing = asyncio.create_task(self.finish_sites(chunk, files, due))
            if finishing is not None:
                await finishing
        finally:
            if finishing is not None and not finishing.done():
                finishing.cancel()
        return len(pending)

    async def finish_sites(
        self, chunk: list[tuple[str, int]], files: dict[str, bytes], due: list[Announcement]
    ) -> None:
        """Write a chunk's files (durably), forget its dirty marks, announce its receipts."""
        if files:
            await self.write(files)
        await self.store.clean(chunk)
        await self.announce_due(due)

    async def render_nodes(self) -> int:
        """Node pages; a costly one is paced, and while events arrive every node page yields
        most of the CPU to the pipeline (they are rendered in full once the burst is over)."""
        if self.bursting():
            # the burst's own site pages first: node pages catch up once it is over (and no
            # pass reads the thousands of dirty node keys only to skip them)
            return 0
        order = {"rollup": 1, "column": 2, "supervision": 3, "index": 4}
        pending = sorted(
            await self.store.dirty(sites=False),
            key=lambda item: (order[item[0].split(":", 1)[0]], item[0]),
        )
        now = time.monotonic()
        due = await self.store.announcements([key for key, _ in pending])
        done: list[tuple[str, int]] = []
        files: dict[str, bytes] = {}
        for key, generation in pending:
            if self.not_before.get(key, 0) > now:
                continue
            started = time.monotonic()
            built = await self.build(page_ref(key))
            spent = time.monotonic() - started
            if built:
                files.update(built)
            if spent > 0.05:
                self.not_before[key] = time.monotonic() + min(30.0, 8 * spent)
            done.append((key, generation))
            if len(done) % SITE_CHUNK == 0:
                await self.write(files)
                files = {}
            await self.yield_to_burst(spent * BURST_YIELD)
        if files:
            await self.write(files)
        await self.store.clean(done)
        rendered = {key for key, _ in done}
        await self.announce_due([item for item in due if item.key in rendered])
        return len(done)

    async def yield_to_burst(self, seconds: float) -> None:
        """Sleep up to ``seconds``, but only while events keep arriving."""
        until = time.monotonic() + seconds
        for _ in range(int(seconds / 0.05) + 1):
            now = time.monotonic()
            if now >= until or now - self.last_event >= BURST_QUIET_SECONDS:
                return
            await asyncio.sleep(0.05)

    async def announce(self, done: Sequence[tuple[str, int]]) -> None:
        await self.announce_due(await self.store.announcements([key for key, _ in done]))

    async def announce_due(self, due: Sequence[Announcement]) -> None:
        if not due:
            return
        now = datetime.now(UTC)
        events = []
        for item in due:
            ref = page_ref(item.key)
            paths = ref.paths
            urls = [f"{self.base_url}/{p}" for p in (paths.html, paths.json, paths.csv)]
            event = PagesPublished(
                receipt_id=item.receipt_id,
                code=item.code,
                year=item.year,
                published_at=now,
                urls=urls,
            )
            events.append((published_subject(item.code), event, f"published:{item.receipt_id}"))
        try:
            await self.publish(events)
        except BaseException:
            self.maybe_stranded = True  # the pages are clean: the next pass announces them
            raise
        await self.store.forget_announcements([item.receipt_id for item in due])

    async def build(self, ref: PageRef) -> dict[str, bytes] | None:
        if ref.kind == "site":
            return await self.build_site(ref)
        if ref.kind == "column":
            return await asyncio.to_thread(self.build_column, ref)
        if ref.kind == "rollup":
            return await asyncio.to_thread(self.build_rollup, ref)
        if ref.kind == "supervision":
            return await self.build_supervision(ref)
        return await asyncio.to_thread(self.build_index, ref)

    async def build_site(self, ref: PageRef) -> dict[str, bytes] | None:
        built = await self.build_sites([ref])
        return built[0] if built else None

    async def build_sites(self, refs: Sequence[PageRef]) -> list[dict[str, bytes]]:
        """Site pages of these refs (unknown sites skipped), from two reads of the store per
        year (every version and every review of all of them), rendered by ``render_sites``."""
        jobs: list[SiteJob] = []
        for year in sorted({ref.year for ref in refs}):
            codes = [r.code for r in refs if r.year == year and r.code in self.registry.sites]
            if not codes:
                continue
            all_versions = await self.store.versions_of_many(codes, WORK_REPORT, year)
            all_reviews = await self.store.reviews_of_many(codes, WORK_REPORT, year)
            for code in codes:
                standing = self.standings.get((code, year))
                jobs.append(
                    SiteJob(
                        code=code,
                        year=year,
                        versions=tuple(version_record(r) for r in all_versions.get(code, [])),
                        counted_receipt=standing.counted_receipt if standing else None,
                        status=standing.status if standing else "missing",
                        reviews=tuple(
                            ReviewRecord(
                                review_id=r.review_id,
                                action=r.action,  # type: ignore[arg-type]
                                receipt_id=r.receipt_id,
                                office=r.office,
                                reason=r.reason,
                                paths=tuple(r.paths),
                                at=r.at,
                            )
                            for r in all_reviews.get(code, [])
                        ),
                    )
                )
        return await self.render_sites_port(jobs)

    async def build_supervision(self, ref: PageRef) -> dict[str, bytes] | None:
        if not has_supervision_page(self.registry, ref.code):
            return None
        rows = await self.store.versions_of(ref.code, SUPERVISION_REPORT, ref.year)
        versions = [version_record(r) for r in rows]
        standing = self.office_standings.get((ref.code, ref.year))
        counted_id = standing.counted_receipt if standing else None
        counted = next((v for v in versions if v.receipt_id == counted_id), None)
        children = [
            self.rollups[(ref.year, child)]
            for child in self.registry.children(ref.code)
            if (ref.year, child) in self.rollups
        ]

        def plan() -> dict[str, bytes]:
            data = plan_supervision_page(
                self.registry,
                ref.code,
                ref.year,
                self.site_rows(ref.code, ref.year),
                rollup=self.rollups.get((ref.year, ref.code)),
                child_rollups=children,
                versions=versions,
                counted=counted,
                status=standing.status if standing else "missing",
                base_url=self.base_url,
            )
            return supervision_page_files(data)

        return await asyncio.to_thread(plan)

    def site_rows(self, node: str, year: int) -> dict[str, SiteRow]:
        rows = {}
        for code in self.registry.sites_under(node, year):
            standing = self.standings.get((code, year))
            if standing is None:
                continue
            rows[code] = SiteRow(
                code=code,
                status=standing.status,  # type: ignore[arg-type]
                filed_at=standing.received_at,
                counts=self.counts.get(standing.counted_receipt or ""),
            )
        return rows

    def build_column(self, ref: PageRef) -> dict[str, bytes] | None:
        if ref.code not in self.registry.nodes:
            return None
        rollup = self.rollups.get((ref.year, ref.code))
        rows = self.site_rows(ref.code, ref.year)
        data = plan_column_page(self.registry, ref.code, ref.year, rows, rollup=rollup)
        return column_page_files(data)

    def build_rollup(self, ref: PageRef) -> dict[str, bytes] | None:
        rollup = self.rollups.get((ref.year, ref.code))
        if rollup is None or ref.code not in self.registry.nodes:
            return None
        reported = self.site_rows(ref.code, ref.year)
        missing = tuple(
            code
            for code in self.registry.sites_under(ref.code, ref.year)
            if code not in reported or reported[code].status == "missing"
        )
        full = rollup.model_copy(
            update={"tally": rollup.tally.model_copy(update={"missing_sites": missing})}
        )
        children = [
            self.rollups[(ref.year, child)]
            for child in self.registry.children(ref.code)
            if (ref.year, child) in self.rollups
        ]
        return rollup_page_files(plan_rollup_page(self.registry, full, children, self.layout))

    def build_index(self, ref: PageRef) -> dict[str, bytes]:
        # from the state alone (not from what dirtied the page): `publish --all` gives the same
        years = sorted({year for (year, _node) in self.rollups} or {ref.year})
        latest = years[-1]
        rollups = {node: r for (year, node), r in self.rollups.items() if year == latest}
        supervision = {
            code: s.status for (code, year), s in self.office_standings.items() if year == latest
        }
        return index_files(
            plan_index(self.registry, latest, rollups, years=years, supervision=supervision)
        )

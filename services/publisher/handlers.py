"""The publisher's consumers: each fact kept, in memory and in the store, with its dirty pages."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from services.publisher.announcements import Announcer, Publish
from services.publisher.building import PageBuilder, RenderNodes, RenderSites
from services.publisher.dirty import filing_pages, page_key, rollup_pages
from services.publisher.pacing import BurstPacer
from services.publisher.pages.paths import PageRef, affected_pages
from services.publisher.scheduling import RenderScheduler, WriteFiles
from services.publisher.sites_worker import SiteRenderer
from services.publisher.state import PageState, latest_status
from services.publisher.store import PublisherStore
from shared.contracts import ReportAggregated, ReviewRecorded, RollupUpdated
from shared.registry import Registry, moved_nodes, moved_sites
from shared.runtime.messaging import Envelope


def version_row(event: ReportAggregated) -> dict[str, Any]:
    return {
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


def announcement_row(event: ReportAggregated, page: PageRef) -> dict[str, Any]:
    """The receipt waits for ``page`` (its filing's own page) before it is announced."""
    return {
        "receipt_id": event.receipt_id,
        "code": event.code,
        "year": event.year,
        "key": page_key(page),
    }


class Publisher:
    """The publisher's parts wired together: state, the handlers, burst pacing, page building,
    render scheduling and announcements (the composition root hands in the I/O)."""

    def __init__(
        self,
        registry: Registry,
        store: PublisherStore,
        write: WriteFiles,
        publish: Publish,
        base_url: str,
        render_sites: RenderSites | None = None,
        render_nodes: RenderNodes | None = None,
    ) -> None:
        self.registry = registry
        self.store = store
        self.base_url = base_url.rstrip("/")
        #: site pages from jobs (a worker process in the service, this process elsewhere)
        self.render_sites_port = render_sites or SiteRenderer(registry, self.base_url)
        self.state = PageState(registry)
        self.pacer = BurstPacer()
        self.announcer = Announcer(store, publish, self.base_url)
        #: planned node pages rendered in the worker too (None: in this process)
        self.builder = PageBuilder(
            self.state, store, self.base_url, self.render_sites_port, render_nodes
        )

        async def write_files(files: dict[str, bytes]) -> None:
            await write(files)
            self.builder.inputs.written(files)  # their pages' inputs are on disk now

        self.scheduler = RenderScheduler(
            store, self.builder, write_files, self.announcer, self.pacer
        )
        # the render loops of the service, and `publish --all`
        self.render_sites = self.scheduler.render_sites
        self.render_nodes = self.scheduler.render_nodes
        self.render_pending = self.scheduler.render_pending
        self.build = self.builder.build

    async def load(self) -> None:
        await self.state.load(self.store)

    async def on_aggregated(self, batch: list[Envelope[ReportAggregated]]) -> None:
        """Keep every version and each filing's latest status; mark the pages they change and
        the receipts to announce once their own page is rendered."""
        self.pacer.note_events(len(batch))
        versions: list[dict[str, Any]] = []
        statuses: list[dict[str, Any]] = []
        dirty: list[str] = []
        announcements: list[dict[str, Any]] = []
        for envelope in batch:
            event = envelope.event
            latest = latest_status(event, envelope.msg.metadata.sequence.stream)
            versions.append(version_row(event))
            statuses.append(asdict(latest))
            refs = filing_pages(self.registry, event)
            dirty.extend(page_key(r) for r in refs)
            if refs:
                announcements.append(announcement_row(event, refs[0]))
            self.state.remember_filing(event, latest)
        await self.store.save(versions, statuses, [], dirty, announcements)

    async def on_reviews(self, batch: list[Envelope[ReviewRecorded]]) -> None:
        """Keep review actions for the sites' version history and mark their pages."""
        rows = [e.event.model_dump(exclude={"schema_version"}) for e in batch]
        dirty = [
            page_key(PageRef("site", e.event.year, e.event.code))
            for e in batch
            if e.event.code in self.registry.sites
        ]
        await self.store.add_reviews(rows, dirty)

    async def on_rollups(self, batch: list[Envelope[RollupUpdated]]) -> None:
        """Keep each node's new roll-up and mark the pages that show it."""
        self.pacer.note_events(len(batch))
        # a node's roll-up is state: of several in one batch only the last one counts
        latest = {(e.event.year, e.event.node): e.event for e in batch}
        rows: list[dict[str, Any]] = []
        dirty: list[str] = []
        for event in latest.values():
            held = self.state.rollups.get((event.year, event.node))
            before = held.publication_sites if held is not None else {}
            if not self.state.remember_rollup(event):
                continue  # the roll-up already kept
            after = self.state.rollups[(event.year, event.node)].publication_sites
            if held is None or before != after:
                # a site's standing shows in every column above it, even when no count changed
                dirty.extend(
                    page_key(PageRef("column", event.year, node))
                    for node in self.registry.ancestors(event.node)[1:]
                )
            # a site's page shows its publication standing, carried in its node's roll-up
            dirty.extend(
                page_key(PageRef("site", event.year, code))
                for code in sorted(before.keys() | after.keys())
                if before.get(code) != after.get(code) and code in self.registry.sites
            )
            rows.append(
                {
                    "year": event.year,
                    "node": event.node,
                    "digest": event.digest,
                    "body": event.rollup,
                }
            )
            dirty.extend(page_key(r) for r in rollup_pages(self.registry, event.year, event.node))
        await self.store.save([], [], rows, dirty, [])

    async def registry_switched(self, before: Registry) -> None:
        """The registry was switched from ``before``: mark the pages of the sites and nodes that
        opened, closed, moved or changed, under the old and the new registry (their roll-ups
        follow from the aggregator and mark theirs again)."""
        self.builder.inputs.forget()
        years = {year for (_code, year) in self.state.statuses}
        years |= {year for (year, _node) in self.state.rollups}
        dirty: set[str] = set()
        sites, nodes = moved_sites(before, self.registry), moved_nodes(before, self.registry)
        for registry in (before, self.registry):
            for year in sorted(years):
                dirty.add(page_key(PageRef("index", year)))
                for code in sorted(sites & registry.sites.keys()):
                    dirty.update(page_key(r) for r in affected_pages(registry, code, year))
                for node in sorted(nodes & registry.nodes.keys()):
                    dirty.update(page_key(r) for r in rollup_pages(registry, year, node))
        await self.store.save([], [], [], sorted(dirty), [])

"""Building a page's files from the publisher's state and store: the plan for its kind, rendered."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Collection, Hashable, Sequence
from dataclasses import dataclass, replace
from typing import cast, get_args

from services.publisher.inputs import WrittenInputs
from services.publisher.pages.column import plan_column_page, site_standings
from services.publisher.pages.index import plan_index
from services.publisher.pages.paths import (
    PageRef,
    files_supervision_report,
    has_supervision_page,
)
from services.publisher.pages.records import ReviewRecord, VersionRecord
from services.publisher.pages.rollup import plan_rollup_page
from services.publisher.pages.supervision import plan_supervision_page
from services.publisher.sites_worker import NodePage, SiteJob, render_node_page
from services.publisher.state import PageState
from services.publisher.store import PublishedReview, PublishedVersion, PublisherStore
from shared.filings import Action
from shared.forms import SUPERVISION_REPORT, WORK_REPORT

RenderSites = Callable[[Sequence[SiteJob]], Awaitable[list[dict[str, bytes]]]]
#: planned node pages to files, each with its render's seconds
RenderNodes = Callable[[Sequence[NodePage]], Awaitable[list[tuple[dict[str, bytes], float]]]]
ACTIONS: frozenset[str] = frozenset(get_args(Action))


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


def review_record(row: PublishedReview) -> ReviewRecord:
    if row.action not in ACTIONS:  # stored from a validated event: one of ``Action``
        raise ValueError(f"not a review action: {row.action!r}")
    return ReviewRecord(
        review_id=row.review_id,
        action=cast(Action, row.action),
        receipt_id=row.receipt_id,
        office=row.office,
        reason=row.reason,
        paths=tuple(row.paths),
        at=row.at,
    )


@dataclass(frozen=True)
class Planned:
    """A page planned: its files when known already (``{}`` unchanged, None for an unknown
    code, or rendered with the plan), else the ``page`` to render; the seconds spent on it."""

    ref: PageRef
    inputs: Hashable | None
    files: dict[str, bytes] | None = None
    page: NodePage | None = None
    seconds: float = 0.0


class PageBuilder:
    """The files of one page (or of many site pages at once), or None for an unknown code."""

    def __init__(
        self,
        state: PageState,
        store: PublisherStore,
        base_url: str,
        render_sites: RenderSites,
        render_nodes: RenderNodes | None = None,
    ) -> None:
        self.state = state
        self.registry = state.registry
        self.store = store
        self.base_url = base_url
        #: site pages from jobs (a worker process in the service, this process elsewhere)
        self.render_sites = render_sites
        #: planned node pages rendered beside this process (the worker), or None: here
        self.render_nodes = render_nodes
        #: the inputs of the node pages written: one marked again unchanged is not rendered
        self.inputs = WrittenInputs()

    async def build(self, ref: PageRef) -> dict[str, bytes] | None:
        """The page's files; nothing (``{}``) for a node page whose inputs are those of its
        files already written."""
        if ref.kind == "site":
            return await self.build_site(ref)
        (planned,) = await self.plan_many([ref])
        return planned.files

    async def plan_many(
        self, refs: Sequence[PageRef], elsewhere: Collection[PageRef] = ()
    ) -> list[Planned]:
        """Node pages planned in one hop to a thread (the event loop goes on) and rendered
        there too, but for those ``elsewhere``: their plans, rendered elsewhere, come back
        through ``rendered``. A page whose inputs are those of its files written is neither."""
        out: list[Planned] = []
        todo: list[tuple[int, Planned, list[VersionRecord] | None]] = []
        for ref in refs:
            inputs = self.inputs.inputs(self.state, ref)
            if self.inputs.unchanged(ref, inputs):
                out.append(Planned(ref, inputs, files={}))
                continue
            versions = await self.office_versions(ref) if ref.kind == "supervision" else None
            todo.append((len(out), Planned(ref, inputs), versions))
            out.append(todo[-1][1])

        def work() -> list[Planned]:
            done = []
            for _i, planned, versions in todo:
                started = time.perf_counter()
                page = self.plan_node(planned.ref, versions)
                here = planned.ref not in elsewhere
                files = render_node_page(page) if here and page is not None else None
                seconds = time.perf_counter() - started
                done.append(replace(planned, page=None if here else page, seconds=seconds))
                if page is None or here:
                    done[-1] = self.rendered(done[-1], files)
            return done

        for (i, _planned, _versions), planned in zip(
            todo, await asyncio.to_thread(work) if todo else [], strict=True
        ):
            out[i] = planned
        return out

    def rendered(self, planned: Planned, files: dict[str, bytes] | None) -> Planned:
        """``planned`` with its files (their inputs count once they are written)."""
        self.inputs.built(planned.ref, planned.inputs, files)
        return replace(planned, files=files, page=None)

    def plan_node(self, ref: PageRef, versions: list[VersionRecord] | None) -> NodePage | None:
        """A node page's plan (None for an unknown code); a supervision page's ``versions``
        are read from the store before (``office_versions``)."""
        if ref.kind == "column":
            return self.plan_column(ref)
        if ref.kind == "rollup":
            return self.plan_rollup(ref)
        if ref.kind == "supervision":
            return self.plan_supervision(ref, versions or [])
        if ref.kind == "index":
            return self.plan_index(ref)
        raise ValueError(f"not a node page: {ref.kind}")

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
                latest = self.state.statuses.get((code, year))
                jobs.append(
                    SiteJob(
                        code=code,
                        year=year,
                        versions=tuple(version_record(r) for r in all_versions.get(code, [])),
                        counted_receipt=latest.counted_receipt if latest else None,
                        status=latest.status if latest else "missing",
                        reviews=tuple(review_record(r) for r in all_reviews.get(code, [])),
                        publication=self.state.publication_of(code, year),
                    )
                )
        return await self.render_sites(jobs)

    async def office_versions(self, ref: PageRef) -> list[VersionRecord]:
        """The versions a supervision page shows: only an office that files its own report
        has any (and a filing's versions are stored with its standing): the other nodes'
        pages read nothing from the store."""
        latest = self.state.office_statuses.get((ref.code, ref.year))
        if latest is None or not files_supervision_report(self.registry, ref.code):
            return []
        rows = await self.store.versions_of(ref.code, SUPERVISION_REPORT, ref.year)
        return [version_record(r) for r in rows]

    def plan_supervision(self, ref: PageRef, versions: list[VersionRecord]) -> NodePage | None:
        if not has_supervision_page(self.registry, ref.code):
            return None
        latest = self.state.office_statuses.get((ref.code, ref.year))
        counted_id = latest.counted_receipt if latest else None
        counted = next((v for v in versions if v.receipt_id == counted_id), None)
        data = plan_supervision_page(
            self.registry,
            ref.code,
            ref.year,
            self.state.site_rows(ref.code, ref.year),
            rollup=self.state.rollups.get((ref.year, ref.code)),
            child_rollups=self.state.child_rollups(ref.year, ref.code),
            versions=versions,
            counted=counted,
            status=latest.status if latest else "missing",
            base_url=self.base_url,
            publications=self.state.publications_under(ref.code, ref.year),
        )
        return NodePage("supervision", data)

    def plan_column(self, ref: PageRef) -> NodePage | None:
        if ref.code not in self.registry.nodes:
            return None
        rollup = self.state.rollups.get((ref.year, ref.code))
        rows = self.state.site_rows(ref.code, ref.year)
        standings = site_standings(self.registry, ref.code, ref.year, self.state.rollups)
        data = plan_column_page(
            self.registry, ref.code, ref.year, rows, rollup=rollup, publication=standings
        )
        return NodePage("column", data)

    def plan_rollup(self, ref: PageRef) -> NodePage | None:
        rollup = self.state.rollups.get((ref.year, ref.code))
        if rollup is None or ref.code not in self.registry.nodes:
            return None
        reported = self.state.site_rows(ref.code, ref.year)
        missing = tuple(
            code
            for code in self.registry.sites_under(ref.code, ref.year)
            if code not in reported or reported[code].status == "missing"
        )
        full = rollup.model_copy(
            update={"tally": rollup.tally.model_copy(update={"missing_sites": missing})}
        )
        children = self.state.child_rollups(ref.year, ref.code)
        published = self.state.publications_under(ref.code, ref.year)
        data = plan_rollup_page(self.registry, full, children, self.state.layout, published)
        return NodePage("rollup", data)

    def plan_index(self, ref: PageRef) -> NodePage:
        # from the state alone (not from what dirtied the page): `publish --all` gives the same
        rollups_by_year = self.state.rollups
        years = sorted({year for (year, _node) in rollups_by_year} or {ref.year})
        latest = years[-1]
        rollups = {node: r for (year, node), r in rollups_by_year.items() if year == latest}
        supervision = {
            code: s.status
            for (code, year), s in self.state.office_statuses.items()
            if year == latest
        }
        data = plan_index(self.registry, latest, rollups, years=years, supervision=supervision)
        return NodePage("index", data)

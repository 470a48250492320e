"""Building a page's files from the publisher's state and store: the plan for its kind, rendered."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
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
from services.publisher.render import (
    column_page_files,
    index_files,
    rollup_page_files,
    supervision_page_files,
)
from services.publisher.sites_worker import SiteJob
from services.publisher.state import PageState
from services.publisher.store import PublishedReview, PublishedVersion, PublisherStore
from shared.filings import Action
from shared.forms import SUPERVISION_REPORT, WORK_REPORT

RenderSites = Callable[[Sequence[SiteJob]], Awaitable[list[dict[str, bytes]]]]
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


class PageBuilder:
    """The files of one page (or of many site pages at once), or None for an unknown code."""

    def __init__(
        self, state: PageState, store: PublisherStore, base_url: str, render_sites: RenderSites
    ) -> None:
        self.state = state
        self.registry = state.registry
        self.store = store
        self.base_url = base_url
        #: site pages from jobs (a worker process in the service, this process elsewhere)
        self.render_sites = render_sites
        #: the inputs of the node pages written: one marked again unchanged is not rendered
        self.inputs = WrittenInputs()

    async def build(self, ref: PageRef) -> dict[str, bytes] | None:
        """The page's files; nothing (``{}``) for a node page whose inputs are those of its
        files already written."""
        inputs = self.inputs.inputs(self.state, ref)
        if self.inputs.unchanged(ref, inputs):
            return {}
        files = await self._build(ref)
        self.inputs.built(ref, inputs, files)
        return files

    async def _build(self, ref: PageRef) -> dict[str, bytes] | None:
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

    async def build_supervision(self, ref: PageRef) -> dict[str, bytes] | None:
        if not has_supervision_page(self.registry, ref.code):
            return None
        latest = self.state.office_statuses.get((ref.code, ref.year))
        # only an office that files its own report shows versions (and a filing's versions are
        # stored with its standing): the other nodes' pages read nothing from the store
        rows = (
            await self.store.versions_of(ref.code, SUPERVISION_REPORT, ref.year)
            if latest is not None and files_supervision_report(self.registry, ref.code)
            else []
        )
        versions = [version_record(r) for r in rows]
        counted_id = latest.counted_receipt if latest else None
        counted = next((v for v in versions if v.receipt_id == counted_id), None)
        children = self.state.child_rollups(ref.year, ref.code)

        def plan() -> dict[str, bytes]:
            data = plan_supervision_page(
                self.registry,
                ref.code,
                ref.year,
                self.state.site_rows(ref.code, ref.year),
                rollup=self.state.rollups.get((ref.year, ref.code)),
                child_rollups=children,
                versions=versions,
                counted=counted,
                status=latest.status if latest else "missing",
                base_url=self.base_url,
                publications=self.state.publications_under(ref.code, ref.year),
            )
            return supervision_page_files(data)

        return await asyncio.to_thread(plan)

    def build_column(self, ref: PageRef) -> dict[str, bytes] | None:
        if ref.code not in self.registry.nodes:
            return None
        rollup = self.state.rollups.get((ref.year, ref.code))
        rows = self.state.site_rows(ref.code, ref.year)
        standings = site_standings(self.registry, ref.code, ref.year, self.state.rollups)
        data = plan_column_page(
            self.registry, ref.code, ref.year, rows, rollup=rollup, publication=standings
        )
        return column_page_files(data)

    def build_rollup(self, ref: PageRef) -> dict[str, bytes] | None:
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
        return rollup_page_files(data)

    def build_index(self, ref: PageRef) -> dict[str, bytes]:
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
        return index_files(
            plan_index(self.registry, latest, rollups, years=years, supervision=supervision)
        )

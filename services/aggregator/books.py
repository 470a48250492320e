"""The aggregator's memory: every filing's versions and reviews, one roll-up book per year."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import TYPE_CHECKING

from services.aggregator.deadlines import Deadlines, DeadlineSetting
from shared.contracts import DeadlineSet, ReportJudged, ReviewRecorded
from shared.filings import FiledVersion, Review, Standing, Status, standing
from shared.forms import WORK_REPORT, count_paths, load_form, yes_no_paths
from shared.registry import Registry, moved_sites
from shared.rollup import NodeRollup, RollupBook, SiteState, rollup_view

if TYPE_CHECKING:
    from services.aggregator.publication import PublicationFacts

FilingKey = tuple[str, str, int]  # (code, form, year)
FILED_FIELDS = set(FiledVersion.model_fields)


class Books:
    """Versions and reviews of every filing, deadlines, one incremental roll-up book per year."""

    def __init__(self, registry: Registry, deadlines: Deadlines) -> None:
        self.registry = registry
        self.deadlines = deadlines
        self.filings: dict[FilingKey, dict[str, FiledVersion]] = defaultdict(dict)
        self.reviews: dict[FilingKey, dict[str, Review]] = defaultdict(dict)
        #: the facts remembered, whoever stored them (this replica or another)
        self.known_receipts: set[str] = set()
        self.known_reviews: set[str] = set()
        self.rollup_books: dict[int, RollupBook] = {}
        definition = load_form(WORK_REPORT)
        self.count_paths = count_paths(definition)
        self.yes_no_paths = yes_no_paths(definition)
        self.view_paths = (*self.count_paths, *self.yes_no_paths)
        #: where sites published (issue 17), set by the publication counting when it runs
        self.publication: PublicationFacts | None = None
        #: each filing's standing as last computed, with the deadline it was computed under: a
        #: verdict's standing is read to count it, to put its figures and to announce it
        self._standings: dict[FilingKey, tuple[datetime, Standing]] = {}

    # ---------------------------------------------------------------- reading
    def in_tree(self, code: str, form: str) -> bool:
        """Whether a filing is counted in the roll-ups: a site's work report."""
        return form == WORK_REPORT and code in self.registry.sites

    def standing(self, key: FilingKey) -> Standing:
        """Where a filing stands: computed again only when one of its versions or reviews
        arrived, or its deadline moved, since the last time it was asked."""
        code, _form, year = key
        deadline = self.deadlines.deadline(code, year)
        known = self._standings.get(key)
        if known is not None and known[0] == deadline:
            return known[1]
        versions = list(self.filings.get(key, {}).values())
        reviews = list(self.reviews.get(key, {}).values())
        current = standing(versions, deadline, reviews)
        self._standings[key] = (deadline, current)
        return current

    def site_state(self, key: FilingKey) -> SiteState:
        current = self.standing(key)
        report = current.counted.report if current.counted else None
        published = None
        if self.publication is not None:
            deadline = self.deadlines.deadline(key[0], key[2])
            published = self.publication.standing(key[0], key[2], deadline)
        return SiteState(site=key[0], status=current.status, report=report, publication=published)

    def work_reports_under(self, node: str, year: int) -> list[FilingKey]:
        """The work-report filings of a node's sites in a year."""
        return [(code, WORK_REPORT, year) for code in self.registry.sites_under(node, year)]

    def book(self, year: int) -> RollupBook:
        if year not in self.rollup_books:
            book = RollupBook(self.registry, year, self.count_paths, self.yes_no_paths)
            codes = {
                code for (code, form, y) in self.filings if y == year and self.in_tree(code, form)
            }
            if self.publication is not None:
                codes |= {
                    c for c in self.publication.site_codes(year) if self.in_tree(c, WORK_REPORT)
                }
            if self.publication is not None:
                for node in self.publication.office_nodes(year):
                    if node in self.registry.nodes:
                        book.set_office(node, self.publication.office(node, year))
            book.load({code: self.site_state((code, WORK_REPORT, year)) for code in codes})
            self.rollup_books[year] = book
        return self.rollup_books[year]

    def all_rollups(self, years: Iterable[int] = ()) -> list[NodeRollup]:
        """Every node's roll-up for the given years and every year with a filing."""
        filed = {year for (_c, form, year) in self.filings if form == WORK_REPORT}
        return [
            r for year in sorted(filed | set(years)) for r in self.book(year).rollups().values()
        ]

    # ---------------------------------------------------------------- remembering
    def remember(self, verdict: ReportJudged) -> FilingKey:
        key = (verdict.code, verdict.form, verdict.year)
        accepted = verdict.outcome == "accepted"
        self.known_receipts.add(verdict.receipt_id)
        # from a validated verdict: taken as it is, with the set of field names every version
        # shares (its own would be 728 bytes: 10 MiB over a national burst's versions)
        self.filings[key][verdict.receipt_id] = FiledVersion.model_construct(
            FILED_FIELDS,
            receipt_id=verdict.receipt_id,
            version=verdict.version,
            outcome=verdict.outcome,
            received_at=verdict.received_at,
            content_hash=verdict.content_hash,
            # only what a roll-up reads: every version stays in memory, its report need not
            report=rollup_view(verdict.report, self.view_paths) if accepted else None,
        )
        self._standings.pop(key, None)
        return key

    def remember_review(self, event: ReviewRecorded) -> FilingKey:
        key = (event.code, event.form, event.year)
        self.known_reviews.add(event.review_id)
        self.reviews[key][event.review_id] = Review(
            review_id=event.review_id,
            action=event.action,
            receipt_id=event.receipt_id,
            at=event.at,
            reason=event.reason,
        )
        self._standings.pop(key, None)
        return key

    def load(
        self,
        verdicts: Iterable[ReportJudged],
        reviews: Iterable[ReviewRecorded] = (),
        deadlines: Iterable[DeadlineSetting] = (),
    ) -> None:
        """Rebuild memory from stored facts; roll-up books are built lazily per year."""
        for verdict in verdicts:
            self.remember(verdict)
        for review in reviews:
            self.remember_review(review)
        for setting in deadlines:
            self.deadlines.remember(setting)
        self.rollup_books.clear()
        self._standings.clear()

    # ---------------------------------------------------------------- counting
    def recount(self, keys: Iterable[FilingKey]) -> list[NodeRollup]:
        """Re-state these filings in their year's book; the roll-ups that changed."""
        touched: dict[int, set[str]] = defaultdict(set)
        for code, form, year in keys:
            if self.in_tree(code, form):
                touched[year].add(code)
        changed: list[NodeRollup] = []
        for year, codes in sorted(touched.items()):
            if year not in self.rollup_books:  # a new year's book is built from every filing
                changed.extend(self.book(year).rollups().values())
                continue
            states = [self.site_state((code, WORK_REPORT, year)) for code in sorted(codes)]
            changed.extend(self.book(year).update(states).values())
        return changed

    def recount_office(self, node: str, year: int) -> list[NodeRollup]:
        """Re-state a node's own catalogue and 专栏; its roll-up when that changed."""
        if self.publication is None or node not in self.registry.nodes:
            return []
        if year not in self.rollup_books:  # built with every office's facts
            return [self.book(year).rollup(node)]
        changed = self.book(year).set_office(node, self.publication.office(node, year))
        return [changed] if changed is not None else []

    def switch_registry(
        self, new: Registry, adopt: Callable[[Registry], Registry], years: Iterable[int]
    ) -> tuple[list[NodeRollup], list[FilingKey]]:
        """Count under ``new`` from now on (``adopt`` switches the registry every part holds):
        the roll-ups that differ from before (of every year with a filing and ``years``), and
        the filings of the sites that were added, removed, opened, closed or moved."""
        counted = sorted(set(self.rollup_books) | set(years))
        before = {(r.year, r.node): r for r in self.all_rollups(counted)}
        old = adopt(new)
        self.rollup_books.clear()  # the books index the registry: rebuilt under the new one
        changed = [r for r in self.all_rollups(counted) if before.get((r.year, r.node)) != r]
        moved = moved_sites(old, self.registry)
        return changed, [key for key in self.filings if key[0] in moved]

    def latest_receipt(self, key: FilingKey) -> str | None:
        """The counted version's receipt, else the latest version's."""
        counted = self.standing(key).counted_receipt_id()
        versions = self.filings.get(key, {}).values()
        latest = max(versions, key=lambda v: v.version, default=None)
        return counted or (latest.receipt_id if latest else None)

    def move_deadline(self, event: DeadlineSet) -> tuple[list[NodeRollup], list[str]]:
        """Take a deadline setting: the roll-ups that changed, and the counted receipts whose
        status changed with it (nothing when a later setting is already known)."""
        keys = self.work_reports_under(event.node, event.year)
        before: dict[FilingKey, Status] = {key: self.standing(key).status for key in keys}
        if not self.deadlines.remember(DeadlineSetting.of(event)):
            return [], []
        rollups = self.recount(keys)
        receipts: list[str] = []
        for key in keys:
            now = self.standing(key)
            if now.counted is not None and now.status != before[key]:
                receipts.append(now.counted.receipt_id)
        return rollups, receipts

"""Where each filing stands, as the console lists it: stage, status, lock, return; the office's
queue with its filters, counts, order and pages. Pure: the rows come from ConsoleQueries."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from services.intake.review_store import ReviewAction, as_review
from services.intake.store import Receipt
from shared.deadlines import DeadlinePolicy, deadline_for, deadline_for_node
from shared.filings import FiledVersion, Standing, standing
from shared.registry import Registry
from shared.registry.model import SITE_TYPE_LABELS, SiteType

#: the receipt's stages as the console names them
STAGE_LABELS = {
    "submitted": "已提交，校验中",
    "accepted": "已通过校验",
    "rejected": "未通过校验",
    "aggregated": "已汇总",
    "published": "已发布",
}
STATUS_LABELS = {
    "on_time": "按时",
    "late": "逾期",
    "missing": "未报",
    "rejected": "未通过",
    "returned": "退回",
}
#: the queue's filters, in the order the counts show them
FILTERS = {
    "missing": "未报",
    "rejected": "未通过校验",
    "returned": "已退回",
    "late": "逾期",
    "pending": "已通过待审核",
    "approved": "已审核锁定",
}
SORTS = {"code": "标识码", "name": "网站名称", "status": "状态", "received": "最近提交时间"}
PAGE_SIZE = 50
#: the standing of a filing with no version and no review (frozen: one for all of them)
NOTHING_FILED = Standing(status="missing")


def stage_of(receipt: Receipt) -> str:
    if receipt.published_at is not None:
        return "published"
    if receipt.aggregated_at is not None:
        return "aggregated"
    return receipt.outcome or "submitted"


@dataclass
class FilingLine:
    """One filing (a code's form of a year) as lists show it."""

    code: str
    name: str
    year: int
    site_type: str = ""
    versions: list[Receipt] = field(default_factory=list)
    reviews: list[ReviewAction] = field(default_factory=list)
    standing: Standing = NOTHING_FILED
    deadline: datetime | None = None

    @property
    def latest(self) -> Receipt | None:
        return self.versions[-1] if self.versions else None

    @property
    def stage(self) -> str:
        return stage_of(self.latest) if self.latest else ""

    @property
    def stage_label(self) -> str:
        return STAGE_LABELS.get(self.stage, "")

    @property
    def status(self) -> str:
        return self.standing.status

    @property
    def status_label(self) -> str:
        return STATUS_LABELS[self.standing.status]

    @property
    def type_label(self) -> str:
        return SITE_TYPE_LABELS.get(SiteType(self.site_type), "") if self.site_type else ""

    @property
    def returned_reason(self) -> str | None:
        return self.standing.returned.reason if self.standing.returned else None

    @property
    def received_at(self) -> datetime | None:
        return self.latest.received_at if self.latest else None

    @property
    def urls(self) -> list[str]:
        published = [v for v in self.versions if v.urls]
        return published[-1].urls or [] if published else []

    def matches(self, key: str) -> bool:
        status = self.standing.status
        if key == "pending":
            return status in ("on_time", "late") and not self.standing.locked
        if key == "approved":
            return self.standing.locked
        return status == key


def filing_line(
    code: str,
    name: str,
    year: int,
    versions: Sequence[Receipt],
    reviews: Sequence[ReviewAction],
    deadline: datetime,
    site_type: str = "",
) -> FilingLine:
    """A filing's line: its standing by the same rule the aggregator applies (shared.filings)."""
    if not versions and not reviews:  # most sites early in the year: nothing to weigh
        return FilingLine(code, name, year, site_type, deadline=deadline)
    judged = [
        FiledVersion(
            receipt_id=v.receipt_id,
            version=v.version,
            outcome=v.outcome,
            received_at=v.received_at,
            content_hash=v.content_hash,
        )
        for v in versions
        if v.outcome is not None
    ]
    return FilingLine(
        code=code,
        name=name,
        year=year,
        site_type=site_type,
        versions=list(versions),
        reviews=list(reviews),
        standing=standing(judged, deadline, [as_review(r) for r in reviews]),
        deadline=deadline,
    )


def site_lines(
    registry: Registry,
    codes: Sequence[str],
    year: int,
    receipts: dict[str, list[Receipt]],
    reviews: dict[tuple[str, int], list[ReviewAction]],
    policy: DeadlinePolicy,
) -> list[FilingLine]:
    """The work-report line of each site of ``codes`` for a year."""
    out = []
    for code in codes:
        site = registry.sites[code]
        out.append(
            filing_line(
                code,
                site.name,
                year,
                receipts.get(code, []),
                reviews.get((code, year), []),
                deadline_for(policy, registry, code),
                site.type.value,
            )
        )
    return out


def node_deadline(policy: DeadlinePolicy, registry: Registry, node: str) -> datetime:
    return deadline_for_node(policy, registry, node)


@dataclass(frozen=True)
class QueueQuery:
    """The queue's filters, order and page, as the query string gives them (already checked)."""

    node: str
    status: str = ""
    site_type: str = ""
    sort: str = "code"
    descending: bool = False
    page: int = 1


@dataclass
class QueuePage:
    lines: list[FilingLine]
    counts: dict[str, int]
    total: int
    matching: int
    page: int
    pages: int


def queue_page(lines: Sequence[FilingLine], query: QueueQuery) -> QueuePage:
    """Counts over every line of the node (by type when filtered by type), then the lines of
    the status asked for, sorted, one page of them."""
    typed = [x for x in lines if not query.site_type or x.site_type == query.site_type]
    counts = {key: sum(1 for x in typed if x.matches(key)) for key in FILTERS}
    chosen = [x for x in typed if not query.status or x.matches(query.status)]
    order = list(STATUS_LABELS)

    def key(line: FilingLine) -> tuple[object, ...]:
        if query.sort == "name":
            return (line.name, line.code)
        if query.sort == "status":
            return (order.index(line.status), line.code)
        if query.sort == "received":
            stamp = line.received_at.timestamp() if line.received_at else 0.0
            return (stamp, line.code)
        return (line.code,)

    chosen.sort(key=key, reverse=query.descending)
    pages = max(1, -(-len(chosen) // PAGE_SIZE))
    page = min(max(1, query.page), pages)
    start = (page - 1) * PAGE_SIZE
    return QueuePage(
        chosen[start : start + PAGE_SIZE], counts, len(typed), len(chosen), page, pages
    )

"""The publication part of a special column (issue 17): each site's standing in its row, and the
counts of the column's sites with the sites by name for the states that are not verified."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from services.publisher.pages.formatting import iso_time
from services.publisher.pages.publication import ON_TIME, timing_label
from services.publisher.pages.views import Link, name_of
from shared.publication import (
    COUNT_LABELS,
    PUBLICATION_COUNTS,
    STATE_LABELS,
    PublicationStanding,
    publication_counts,
)
from shared.registry.model import Registry
from shared.rollup import NodeRollup, percent

#: a site's publication states in the order the filter lists them
PUBLICATION_STATES = (
    "undeclared",
    "pending",
    "verified",
    "judged_verified",
    "not_linked",
    "page_missing",
    "content_differs",
    "unreachable",
    "manual",
    "judged_not_published",
)
#: the counted states whose sites the column names (the states that are not verified)
NAMED_STATES = tuple(s for s in PUBLICATION_COUNTS if s not in ("declared", "verified_on_time"))
NAMED_STATES_SHOWN = tuple(s for s in NAMED_STATES if s != "verified")
#: how many sites a column names per state (the rest: the filter, the CSV)
NAMES_SHOWN = 20
#: the longest declared URL shown as text in a row (the link keeps the whole URL)
URL_TEXT_LIMIT = 48


@dataclass(frozen=True)
class SitePublication:
    """One site's publication as its row shows it."""

    state: str
    label: str
    #: the declared URL (http or https only), shown shortened
    url: str | None = None
    url_text: str = ""
    #: 按时公开 / 逾期公开 for a verified site, else empty
    timing: str = ""
    #: the office that judged, and why
    judged_by: str = ""
    reason: str = ""

    @property
    def verified(self) -> bool:
        return self.state in ("verified", "judged_verified")


UNDECLARED = SitePublication("undeclared", STATE_LABELS["undeclared"])


def _shown_url(url: str | None) -> tuple[str | None, str]:
    if not url or not url.lower().startswith(("http://", "https://")):
        return None, ""
    text = url.split("://", 1)[1]
    if len(text) > URL_TEXT_LIMIT:
        text = text[: URL_TEXT_LIMIT - 1] + "…"
    return url, text


def row_publication(registry: Registry, standing: PublicationStanding | None) -> SitePublication:
    if standing is None:
        return UNDECLARED
    url, url_text = _shown_url(standing.url)
    return SitePublication(
        state=standing.state,
        label=STATE_LABELS.get(standing.state, standing.state),
        url=url,
        url_text=url_text,
        timing=timing_label(standing),
        judged_by=name_of(registry, standing.judged_by) if standing.judged_by else "",
        reason=standing.reason if standing.judged_by else "",
    )


def row_publication_json(standing: PublicationStanding | None) -> dict[str, Any] | None:
    """A site's standing in the column's JSON copy (None: nothing declared, never judged)."""
    if standing is None:
        return None
    return {
        "state": standing.state,
        "url": standing.url,
        "verified": standing.verified,
        "on_time": standing.on_time,
        "first_verified_at": (
            None if standing.first_verified_at is None else iso_time(standing.first_verified_at)
        ),
        "checked_at": None if standing.checked_at is None else iso_time(standing.checked_at),
        "judged_by": standing.judged_by,
        "reason": standing.reason,
    }


def row_publication_csv(standing: PublicationStanding | None, registry: Registry) -> list[str]:
    """公开状态, 公开网址, 是否按时公开, 监管单位认定 (office: reason)."""
    shown = row_publication(registry, standing)
    judged = f"{shown.judged_by}：{shown.reason}" if shown.judged_by else ""
    on_time = "" if not shown.verified else ("是" if shown.timing == ON_TIME else "否")
    url = (standing.url or "") if standing is not None else ""
    return [shown.label, url, on_time, judged]


PUBLICATION_CSV_HEADER = ("公开状态", "公开网址", "是否按时公开", "监管单位认定")


@dataclass(frozen=True)
class PublicationCount:
    """One count of the column's publication table, with the sites it names."""

    key: str
    label: str
    count: int
    share_text: str
    sites: tuple[Link, ...] = ()
    #: sites in this state not named (beyond ``NAMES_SHOWN``)
    more: int = 0


def publication_counts_with_names(
    rollup: NodeRollup | None,
    standings: Mapping[str, PublicationStanding],
    names: Mapping[str, Link],
    order: Sequence[str],
    expected: int,
) -> tuple[PublicationCount, ...]:
    """The counts (from the roll-up when it has them, so the page agrees with the aggregator,
    else from the standings), each not-verified state with its sites by name in ``order``.
    None when no site below the column has a standing and the roll-up counts nothing."""
    if rollup is not None and rollup.tally.publication:
        counts = {k: int(rollup.tally.publication.get(k, 0)) for k in PUBLICATION_COUNTS}
        expected = rollup.tally.expected
    elif standings:
        counts = publication_counts([standings[c] for c in order if c in standings])
    else:
        return ()
    by_state: dict[str, list[str]] = {state: [] for state in NAMED_STATES_SHOWN}
    for code in order:
        standing = standings.get(code)
        counted = standing.counted_state if standing is not None else None
        if counted in by_state:
            by_state[counted].append(code)
    lines = []
    for key in PUBLICATION_COUNTS:
        codes = by_state.get(key, [])
        lines.append(
            PublicationCount(
                key=key,
                label=COUNT_LABELS[key],
                count=counts.get(key, 0),
                share_text=f"{percent(counts.get(key, 0), expected):.2f}%",
                sites=tuple(names[c] for c in codes[:NAMES_SHOWN]),
                more=max(0, len(codes) - NAMES_SHOWN),
            )
        )
    return tuple(lines)


def publication_counts_json(lines: Sequence[PublicationCount]) -> dict[str, int]:
    return {line.key: line.count for line in lines}

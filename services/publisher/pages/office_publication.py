"""An office's own publication duty on its pages (issue 17): a province's or State Council
department's supervision report in its portal's 政府信息公开目录 and its portal's 专栏 of work
reports, each with its state, URL and last check, the 专栏 with its coverage of the sites below.

The roll-up carries the facts (``NodeRollup.office_publication``); the supervision page, the
roll-up page and the first page of the 专栏 show them under "本单位公开情况", and their JSON (and
the supervision and roll-up CSV) carry them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.publisher.pages.formatting import EMPTY, format_time, is_web_url, iso_time
from services.publisher.pages.views import Link
from shared.access import SUPERVISION_LEVELS
from shared.publication import KIND_LABELS, STATE_LABELS, OfficePublication
from shared.registry.model import Registry
from shared.rollup import NodeRollup

OFFICE_SECTION_TITLE = "本单位公开情况"
#: what each duty asks for (国办函〔2018〕12号), as the section's rows name them
DUTY_LABELS: dict[str, str] = {
    "catalogue": "监管年度报表在政府信息公开目录",
    "column": "门户网站年度报表专栏",
}


@dataclass(frozen=True)
class OfficeDuty:
    """One of the office's two publications, as its row shows it."""

    key: str
    label: str
    state: str
    state_label: str
    url: Link | None
    checked_at: str = EMPTY
    checked_iso: str = ""
    #: for the 专栏: "已链接 n / m 家网站" once a check counted them, else empty
    coverage_text: str = ""
    covered: int | None = None
    sites: int | None = None

    @property
    def checked(self) -> bool:
        return bool(self.checked_iso)


@dataclass(frozen=True)
class OfficePublicationView:
    """The "本单位公开情况" section of an office's pages."""

    office: str
    duties: tuple[OfficeDuty, ...]

    @property
    def catalogue(self) -> OfficeDuty:
        return self.duties[0]

    @property
    def column(self) -> OfficeDuty:
        return self.duties[1]


def coverage_text(covered: int | None, sites: int | None) -> str:
    if covered is None or sites is None:
        return ""
    return f"已链接 {covered} / {sites} 家网站"


def _duty(
    key: str,
    state: str,
    url: str | None,
    checked_at: datetime | None,
    covered: int | None = None,
    sites: int | None = None,
) -> OfficeDuty:
    return OfficeDuty(
        key=key,
        label=DUTY_LABELS[key],
        state=state,
        state_label=STATE_LABELS.get(state, state),
        url=Link(url, url if is_web_url(url) else None) if url else None,
        checked_at=format_time(checked_at) if checked_at is not None else EMPTY,
        checked_iso=iso_time(checked_at) if checked_at is not None else "",
        coverage_text=coverage_text(covered, sites),
        covered=covered,
        sites=sites,
    )


def office_publication_view(
    registry: Registry, rollup: NodeRollup | None
) -> OfficePublicationView | None:
    """The section for a province or department whose roll-up is known (its duties undeclared
    until it declares them); None for every other node, and while no roll-up is known."""
    if rollup is None:
        return None
    node = registry.nodes.get(rollup.node)
    if node is None or node.level not in SUPERVISION_LEVELS:
        return None
    facts = rollup.office_publication or OfficePublication()
    return OfficePublicationView(
        office=rollup.name or node.name,
        duties=(
            _duty(
                "catalogue", facts.catalogue_state, facts.catalogue_url, facts.catalogue_checked_at
            ),
            _duty(
                "column",
                facts.column_state,
                facts.column_url,
                facts.column_checked_at,
                facts.column_covered,
                facts.column_sites,
            ),
        ),
    )


def office_publication_json(view: OfficePublicationView | None) -> dict[str, Any] | None:
    """``{catalogue: {...}, column: {...}}`` with states, their labels, URLs, check times (ISO,
    Beijing time) and the 专栏's coverage; None for nodes without the duty."""
    if view is None:
        return None
    out: dict[str, Any] = {}
    for duty in view.duties:
        entry: dict[str, Any] = {
            "kind_label": KIND_LABELS[duty.key],
            "state": duty.state,
            "state_label": duty.state_label,
            "url": duty.url.text if duty.url else None,
            "checked_at": duty.checked_iso or None,
        }
        if duty.key == "column":
            entry |= {"covered": duty.covered, "sites": duty.sites}
        out[duty.key] = entry
    return out


def office_publication_csv_rows(view: OfficePublicationView | None) -> list[tuple[str, str, str]]:
    """(项目, 值, 字段路径) rows: each duty's state, URL, check time and the 专栏's coverage."""
    if view is None:
        return []
    rows: list[tuple[str, str, str]] = []
    for duty in view.duties:
        path = f"office_publication.{duty.key}"
        rows += [
            (f"{duty.label}：公开状态", duty.state_label, f"{path}.state"),
            (f"{duty.label}：网址", duty.url.text if duty.url else "", f"{path}.url"),
            (f"{duty.label}：最近核验时间", duty.checked_iso, f"{path}.checked_at"),
        ]
        if duty.key == "column" and duty.covered is not None:
            rows.append((f"{duty.label}：已链接网站数", str(duty.covered), f"{path}.covered"))
            rows.append((f"{duty.label}：下级网站数", str(duty.sites), f"{path}.sites"))
    return rows

"""What the verifier reads of an accepted report: its identity, the site identifiers and a few
key figures. ``AcceptedSeen`` decodes only that much of a ``ReportAccepted``: the rest of the
report (and the issues) is skipped, not turned into Python objects."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Annotated, Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, create_model

from shared.forms import SUPERVISION_REPORT, WORK_REPORT, get_path, load_form
from shared.forms.definition import label_of

#: the figures compared when a page shows neither the receipt nor the content hash
KEY_FIGURES = {
    WORK_REPORT: ("traffic.unique_visitors", "traffic.page_views", "info.total"),
    SUPERVISION_REPORT: ("spot_checks.year.sampled", "spot_checks.year.failed"),
}
IDENTIFIERS = ("site_code", "icp_filing", "psb_filing")
#: every path of a report the verifier reads
READ_PATHS = tuple(f"site.{name}" for name in IDENTIFIERS) + tuple(
    path for paths in KEY_FIGURES.values() for path in paths
)


class Accepted(Protocol):
    """An accepted report as the verifier reads it (``ReportAccepted`` or ``AcceptedSeen``)."""

    @property
    def receipt_id(self) -> str: ...
    @property
    def content_hash(self) -> str: ...
    @property
    def form(self) -> str: ...
    @property
    def form_version(self) -> str: ...
    @property
    def year(self) -> int: ...
    @property
    def code(self) -> str: ...
    @property
    def report(self) -> Mapping[str, Any]: ...


def _view(name: str, tree: dict[str, Any]) -> type[BaseModel]:
    """A model of the objects along the paths of ``tree``, their other members ignored. A leaf
    keeps whatever JSON value it holds; where an object is expected but something else is found,
    that value is kept as is (``get_path`` reads None through it, as through the full report)."""
    fields: dict[str, Any] = {}
    for part, below in tree.items():
        if below:
            inner = _view(f"{name}_{part}", below)
            kept = Annotated[inner | Any, Field(union_mode="left_to_right")]  # type: ignore[valid-type]
            fields[part] = (kept, None)
        else:
            fields[part] = (Any, None)
    return create_model(name, __config__=ConfigDict(extra="ignore", frozen=True), **fields)


def _tree(paths: tuple[str, ...]) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for path in paths:
        node = tree
        for part in path.split("."):
            node = node.setdefault(part, {})
    return tree


ReportRead = _view("ReportRead", _tree(READ_PATHS))


class AcceptedSeen(BaseModel):
    """The part of a ``ReportAccepted`` the verifier stores; the report is read along
    ``READ_PATHS`` only (decoding it whole and its issues was most of the decoding)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    schema_version: Literal[1] = 1
    outcome: Literal["accepted"] = "accepted"
    receipt_id: str
    content_hash: str
    form: str
    form_version: str
    year: int
    code: str
    read: ReportRead = Field(alias="report")  # type: ignore[valid-type]

    @property
    def report(self) -> dict[str, Any]:
        """The report along ``READ_PATHS`` (absent members are None)."""
        return dict(self.read.model_dump())  # type: ignore[attr-defined]


@cache
def figure_labels(form: str, version: str) -> tuple[tuple[str, str], ...]:
    """The key figures of a form version: (path, Chinese label) pairs (an unknown form version
    raises, and is not remembered)."""
    defn = load_form(form, version)
    return tuple((path, label_of(defn, path)) for path in KEY_FIGURES.get(form, ()))


def key_figures(event: Accepted, report: Mapping[str, Any] | None = None) -> dict[str, int]:
    """The key figures the report gives, by label (``report``: ``event.report``, read once)."""
    report = event.report if report is None else report
    out = {}
    for path, label in figure_labels(event.form, event.form_version):
        value = get_path(report, path)
        if isinstance(value, int) and not isinstance(value, bool):
            out[label] = value
    return out


def identifiers(event: Accepted, report: Mapping[str, Any] | None = None) -> dict[str, str]:
    """The site's identifiers as its report gives them (a work report's only)."""
    if event.form != WORK_REPORT:
        return {}
    report = event.report if report is None else report
    return {name: str(get_path(report, f"site.{name}") or "") for name in IDENTIFIERS}


def watched_kind(form: str) -> str:
    return "report" if form == WORK_REPORT else "catalogue"


def target_values(event: Accepted) -> dict[str, Any]:
    """The columns of the event's target an accepted version sets (``next_check_at`` aside)."""
    report = event.report
    return {
        "receipt_id": event.receipt_id,
        "content_hash": event.content_hash,
        "figures": key_figures(event, report),
        "identifiers": identifiers(event, report),
    }

"""A filing as pages show it: the form's layout, answers by field, versions and their changes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, NamedTuple

from services.publisher.pages.formatting import (
    EMPTY,
    answer_records,
    expand_row,
    format_scalar,
    format_time,
    format_value,
    is_web_url,
    iso_time,
    json_values,
    lookup,
    with_unit,
)
from services.publisher.pages.records import VersionRecord
from shared.filings import Outcome
from shared.forms import WORK_REPORT, LayoutRow, UnknownForm, layout, load_form
from shared.forms.instructions import Instruction, instructions

DEFAULT_FORM_VERSION = "2018"
OUTCOME_LABELS = {"accepted": "已受理", "rejected": "未通过校验"}


@cache
def form_instructions(form: str, version: str = DEFAULT_FORM_VERSION) -> tuple[Instruction, ...]:
    """The filling instructions of a form version (the default version's for an unknown one)."""
    try:
        defn = load_form(form, version)
    except UnknownForm:
        defn = load_form(form, DEFAULT_FORM_VERSION)
    return tuple(instructions(defn))


@cache
def work_report_layout(version: str = DEFAULT_FORM_VERSION) -> tuple[LayoutRow, ...]:
    """The work report's official layout, from its form definition (packaged data)."""
    return tuple(layout(load_form(WORK_REPORT, version)))


@dataclass(frozen=True)
class RecordTable:
    caption: str
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


class FieldLine(NamedTuple):
    """One row of a section table: label | value | unit (a named tuple: a site page makes
    ~120 of them, at a quarter of a frozen dataclass's cost each)."""

    path: str
    label: str
    unit: str
    text: str
    href: str | None = None
    records: RecordTable | None = None
    quarters: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Change:
    """One answer that differs between two versions, as people read it."""

    path: str
    section_label: str
    label: str
    old: str
    new: str


@dataclass(frozen=True)
class VersionView:
    version: int
    receipt_id: str
    content_hash: str
    received_at: str
    received_at_iso: str
    outcome: Outcome
    outcome_label: str
    error_count: int
    warning_count: int
    counted: bool
    first: bool
    changes: tuple[Change, ...]


def diff_reports(
    layout: Sequence[LayoutRow], old: Mapping[str, Any] | None, new: Mapping[str, Any] | None
) -> list[Change]:
    """Every answer of the form that differs between two reports, in the form's order."""
    changes = []
    for row in layout:
        for path, _col, col_label in expand_row(row):
            before, after = lookup(old, path), lookup(new, path)
            if _same(before, after):
                continue
            label = f"{row.label}（{col_label}）" if col_label else row.label
            changes.append(
                Change(
                    path,
                    row.section_label,
                    label,
                    format_value(row, before),
                    format_value(row, after),
                )
            )
    return changes


def _same(a: Any, b: Any) -> bool:
    """Equal answers, where a bool is never the number it equals (True is not 1)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return bool(a == b)


def field_line(row: LayoutRow, report: Mapping[str, Any]) -> FieldLine:
    unit = row.unit or ""
    if row.columns:
        quarters = tuple(
            (col_label, format_value(row, lookup(report, path)))
            for path, _col, col_label in expand_row(row)
        )
        return FieldLine(row.path, row.label, unit, "", quarters=quarters)
    value = lookup(report, row.path)
    if row.type == "records":
        items = answer_records(value)
        if not items:
            return FieldLine(row.path, row.label, unit, EMPTY)
        headers = tuple(with_unit(label, u) for _k, label, u, _t in row.item_fields)
        rows = tuple(
            tuple(format_scalar(kind, item.get(key)) for key, _l, _u, kind in row.item_fields)
            for item in items
        )
        return FieldLine(
            row.path, row.label, unit, "", records=RecordTable(row.label, headers, rows)
        )
    text = format_value(row, value)
    href = value if row.type == "url" and is_web_url(value) else None
    return FieldLine(row.path, row.label, unit, text, href=href)


def _severity_count(issues: Sequence[Mapping[str, Any]], severity: str) -> int:
    return sum(1 for issue in issues if issue.get("severity") == severity)


def version_history(
    layout: Sequence[LayoutRow],
    versions: Sequence[VersionRecord],
    counted: VersionRecord | None,
) -> tuple[VersionView, ...]:
    ordered = sorted(versions, key=lambda v: (v.version, v.receipt_id))
    views = []
    previous: VersionRecord | None = None
    for record in ordered:
        changes = (
            () if previous is None else tuple(diff_reports(layout, previous.report, record.report))
        )
        views.append(
            VersionView(
                version=record.version,
                receipt_id=record.receipt_id,
                content_hash=record.content_hash,
                received_at=format_time(record.received_at),
                received_at_iso=iso_time(record.received_at),
                outcome=record.outcome,
                outcome_label=OUTCOME_LABELS.get(record.outcome, record.outcome),
                error_count=_severity_count(record.issues, "error"),
                warning_count=_severity_count(record.issues, "warning"),
                counted=counted is not None and record.receipt_id == counted.receipt_id,
                first=previous is None,
                changes=changes,
            )
        )
        previous = record
    return tuple(reversed(views))


def filing_json(
    counted: VersionRecord | None,
    report: dict[str, Any] | None,
    version_views: Sequence[VersionView],
) -> dict[str, Any]:
    """The counted version, its report and every version with its changes, for a JSON copy."""
    return {
        "counted": None
        if counted is None
        else {
            "receipt_id": counted.receipt_id,
            "version": counted.version,
            "content_hash": counted.content_hash,
            "received_at": iso_time(counted.received_at),
        },
        "report": None if report is None else json_values(report),
        "versions": [
            {
                "version": v.version,
                "receipt_id": v.receipt_id,
                "content_hash": v.content_hash,
                "received_at": v.received_at_iso,
                "outcome": v.outcome,
                "errors": v.error_count,
                "warnings": v.warning_count,
                "changes": [
                    {"path": c.path, "label": c.label, "old": c.old, "new": c.new}
                    for c in v.changes
                ],
            }
            for v in sorted(version_views, key=lambda v: v.version)
        ],
    }

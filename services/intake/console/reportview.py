"""A filed report as rows of the official layout (label, value, unit), and what changed between
its versions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from services.intake.store import Receipt
from shared.forms import FormDefinition, get_path
from shared.forms.definition import FieldDef, iter_leaves


@dataclass(frozen=True)
class ReportRow:
    section: str
    path: str
    label: str
    value: str
    unit: str


def shown_value(f: FieldDef, value: Any) -> str:
    """A value as the official form writes it: 是/否, option labels, numbers as they are."""
    if value is None or value == []:
        return ""
    options = {o.id: o.label for o in f.options}
    if f.type == "yes_no":
        return "是" if value else "否"
    if f.type == "choice":
        return options.get(str(value), str(value))
    if f.type == "multi_choice" and isinstance(value, list):
        return "、".join(options.get(str(v), str(v)) for v in value)
    return str(value)


def report_rows(defn: FormDefinition, report: Mapping[str, Any] | None) -> list[ReportRow]:
    """Every field in layout order, a records field as one row per item field of each item."""
    rows: list[ReportRow] = []
    for leaf in iter_leaves(defn):
        value = get_path(dict(report), leaf.path) if report else None
        if leaf.field.type != "records":
            unit = leaf.field.unit or ""
            rows.append(
                ReportRow(
                    leaf.section.label, leaf.path, leaf.label, shown_value(leaf.field, value), unit
                )
            )
            continue
        items = value if isinstance(value, list) else []
        if not items:
            rows.append(ReportRow(leaf.section.label, leaf.path, leaf.label, "", ""))
        for i, item in enumerate(items):
            for sub in leaf.field.item_fields:
                rows.append(
                    ReportRow(
                        leaf.section.label,
                        f"{leaf.path}.{i}.{sub.id}",
                        f"{leaf.label} 第{i + 1}条 {sub.label}",
                        shown_value(sub, item.get(sub.id) if isinstance(item, dict) else None),
                        sub.unit or "",
                    )
                )
    return rows


@dataclass(frozen=True)
class ChangedRow:
    path: str
    label: str
    unit: str
    #: the value in each version, oldest first
    values: list[str]


def changed_rows(defn: FormDefinition, versions: Sequence[Receipt]) -> list[ChangedRow]:
    """The fields whose value is not the same in every version, each with all its values."""
    by_version = [{r.path: r for r in report_rows(defn, v.report)} for v in versions]
    paths: list[str] = []
    for rows in by_version:
        paths += [p for p in rows if p not in paths]
    out = []
    for path in paths:
        values = [rows[path].value if path in rows else "" for rows in by_version]
        if len(set(values)) > 1:
            any_row = next(rows[path] for rows in by_version if path in rows)
            out.append(ChangedRow(path, any_row.label, any_row.unit, values))
    return out

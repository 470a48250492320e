"""A form on screen: its definition as sections of inputs, posted fields back into a raw report,
and every issue placed beside the input of its field path."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from shared.contracts import IssueOut
from shared.forms import FormDefinition, get_path
from shared.forms.definition import FieldDef, Section, substitute

#: the envelope every report has; the console sets it from the page, never from the post
ENVELOPE = ("form", "form_version", "year")
#: empty rows offered under a records table's filled ones
SPARE_RECORDS = 2
INTEGER = re.compile(r"^[+-]?\d{1,18}$")
NUMBER = re.compile(r"^[+-]?(\d{1,15}(\.\d{0,6})?|\.\d{1,6})$")
#: what a posted field may hold at most (longer values are cut before parsing)
MAX_FIELD_CHARS = 2000

#: form values as posted: input name -> its values (several for check boxes)
Posted = Mapping[str, Sequence[str]]


def dom_id(path: str) -> str:
    """The HTML id of a field path's input (f-traffic-page_views)."""
    return "f-" + path.replace(".", "-").replace("{", "").replace("}", "")


@dataclass
class Cell:
    """One input: its name (the concrete field path), what it holds, the issues placed on it."""

    path: str
    field: FieldDef
    label: str
    value: str | list[str] = ""
    issues: list[IssueOut] = dataclasses.field(default_factory=list)

    @property
    def id(self) -> str:
        return dom_id(self.path)

    @property
    def has_error(self) -> bool:
        return any(i.severity == "error" for i in self.issues)


@dataclass
class Row:
    """One field of the form: one cell, one per column (quarterly), or a records table."""

    field: FieldDef
    cells: list[Cell]
    #: records fields: one list of cells per row, in item_fields order
    records: list[list[Cell]] = dataclasses.field(default_factory=list)
    issues: list[IssueOut] = dataclasses.field(default_factory=list)

    @property
    def id(self) -> str:
        return dom_id(self.field.id)


@dataclass
class SectionView:
    section: Section
    rows: list[Row]
    issues: list[IssueOut] = dataclasses.field(default_factory=list)

    @property
    def columns(self) -> list[tuple[str, str]]:
        return [(c, self.section.column_labels.get(c, c)) for c in self.section.columns]


@dataclass
class FormView:
    """The whole form with its values and issues; ``unplaced`` holds what no input names."""

    defn: FormDefinition
    sections: list[SectionView]
    unplaced: list[IssueOut] = dataclasses.field(default_factory=list)

    def issues(self, severity: str) -> list[tuple[IssueOut, str]]:
        """Every issue of a severity with the id of the input it belongs to ('' if none)."""
        out: list[tuple[IssueOut, str]] = []
        seen: set[int] = set()
        for section in self.sections:
            for row in section.rows:
                for cell in [*row.cells, *(c for r in row.records for c in r)]:
                    for issue in cell.issues:
                        if issue.severity == severity and id(issue) not in seen:
                            seen.add(id(issue))
                            out.append((issue, cell.id))
                for issue in row.issues:
                    if issue.severity == severity and id(issue) not in seen:
                        seen.add(id(issue))
                        out.append((issue, row.id))
            for issue in section.issues:
                if issue.severity == severity and id(issue) not in seen:
                    seen.add(id(issue))
                    out.append((issue, dom_id(section.section.id)))
        out += [(i, "") for i in self.unplaced if i.severity == severity and id(i) not in seen]
        return out


def flat_values(defn: FormDefinition, report: Mapping[str, Any] | None) -> dict[str, Any]:
    """A report (or a draft) as input name -> value text(s), the way the form shows them."""
    values: dict[str, Any] = {}
    if not report:
        return values
    for section in defn.sections:
        for f in section.fields:
            for col in section.columns or (None,):
                path = substitute(f.id, {"col": col}) if col else f.id
                value = get_path(dict(report), path)
                if f.type == "records":
                    for i, item in enumerate(value if isinstance(value, list) else []):
                        if isinstance(item, dict):
                            for sub in f.item_fields:
                                values[f"{path}.{i}.{sub.id}"] = as_text(item.get(sub.id))
                elif f.type == "multi_choice":
                    values[path] = [str(v) for v in value] if isinstance(value, list) else []
                else:
                    values[path] = as_text(value)
    return values


def as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def build_view(
    defn: FormDefinition, values: Mapping[str, Any], issues: Iterable[IssueOut] = ()
) -> FormView:
    """The form's sections with their values; each issue beside the input of its paths."""
    sections: list[SectionView] = []
    cells: dict[str, Cell] = {}
    rows: dict[str, Row] = {}
    for section in defn.sections:
        section_rows: list[Row] = []
        for f in section.fields:
            row = Row(f, [])
            if f.type == "records":
                filled = _record_count(values, f.id)
                wanted = min(filled + SPARE_RECORDS, f.max_items or filled + SPARE_RECORDS)
                for i in range(wanted):
                    record = []
                    for sub in f.item_fields:
                        path = f"{f.id}.{i}.{sub.id}"
                        cell = Cell(path, sub, f"{f.label} 第{i + 1}条 {sub.label}")
                        cell.value = values.get(path, "")
                        cells[path] = cell
                        record.append(cell)
                    row.records.append(record)
            for col in section.columns or (None,):
                if f.type == "records":
                    break
                path = substitute(f.id, {"col": col}) if col else f.id
                label = f"{section.column_labels.get(col, col)} {f.label}" if col else f.label
                cell = Cell(path, f, label)
                cell.value = values.get(path, [] if f.type == "multi_choice" else "")
                cells[path] = cell
                row.cells.append(cell)
            rows[f.id] = row
            section_rows.append(row)
        sections.append(SectionView(section, section_rows))
    view = FormView(defn, sections)
    by_section = {s.section.id: s for s in sections}
    for issue in issues:
        placed = False
        for path in issue.paths:
            placed = _place(issue, path, cells, rows, by_section) or placed
        if not placed:
            view.unplaced.append(issue)
    return view


def _place(
    issue: IssueOut,
    path: str,
    cells: dict[str, Cell],
    rows: dict[str, Row],
    sections: dict[str, SectionView],
) -> bool:
    """Put the issue on the input of ``path``, else on the nearest enclosing field or section."""
    parts = path.split(".")
    for end in range(len(parts), 0, -1):
        prefix = ".".join(parts[:end])
        if prefix in cells:
            cells[prefix].issues.append(issue)
            return True
        if prefix in rows:
            rows[prefix].issues.append(issue)
            return True
        if prefix in sections:
            sections[prefix].issues.append(issue)
            return True
    return False


def _record_count(values: Mapping[str, Any], path: str) -> int:
    indexes = [
        int(name[len(path) + 1 :].split(".")[0])
        for name in values
        if name.startswith(path + ".") and name[len(path) + 1 :].split(".")[0].isdigit()
    ]
    return max(indexes) + 1 if indexes else 0


def posted_values(defn: FormDefinition, posted: Posted) -> dict[str, Any]:
    """The inputs of the form as posted, cut to MAX_FIELD_CHARS and without NUL characters
    (no database keeps them in a JSON document): what a draft keeps and a report is made of."""
    known = _known_names(defn)
    values: dict[str, Any] = {}
    for name, texts in posted.items():
        kind = known.get(_generic(name))
        if kind is None:
            continue
        cut = [t[:MAX_FIELD_CHARS].replace("\x00", "") for t in texts]
        values[name] = cut if kind == "multi_choice" else (cut[-1] if cut else "")
    return values


def _generic(name: str) -> str:
    """A records cell's name with its row index out (new_media.other.3.type -> …other.#.type)."""
    return re.sub(r"\.\d+\.", ".#.", name)


def _known_names(defn: FormDefinition) -> dict[str, str]:
    names: dict[str, str] = {}
    for section in defn.sections:
        for f in section.fields:
            for col in section.columns or (None,):
                path = substitute(f.id, {"col": col}) if col else f.id
                if f.type == "records":
                    for sub in f.item_fields:
                        names[f"{path}.#.{sub.id}"] = sub.type
                else:
                    names[path] = f.type
    return names


def raw_report(defn: FormDefinition, year: int, values: Mapping[str, Any]) -> dict[str, Any]:
    """The report the inputs make, for the same parsing and rules as any filed report: empty
    inputs are left out (a required one is then reported missing at its path), a records row
    with nothing in it is dropped, numbers that do not read as numbers stay text (and are
    reported as such at their path)."""
    report: dict[str, Any] = {"form": defn.form, "form_version": defn.version, "year": year}
    types = _known_names(defn)
    records: dict[str, dict[int, dict[str, Any]]] = {}
    for name, value in values.items():
        kind = types.get(_generic(name))
        if kind is None:
            continue
        if re.search(r"\.\d+\.", name):
            head, index, sub = re.match(r"^(.*)\.(\d+)\.([^.]+)$", name).groups()  # type: ignore[union-attr]
            converted = _convert(kind, value)
            if converted is not None:
                records.setdefault(head, {}).setdefault(int(index), {})[sub] = converted
            continue
        converted = _convert(kind, value)
        if converted is not None:
            _put(report, name, converted)
    for head, rows in records.items():
        _put(report, head, [rows[i] for i in sorted(rows)] or None)
    return report


def _convert(kind: str, value: Any) -> Any:
    if kind == "multi_choice":
        return [v for v in value if v] if isinstance(value, list) else [value]
    text = (value[-1] if isinstance(value, list) and value else value or "").strip()
    if text == "":
        return None
    if kind == "count" and INTEGER.match(text):
        return int(text)
    if kind in ("decimal", "percent") and NUMBER.match(text):
        return float(text)
    if kind == "yes_no" and text in ("true", "false"):
        return text == "true"
    return text


def _put(report: dict[str, Any], path: str, value: Any) -> None:
    node = report
    *heads, last = path.split(".")
    for head in heads:
        node = node.setdefault(head, {})
    node[last] = value

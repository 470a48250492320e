"""A counted report's answers on its site page: the section tables' lines and the CSV rows.

A site page shows ~120 answers of one form. What depends on the form alone (each row's labels,
unit, split path, quarterly columns, the CSV labels) is compiled once per layout; each report
then takes one pass, every answer looked up and formatted once for both its table line and its
CSV row.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from services.publisher.pages.filing import FieldLine, field_line
from services.publisher.pages.formatting import (
    csv_cell,
    expand_row,
    format_scalar,
    format_value,
    is_web_url,
)
from shared.forms import LayoutRow

#: a CSV row of a report: section, item, unit, value (kept as text), field path
CsvRow = tuple[str, str, str, str, str]
#: kinds whose integer answers are words, not numbers (``format_scalar``)
_WORD_KINDS = frozenset({"yes_no", "choice"})


@dataclass(frozen=True)
class SectionView:
    key: str
    label: str
    lines: tuple[FieldLine, ...]


@dataclass(frozen=True)
class _Cell:
    """One answer of a row: its path (split), and its labels in the quarterly table and CSV."""

    path: str
    keys: tuple[str, ...]
    column_label: str
    csv_label: str


@dataclass(frozen=True)
class _Row:
    """What a layout row's lines need that does not depend on the report."""

    row: LayoutRow
    section: str
    section_label: str
    label: str
    unit: str
    path: str
    kind: str
    options: Mapping[str, str]
    cells: tuple[_Cell, ...]
    quarterly: bool


def _compile(row: LayoutRow) -> _Row:
    cells = tuple(
        _Cell(
            path,
            tuple(path.split(".")),
            col_label,
            f"{row.label}（{col_label}）" if col_label else row.label,
        )
        for path, _col, col_label in expand_row(row)
    )
    return _Row(
        row=row,
        section=row.section,
        section_label=row.section_label,
        label=row.label,
        unit=row.unit or "",
        path=row.path,
        kind=row.type,
        options=row.options,
        cells=cells,
        quarterly=bool(row.columns),
    )


_compiled: dict[int, tuple[Sequence[LayoutRow], tuple[_Row, ...]]] = {}
#: layouts kept compiled (the packaged form's versions, and a few a test passes)
_MAX_COMPILED = 32


def _rows(layout: Sequence[LayoutRow]) -> tuple[_Row, ...]:
    """The layout compiled, once per layout object (the packaged layouts are cached tuples)."""
    known = _compiled.get(id(layout))
    if known is not None and known[0] is layout:
        return known[1]
    rows = tuple(_compile(row) for row in layout)
    if len(_compiled) >= _MAX_COMPILED:
        _compiled.clear()
    _compiled[id(layout)] = (layout, rows)
    return rows


def _at(report: Mapping[str, Any], keys: tuple[str, ...]) -> Any:
    """``formatting.lookup`` over a path split beforehand."""
    current: Any = report
    for key in keys:
        if type(current) is not dict and not isinstance(current, Mapping):
            return None
        current = current.get(key)
    return current


def _texts(kind: str, options: Mapping[str, str], value: Any) -> tuple[str, str]:
    """An answer as the page shows it (numbers grouped) and as its CSV cell (not grouped)."""
    if type(value) is int and kind not in _WORD_KINDS:
        return f"{value:,}", str(value)
    text = format_scalar(kind, value, options)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return text, csv_cell(format_scalar(kind, value, options, grouping=False))
    return text, csv_cell(text)


def report_answers(
    layout: Sequence[LayoutRow], report: Mapping[str, Any]
) -> tuple[tuple[SectionView, ...], list[CsvRow]]:
    """A report by section of its form, a line per field in the form's order, and its CSV rows
    (a row per answer, quarterly rows a row per column)."""
    order: list[str] = []
    labels: dict[str, str] = {}
    lines: dict[str, list[FieldLine]] = {}
    csv_rows: list[CsvRow] = []
    for r in _rows(layout):
        section = lines.get(r.section)
        if section is None:
            order.append(r.section)
            labels[r.section] = r.section_label
            section = lines[r.section] = []
        if r.kind == "records":  # rare: the line and cells as ``field_line`` gives them
            section.append(field_line(r.row, report))
            for cell in r.cells:
                csv_text = csv_cell(format_value(r.row, _at(report, cell.keys), grouping=False))
                csv_rows.append((r.section_label, cell.csv_label, r.unit, csv_text, cell.path))
        elif r.quarterly:
            quarters = []
            for cell in r.cells:
                text, csv_text = _texts(r.kind, r.options, _at(report, cell.keys))
                quarters.append((cell.column_label, text))
                csv_rows.append((r.section_label, cell.csv_label, r.unit, csv_text, cell.path))
            section.append(FieldLine(r.path, r.label, r.unit, "", quarters=tuple(quarters)))
        else:
            (cell,) = r.cells
            value = _at(report, cell.keys)
            text, csv_text = _texts(r.kind, r.options, value)
            href = value if r.kind == "url" and is_web_url(value) else None
            section.append(FieldLine(r.path, r.label, r.unit, text, href))
            csv_rows.append((r.section_label, cell.csv_label, r.unit, csv_text, cell.path))
    sections = tuple(SectionView(key, labels[key], tuple(lines[key])) for key in order)
    return sections, csv_rows

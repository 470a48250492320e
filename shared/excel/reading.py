"""Reading a filled template back: the report as raw wire JSON, and the cells of every path."""

from __future__ import annotations

import io
import re
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from openpyxl import load_workbook
from openpyxl.utils import get_column_letter, range_boundaries
from openpyxl.utils.cell import coordinate_to_tuple
from openpyxl.utils.datetime import from_excel
from openpyxl.worksheet.worksheet import Worksheet

from shared.excel.budget import (
    MAX_PARTS,
    MAX_UNPACKED_BYTES,
    Budget,
    check_archive,
    numbers_as_text,
)
from shared.excel.layout import (
    META_SHEET,
    NO,
    YES,
    Slot,
    WorkbookError,
    not_template,
    read_slots,
)
from shared.forms.catalog import UnknownForm, load_form
from shared.forms.definition import ENVELOPE_LABELS, FieldDef, FormDefinition, Leaf, leaves
from shared.forms.wire import MAX_RECORDS
from shared.numbers import MAX_DIGITS, OversizedNumber

__all__ = ["MAX_PARTS", "MAX_UNPACKED_BYTES", "FilledWorkbook", "read_workbook"]

_EMPTY: Any = object()


@dataclass
class FilledWorkbook:
    """A filled template read back: the raw report and the cells each field path came from."""

    form: str
    form_version: str
    sheet: str
    report: dict[str, Any]
    cells: dict[str, list[str]] = field(default_factory=dict)

    def cells_of(self, path: str) -> list[str]:
        """``sheet!C27`` for a path; a group gives its fields' cells, an item its parent's."""
        refs = self.cells.get(path)
        if refs is None and path:
            below = [r for p, rs in self.cells.items() if p.startswith(path + ".") for r in rs]
            refs = [_span(below)] if len(below) > 4 else below
        parts = path.split(".")
        while not refs and len(parts) > 1:
            parts.pop()
            refs = self.cells.get(".".join(parts))
        return [f"{self.sheet}!{ref}" for ref in refs or []]


def read_workbook(data: bytes, budget: Budget | None = None) -> FilledWorkbook:
    """The report in a filled template, as raw wire JSON, with the cells of every path.

    Values are converted as a person means them (是/否 → true/false, option labels → ids, dates
    → ISO, whole numbers typed as text → integers); what cannot be converted is passed on as it
    is, so the wire model refuses it with the same message as in JSON, at the same path.
    Raises WorkbookError when the bytes are not an xlsx or not a nianbao template, or when
    reading them would cost more than ``budget`` (XML elements, seconds): the archive is
    measured before it is parsed, and the metadata checked against the form definition before
    any cell of the sheet is read.
    """
    budget = budget or Budget()
    oversized = check_archive(data, budget)
    if oversized:
        data = numbers_as_text(data, oversized)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            book = load_workbook(io.BytesIO(data), data_only=True)
    except Exception as exc:
        raise WorkbookError(
            "unreadable", "无法读取该 Excel 文件（.xlsx）", f"not a readable xlsx file: {exc}"
        ) from exc
    if META_SHEET not in book.sheetnames:
        raise not_template("缺少隐藏的模板信息工作表", "the hidden metadata sheet is missing")
    meta = book[META_SHEET]
    head = {
        str(row[0]): str(row[1])
        for row in meta.iter_rows(min_row=1, max_row=4, max_col=2, values_only=True)
        if row[0] is not None and row[1] is not None
    }
    try:
        defn = load_form(head.get("form", ""), head.get("form_version"))
    except UnknownForm as exc:
        raise not_template("模板的表单或版本未知", f"unknown form or version: {exc}") from exc
    sheet_name = head.get("sheet", "")
    if sheet_name not in book.sheetnames or sheet_name == META_SHEET:
        raise not_template("找不到报表工作表", f"the sheet {sheet_name!r} is missing")
    budget.check()
    slots = checked_slots(defn, read_slots(meta))
    budget.check()
    return _Reader(defn, book[sheet_name], slots).read()


def checked_slots(defn: FormDefinition, rows: Iterable[Slot]) -> list[Slot]:
    """The metadata's slots once each names a field of the definition, at most once, and a
    records range has the table's columns and at most as many rows as the field takes items:
    a template's metadata is the client's to edit, so it is checked before any cell is read."""
    by_path = leaves(defn)
    seen: set[tuple[str, str, str]] = set()
    slots: list[Slot] = []
    for slot in rows:
        key = (slot.kind, slot.path, slot.extra if slot.kind == "option" else "")
        if key in seen:
            raise not_template("模板信息中有重复字段", f"{slot.path!r} appears twice")
        seen.add(key)
        leaf = by_path.get(slot.path)
        if slot.kind == "field":
            if slot.path != "year" and (leaf is None or leaf.field.type in _TABLES):
                raise not_template("模板信息中有未知字段", f"unknown field path {slot.path!r}")
        elif slot.kind == "option":
            if leaf is None or slot.extra not in {o.id for o in leaf.field.options}:
                raise not_template("模板信息中有未知选项", f"unknown option of {slot.path!r}")
        else:
            _check_table(slot, leaf)
        slots.append(slot)
    return slots


_TABLES = ("multi_choice", "records")


def _check_table(slot: Slot, leaf: Leaf | None) -> None:
    if leaf is None or leaf.field.type != "records":
        raise not_template("模板信息中有未知字段", f"unknown field path {slot.path!r}")
    items = {i.id for i in leaf.field.item_fields}
    columns = slot.extra.split(",")
    if len(set(columns)) != len(columns) or any(c not in items for c in columns):
        raise not_template("模板信息中有未知列", f"unknown item fields in {slot.extra!r}")
    left, top, right, bottom = range_boundaries(slot.ref)
    assert left is not None and top is not None and right is not None and bottom is not None
    most = leaf.field.max_items or MAX_RECORDS
    if right - left + 1 != len(columns) or not 0 < bottom - top + 1 <= most:
        raise not_template(
            "模板信息中的表格范围无效",
            f"the range {slot.ref} of {slot.path} is not {len(columns)} columns of at most "
            f"{most} rows",
        )


class _Reader:
    """Reads the cells the metadata names, converting each by its field's type."""

    def __init__(self, defn: FormDefinition, sheet: Worksheet, slots: list[Slot]) -> None:
        self.defn = defn
        self.sheet = sheet
        self.slots = slots
        self.leaves = leaves(defn)
        self.flat: dict[str, Any] = {}
        self.cells: dict[str, list[str]] = {}

    def read(self) -> FilledWorkbook:
        options: dict[str, list[tuple[str, str]]] = {}
        for slot in self.slots:
            if slot.kind == "field":
                self._field(slot)
            elif slot.kind == "option":
                options.setdefault(slot.path, []).append((slot.extra, slot.ref))
            else:
                self._records(slot)
        for path, cells in options.items():
            self._options(path, cells)
        report = self._nest()
        return FilledWorkbook(
            form=self.defn.form,
            form_version=self.defn.version,
            sheet=self.sheet.title,
            report=report,
            cells=self.cells,
        )

    def _leaf(self, slot: Slot, wanted: tuple[str, ...]) -> FieldDef:
        leaf = self.leaves.get(slot.path)
        if leaf is None or leaf.field.type not in wanted:
            raise not_template("模板信息中有未知字段", f"unknown field path {slot.path!r}")
        return leaf.field

    def _field(self, slot: Slot) -> None:
        if slot.path == "year":
            f = FieldDef(id="year", label=ENVELOPE_LABELS["year"], type="count")
        else:
            kinds = ("multi_choice", "records")
            f = self._leaf(slot, tuple(t for t in _TYPES if t not in kinds))
        self.flat[slot.path] = _from_cell(f, self.sheet[slot.ref].value)
        self.cells[slot.path] = [slot.ref]

    def _options(self, path: str, cells: list[tuple[str, str]]) -> None:
        f = self._leaf(Slot("option", path, "", ""), ("multi_choice",))
        known = {o.id for o in f.options}
        chosen: list[Any] = []
        filled = False
        self.cells[path] = [ref for _, ref in cells]
        for option, ref in cells:
            if option not in known:
                raise not_template("模板信息中有未知选项", f"unknown option {option!r} of {path}")
            value = _from_cell(FieldDef(id=path, label="", type="yes_no"), self.sheet[ref].value)
            if value is _EMPTY or value is False:
                filled = filled or value is False
                continue
            filled = True
            self.cells[f"{path}.{len(chosen)}"] = [ref]
            chosen.append(option if value is True else value)
        self.flat[path] = chosen if filled else _EMPTY

    def _records(self, slot: Slot) -> None:
        f = self._leaf(slot, ("records",))
        items = {i.id: i for i in f.item_fields}
        columns = slot.extra.split(",")
        if any(c not in items for c in columns):
            raise not_template("模板信息中有未知列", f"unknown item fields in {slot.extra!r}")
        min_col, min_row, _max_col, max_row = range_boundaries(slot.ref)
        assert min_col is not None and min_row is not None and max_row is not None
        out: list[dict[str, Any]] = []
        self.cells[slot.path] = [slot.ref]
        for row in range(min_row, max_row + 1):
            values = {
                name: _from_cell(items[name], self.sheet.cell(row, min_col + i).value)
                for i, name in enumerate(columns)
            }
            if all(v is _EMPTY for v in values.values()):
                continue
            index = len(out)
            first = get_column_letter(min_col)
            last = get_column_letter(min_col + len(columns) - 1)
            self.cells[f"{slot.path}.{index}"] = [f"{first}{row}:{last}{row}"]
            item: dict[str, Any] = {}
            for i, name in enumerate(columns):
                self.cells[f"{slot.path}.{index}.{name}"] = [
                    f"{get_column_letter(min_col + i)}{row}"
                ]
                value = values[name]
                if value is _EMPTY:
                    if items[name].required:
                        continue
                    value = None
                item[name] = value
            out.append(item)
        self.flat[slot.path] = out if out else _EMPTY

    def _nest(self) -> dict[str, Any]:
        report: dict[str, Any] = {"form": self.defn.form, "form_version": self.defn.version}
        year = self.flat.get("year", _EMPTY)
        if year is not _EMPTY:
            report["year"] = year
        empty_groups: dict[str, bool] = {}
        required_groups: set[str] = set()
        for path, leaf in self.leaves.items():
            parts = path.split(".")
            value = self.flat.get(path, _EMPTY)
            groups = [".".join(parts[:i]) for i in range(1, len(parts))]
            for group in groups:
                empty_groups[group] = empty_groups.get(group, True) and value is _EMPTY
                if leaf.field.required:
                    required_groups.add(group)
            node = report
            for part in parts[:-1]:
                node = node.setdefault(part, {})
            if value is _EMPTY:
                if leaf.field.required:
                    continue
                value = None
            node[parts[-1]] = value
        for group in sorted(empty_groups, key=lambda g: g.count(".")):
            if empty_groups[group] and group not in required_groups:
                _set_none(report, group)
        return report


_TYPES = (
    "count",
    "decimal",
    "percent",
    "yes_no",
    "choice",
    "multi_choice",
    "text",
    "code",
    "url",
    "date",
    "records",
)
_TRUE = {YES, "true", "yes", "y", "1", "√", "✓"}
_FALSE = {NO, "false", "no", "n", "0", "×"}
_INT_RE = re.compile(r"^[+-]?\d{1,3}(,\d{3})+$|^[+-]?\d+$")


def _from_cell(f: FieldDef, value: Any) -> Any:
    """A cell's value as the wire wants it, or as it is when it cannot be converted."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return _EMPTY
    if isinstance(value, str):
        value = value.strip()
    match f.type:
        case "count":
            return _whole(value)
        case "decimal" | "percent":
            return _number(value)
        case "yes_no":
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            return True if text in _TRUE else False if text in _FALSE else value
        case "choice":
            by_label = {o.label: o.id for o in f.options}
            return by_label.get(value, value) if isinstance(value, str) else value
        case "date":
            if isinstance(value, datetime):
                return value.date().isoformat()
            if isinstance(value, date):
                return value.isoformat()
            if isinstance(value, int | float) and not isinstance(value, bool):
                return from_excel(value).date().isoformat()
            return value
        case "text" | "code" | "url":
            if isinstance(value, bool):
                return YES if value else NO
            if isinstance(value, float) and value.is_integer():
                return str(int(value))
            if isinstance(value, datetime) and value.time() == datetime.min.time():
                return value.date().isoformat()
            return value if isinstance(value, str) else str(value)
    return value


def _set_none(report: dict[str, Any], group: str) -> None:
    *parents, last = group.split(".")
    node: Any = report
    for part in parents:
        node = node.get(part) if isinstance(node, dict) else None
    if isinstance(node, dict) and last in node:
        node[last] = None


def _whole(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and _INT_RE.fullmatch(value):
        return _int(value)
    return value


def _number(value: Any) -> Any:
    if isinstance(value, str):
        if _INT_RE.fullmatch(value):
            return _int(value)
        try:
            return float(value.replace(",", ""))
        except ValueError:
            return value
    return value


def _int(text: str) -> int | OversizedNumber:
    """Digits (with thousands commas) as an int, or the marker the wire model refuses when
    there are more than Python reads."""
    digits = text.replace(",", "").lstrip("+-")
    return OversizedNumber(len(digits)) if len(digits) > MAX_DIGITS else int(text.replace(",", ""))


def _span(refs: list[str]) -> str:
    """The smallest range covering these cells (for a group of many fields)."""
    cells = [coordinate_to_tuple(r) for r in refs if ":" not in r]
    for r in refs:
        if ":" in r:
            c1, r1, c2, r2 = range_boundaries(r)
            cells += [(r1 or 1, c1 or 1), (r2 or 1, c2 or 1)]
    top, bottom = min(r for r, _ in cells), max(r for r, _ in cells)
    left, right = min(c for _, c in cells), max(c for _, c in cells)
    return f"{get_column_letter(left)}{top}:{get_column_letter(right)}{bottom}"

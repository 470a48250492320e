"""Building the template of a form: the sheet laid out like the official form, and its map."""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping
from datetime import date
from typing import Any

from openpyxl import Workbook
from openpyxl.cell.cell import Cell
from openpyxl.styles import Alignment, Border, Font, PatternFill, Protection, Side
from openpyxl.utils import get_column_letter
from openpyxl.workbook.protection import WorkbookProtection
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.worksheet import Worksheet

from shared.excel.layout import NO, YES, Slot, sheet_title, write_meta
from shared.excel.printing import note_for, print_like_a_form, row_height, write_instructions
from shared.forms.definition import ENVELOPE_LABELS, FieldDef, FormDefinition, Section, substitute
from shared.forms.wire import ISO_DATE_RE, MAX_COUNT

RECORDS_ROWS = 5

_FIRST_VALUE_COL = 3  # C: A is the section, B the label
_INPUT_FILL = PatternFill("solid", fgColor="FFF6D5")
_SECTION_FILL = PatternFill("solid", fgColor="E8EEF7")
_HEAD_FILL = PatternFill("solid", fgColor="D9E1F2")
_THIN = Side(style="thin", color="A6A6A6")
_BOX = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)
_WRAP = Alignment(wrap_text=True, vertical="center")
_CENTER = Alignment(horizontal="center", vertical="center", wrap_text=True)
_UNLOCKED = Protection(locked=False)
#: a data validation: (key shared by equal rules, factory, message)
_Rule = tuple[tuple[Any, ...], Callable[[], DataValidation], str]


def build_template(
    defn: FormDefinition,
    values: Mapping[str, Any] | None = None,
    records_rows: int = RECORDS_ROWS,
) -> bytes:
    """The template of a form version as xlsx bytes, prefilled with ``values`` (a partial or
    complete report: the header block from the registry, or a whole report to convert)."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = sheet_title(defn)
    writer = _Writer(defn, sheet, values or {}, records_rows)
    slots = writer.write()
    print_like_a_form(sheet, "3:3", get_column_letter(writer.last_col))
    write_instructions(book, defn)
    write_meta(book, defn, sheet.title, slots)
    sheet.protection.sheet = True
    sheet.protection.formatColumns = False
    sheet.protection.formatRows = False
    sheet.protection.formatCells = False
    book.security = WorkbookProtection(lockStructure=True)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _hint(f: FieldDef) -> str:
    labels = "/".join(o.label for o in f.options)
    text = {
        "count": "非负整数",
        "decimal": "不小于0的数值",
        "percent": "0–100 的数值",
        "yes_no": "下拉选择 是/否",
        "choice": f"下拉选择：{labels}",
        "multi_choice": "选中填“是”，未选中填“否”",
        "text": f"文本，不超过{f.max_length}字" if f.max_length else "文本",
        "code": "代码（按文本填写）",
        "url": "网址，以 http:// 或 https:// 开头",
        "date": "日期，如 2025-01-10",
        "records": "每行一条，空行不计",
    }[f.type]
    return text if f.required else f"{text}（可空）"


class _Writer:
    """Lays a definition out on a worksheet and remembers the slot of every field path."""

    def __init__(
        self, defn: FormDefinition, sheet: Worksheet, values: Mapping[str, Any], records_rows: int
    ) -> None:
        self.defn = defn
        self.sheet = sheet
        self.values = values
        self.records_rows = max(1, records_rows)
        self.value_cols = max([len(s.columns) for s in defn.sections] + [1])
        self.unit_col = _FIRST_VALUE_COL + self.value_cols
        self.hint_col = self.unit_col + 1
        widest_records = max([len(f.item_fields) for s in defn.sections for f in s.fields] + [0])
        self.last_col = max(self.hint_col, _FIRST_VALUE_COL + widest_records - 1)
        self.slots: list[Slot] = []
        self.validations: dict[tuple[Any, ...], DataValidation] = {}
        self.row = 1

    def write(self) -> list[Slot]:
        self._head()
        for section in self.defn.sections:
            first = self.row
            if section.columns:
                self._column_heads(section)
            for f in section.fields:
                if section.columns:
                    self._quarterly(section, f)
                elif f.type == "multi_choice":
                    self._options(f)
                elif f.type == "records":
                    self._records(f)
                else:
                    self._scalar(f, f.id, f.label)
            self._section_cell(section.label, first)
        for validation in self.validations.values():
            self.sheet.add_data_validation(validation)
        self._widths()
        return self.slots

    # ------------------------------------------------------------ blocks
    def _head(self) -> None:
        last = get_column_letter(self.last_col)
        sheet = self.sheet
        sheet.merge_cells(f"A1:{last}1")
        sheet["A1"] = self.defn.title
        sheet["A1"].font = Font(size=16, bold=True)
        sheet["A1"].alignment = _CENTER
        sheet.row_dimensions[1].height = 30
        sheet.merge_cells(f"A2:{last}2")
        sheet["A2"] = (
            f"表单 {self.defn.form} 版本 {self.defn.version}。请只在黄色单元格中填写；"
            "是/否与选项请从下拉列表选择；数量填非负整数。请勿增删行列或修改隐藏信息，"
            "填好后直接上传本文件。"
        )
        sheet["A2"].alignment = _WRAP
        sheet.row_dimensions[2].height = row_height([(sheet["A2"].value, self._span_width())])
        heads = ["类别", "指标", "填报值", *([""] * (self.value_cols - 1)), "单位", "填写说明"]
        for col, text in enumerate(heads, start=1):
            self._label(3, col, text, bold=True, fill=_HEAD_FILL, align=_CENTER)
        if self.value_cols > 1:
            sheet.merge_cells(
                start_row=3,
                start_column=_FIRST_VALUE_COL,
                end_row=3,
                end_column=self.unit_col - 1,
            )
        self.row = 4
        self._label(self.row, 1, "报表年度", fill=_SECTION_FILL, align=_CENTER)
        year = FieldDef(id="year", label=ENVELOPE_LABELS["year"], type="count")
        self._scalar(year, "year", ENVELOPE_LABELS["year"], hint="四位年份，如 2025")

    def _column_heads(self, section: Section) -> None:
        self._label(self.row, 2, "（按季度填写）", fill=_HEAD_FILL, align=_CENTER)
        for i, col in enumerate(section.columns):
            text = section.column_labels.get(col, col)
            self._label(
                self.row, _FIRST_VALUE_COL + i, text, bold=True, fill=_HEAD_FILL, align=_CENTER
            )
        self._label(self.row, self.unit_col, "", fill=_HEAD_FILL)
        self._label(self.row, self.hint_col, "", fill=_HEAD_FILL)
        self.row += 1

    def _scalar(self, f: FieldDef, path: str, label: str, hint: str | None = None) -> None:
        self._label(self.row, 2, label)
        value = _display(f, _value_at(self.values, path))
        self._input(
            self.row, _FIRST_VALUE_COL, f, path, value, rule=_validation(f, path), hint=hint
        )
        for col in range(_FIRST_VALUE_COL + 1, self.unit_col):
            self._label(self.row, col, "", fill=_SECTION_FILL)
        self._label(self.row, self.unit_col, f.unit or "", align=_CENTER)
        self._label(self.row, self.hint_col, hint or _hint(f))
        self.row += 1

    def _quarterly(self, section: Section, f: FieldDef) -> None:
        self._label(self.row, 2, f.label)
        for i, col in enumerate(section.columns):
            path = substitute(f.id, {"col": col})
            value = _display(f, _value_at(self.values, path))
            self._input(self.row, _FIRST_VALUE_COL + i, f, path, value)
        self._label(self.row, self.unit_col, f.unit or "", align=_CENTER)
        self._label(self.row, self.hint_col, _hint(f))
        self.row += 1

    def _options(self, f: FieldDef) -> None:
        chosen = _value_at(self.values, f.id)
        yes_no = FieldDef(id=f.id, label=f.label, type="yes_no")
        for option in f.options:
            self._label(self.row, 2, f"{f.label}：{option.label}")
            value = None if not isinstance(chosen, list) else (YES if option.id in chosen else NO)
            cell = self._input(
                self.row, _FIRST_VALUE_COL, yes_no, f.id, value, register=False, hint=_hint(f)
            )
            self.slots.append(Slot("option", f.id, cell.coordinate, f.type, option.id))
            for col in range(_FIRST_VALUE_COL + 1, self.unit_col):
                self._label(self.row, col, "", fill=_SECTION_FILL)
            self._label(self.row, self.unit_col, "")
            self._label(self.row, self.hint_col, _hint(f))
            self.row += 1

    def _records(self, f: FieldDef) -> None:
        given = _value_at(self.values, f.id)
        items = given if isinstance(given, list) else []
        rows = max(self.records_rows, len(items))
        self._label(self.row, 2, f"{f.label}（每行一条，空行不计）", bold=True)
        for i, item_field in enumerate(f.item_fields):
            text = item_field.label  # an item is judged whole: every field or none
            self._label(
                self.row, _FIRST_VALUE_COL + i, text, bold=True, fill=_HEAD_FILL, align=_CENTER
            )
        self.row += 1
        first = self.row
        for n in range(rows):
            item = items[n] if n < len(items) and isinstance(items[n], Mapping) else {}
            self._label(self.row, 2, f"{f.label} 第{n + 1}条")
            for i, item_field in enumerate(f.item_fields):
                value = _display(item_field, item.get(item_field.id))
                self._input(self.row, _FIRST_VALUE_COL + i, item_field, f.id, value, register=False)
            self.row += 1
        last_col = get_column_letter(_FIRST_VALUE_COL + len(f.item_fields) - 1)
        ref = f"{get_column_letter(_FIRST_VALUE_COL)}{first}:{last_col}{self.row - 1}"
        extra = ",".join(i.id for i in f.item_fields)
        self.slots.append(Slot("records", f.id, ref, f.type, extra))

    def _section_cell(self, label: str, first: int) -> None:
        last = self.row - 1
        if last > first:
            self.sheet.merge_cells(start_row=first, start_column=1, end_row=last, end_column=1)
        self._label(first, 1, label, bold=True, fill=_SECTION_FILL, align=_CENTER)

    # ------------------------------------------------------------ cells
    def _label(
        self,
        row: int,
        col: int,
        text: str,
        bold: bool = False,
        fill: PatternFill | None = None,
        align: Alignment = _WRAP,
    ) -> Cell:
        cell = self.sheet.cell(row, col)
        _put(cell, text or None)
        cell.border = _BOX
        cell.alignment = align
        if bold:
            cell.font = Font(bold=True)
        if fill is not None:
            cell.fill = fill
        return cell

    def _input(
        self,
        row: int,
        col: int,
        f: FieldDef,
        path: str,
        value: Any,
        register: bool = True,
        rule: _Rule | None = None,
        hint: str | None = None,
    ) -> Cell:
        cell = self.sheet.cell(row, col)
        _put(cell, value)
        cell.border = _BOX
        cell.fill = _INPUT_FILL
        cell.protection = _UNLOCKED
        cell.alignment = Alignment(vertical="center")
        cell.number_format = _number_format(f)
        cell.comment = note_for(self.defn, f, path, hint or _hint(f))
        if register:
            self.slots.append(Slot("field", path, cell.coordinate, f.type))
        rule = rule or _validation(f)
        if rule is not None:
            key, make, message = rule
            self._validate(cell, key, make, message)
        return cell

    def _validate(
        self, cell: Cell, key: tuple[Any, ...], make: Callable[[], DataValidation], message: str
    ) -> None:
        validation = self.validations.get(key)
        if validation is None:
            validation = make()
            validation.allow_blank = True
            validation.showErrorMessage = True
            validation.errorTitle = "填写有误"
            validation.error = message
            validation.showInputMessage = True
            validation.prompt = message
            self.validations[key] = validation
        validation.add(cell)

    def _width(self, col: int) -> float:
        return {1: 12, 2: 40, self.unit_col: 6, self.hint_col: 26}.get(col, 14)

    def _span_width(self) -> float:
        return sum(self._width(col) for col in range(1, self.last_col + 1))

    def _widths(self) -> None:
        for col in range(1, self.last_col + 1):
            self.sheet.column_dimensions[get_column_letter(col)].width = self._width(col)
        self.sheet.freeze_panes = "C4"


def _number_format(f: FieldDef) -> str:
    return {"count": "0", "date": "yyyy-mm-dd", "text": "@", "code": "@", "url": "@"}.get(
        f.type, "General"
    )


def _validation(f: FieldDef, path: str = "") -> _Rule | None:
    """(key, factory, message) of a field's data validation; equal keys share one rule."""
    labels = [o.label for o in f.options]
    if path == "year":
        return (
            ("year",),
            lambda: DataValidation(
                type="whole", operator="between", formula1="2000", formula2="2100"
            ),
            "请填写四位年份（2000–2100）",
        )
    if f.type == "count":
        return (
            ("count",),
            lambda: DataValidation(
                type="whole", operator="between", formula1="0", formula2=str(MAX_COUNT)
            ),
            "请填写非负整数",
        )
    if f.type == "decimal":
        return (
            ("decimal",),
            lambda: DataValidation(type="decimal", operator="greaterThanOrEqual", formula1="0"),
            "请填写不小于0的数值",
        )
    if f.type == "percent":
        return (
            ("percent",),
            lambda: DataValidation(
                type="decimal", operator="between", formula1="0", formula2="100"
            ),
            "请填写 0 到 100 之间的数值",
        )
    if f.type == "yes_no":
        return (
            ("yes_no",),
            lambda: DataValidation(type="list", formula1=f'"{YES},{NO}"'),
            "请从下拉列表选择 是 或 否",
        )
    if f.type == "choice":
        return (
            ("choice", *labels),
            lambda: DataValidation(type="list", formula1='"' + ",".join(labels) + '"'),
            "请从下拉列表选择：" + "/".join(labels),
        )
    if f.type == "date":
        return (
            ("date",),
            lambda: DataValidation(
                type="date", operator="between", formula1="36526", formula2="73051"
            ),
            "请填写日期，如 2025-01-10",
        )
    if f.type in ("text", "code", "url") and f.max_length:
        n = f.max_length
        return (
            ("length", n),
            lambda: DataValidation(type="textLength", operator="lessThanOrEqual", formula1=str(n)),
            f"不超过{n}个字符",
        )
    return None


def _put(cell: Cell, value: Any) -> None:
    """Set a value; text that starts with "=" stays text, never becomes a formula."""
    cell.value = value
    if isinstance(value, str) and value.startswith("="):
        cell.data_type = "s"


def _value_at(values: Mapping[str, Any], path: str) -> Any:
    current: Any = values
    for part in path.split("."):
        if not isinstance(current, Mapping):
            return None
        current = current.get(part)
    return current


def _display(f: FieldDef, value: Any) -> Any:
    """A wire value as a person reads it in a cell (是/否, option labels, real dates)."""
    if value is None:
        return None
    if f.type == "yes_no" and isinstance(value, bool):
        return YES if value else NO
    if f.type == "choice":
        return {o.id: o.label for o in f.options}.get(value, value)
    if f.type == "date" and isinstance(value, str) and ISO_DATE_RE.fullmatch(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            return value
    if isinstance(value, list | dict):
        return str(value)
    return value

"""Excel templates of a form: build a workbook from its definition, read a filled one back.

The visible sheet is laid out like the official form: title, one block per section with the
Chinese labels and units, one value column (a column per quarter for quarterly sections), a
multi-choice as one 是/否 row per option, a records field as a small table of empty rows. Value
cells carry data validation (non-negative integers, 是/否 and option drop-downs, dates, text
lengths); everything else is locked. A very hidden sheet ``_nianbao`` records the form, its version
and the cell of every field path, so reading never depends on labels or positions guessed from
the layout. Reading gives the report as raw wire JSON (the validation is the wire model's, as for
JSON) and, per field path, the cells it came from, for error messages that point at cells.
"""

from __future__ import annotations

import io
import re
import warnings
import zipfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from openpyxl import Workbook, load_workbook
from openpyxl.cell.cell import Cell
from openpyxl.styles import Alignment, Border, Font, PatternFill, Protection, Side
from openpyxl.utils import get_column_letter, range_boundaries
from openpyxl.utils.cell import coordinate_to_tuple
from openpyxl.utils.datetime import from_excel
from openpyxl.workbook.protection import WorkbookProtection
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.worksheet import Worksheet

from shared.forms.catalog import UnknownForm, load_form
from shared.forms.definition import (
    ENVELOPE_LABELS,
    FieldDef,
    FormDefinition,
    Section,
    leaves,
    substitute,
)
from shared.forms.wire import ISO_DATE_RE, MAX_COUNT

XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
META_SHEET = "_nianbao"
LAYOUT_VERSION = "1"
YES, NO = "是", "否"
RECORDS_ROWS = 5
#: an uploaded workbook may not unpack to more than this (zip bombs)
MAX_UNPACKED_BYTES = 16 * 2**20
MAX_PARTS = 200

_FIRST_VALUE_COL = 3  # C: A is the section, B the label
_INPUT_FILL = PatternFill("solid", fgColor="FFF6D5")
_SECTION_FILL = PatternFill("solid", fgColor="E8EEF7")
_HEAD_FILL = PatternFill("solid", fgColor="D9E1F2")
_THIN = Side(style="thin", color="A6A6A6")
_BOX = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)
_WRAP = Alignment(wrap_text=True, vertical="center")
_CENTER = Alignment(horizontal="center", vertical="center", wrap_text=True)
_UNLOCKED = Protection(locked=False)
_EMPTY: Any = object()
#: a data validation: (key shared by equal rules, factory, message)
_Rule = tuple[tuple[Any, ...], Callable[[], DataValidation], str]


class WorkbookError(ValueError):
    """An upload that is not a readable xlsx, or not a nianbao template."""

    def __init__(self, kind: str, message_zh: str, message_en: str) -> None:
        super().__init__(message_en)
        #: "unreadable" (not an xlsx file) or "not_a_template"
        self.kind = kind
        self.message_zh = message_zh
        self.message_en = message_en


@dataclass(frozen=True)
class Slot:
    """Where a field path lives: one cell, an option's cell, or a records table's range."""

    kind: str  # "field" | "option" | "records"
    path: str
    ref: str
    type: str
    extra: str = ""


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


def sheet_title(defn: FormDefinition) -> str:
    return defn.title[:31]


# ---------------------------------------------------------------- building


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
    slots = _Writer(defn, sheet, values or {}, records_rows).write()
    _write_meta(book, defn, sheet.title, slots)
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
        sheet.row_dimensions[2].height = 32
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
        self._input(self.row, _FIRST_VALUE_COL, f, path, value, rule=_validation(f, path))
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
            cell = self._input(self.row, _FIRST_VALUE_COL, yes_no, f.id, value, register=False)
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
            text = item_field.label + ("" if item_field.required else "（可空）")
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
    ) -> Cell:
        cell = self.sheet.cell(row, col)
        _put(cell, value)
        cell.border = _BOX
        cell.fill = _INPUT_FILL
        cell.protection = _UNLOCKED
        cell.alignment = Alignment(vertical="center")
        cell.number_format = _number_format(f)
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

    def _widths(self) -> None:
        widths = {1: 14, 2: 44, self.unit_col: 8, self.hint_col: 30}
        for col in range(1, self.last_col + 1):
            self.sheet.column_dimensions[get_column_letter(col)].width = widths.get(col, 16)
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


def _write_meta(book: Workbook, defn: FormDefinition, sheet: str, slots: list[Slot]) -> None:
    meta = book.create_sheet(META_SHEET)
    meta.sheet_state = "veryHidden"
    meta.append(["nianbao", LAYOUT_VERSION])
    meta.append(["form", defn.form])
    meta.append(["form_version", defn.version])
    meta.append(["sheet", sheet])
    meta.append(["kind", "path", "ref", "type", "extra"])
    for slot in slots:
        meta.append([slot.kind, slot.path, slot.ref, slot.type, slot.extra])


# ---------------------------------------------------------------- reading


def read_workbook(data: bytes) -> FilledWorkbook:
    """The report in a filled template, as raw wire JSON, with the cells of every path.

    Values are converted as a person means them (是/否 → true/false, option labels → ids, dates
    → ISO, whole numbers typed as text → integers); what cannot be converted is passed on as it
    is, so the wire model refuses it with the same message as in JSON, at the same path.
    Raises WorkbookError when the bytes are not an xlsx or not a nianbao template.
    """
    _check_archive(data)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            book = load_workbook(io.BytesIO(data), data_only=True)
    except Exception as exc:
        raise WorkbookError(
            "unreadable", "无法读取该 Excel 文件（.xlsx）", f"not a readable xlsx file: {exc}"
        ) from exc
    if META_SHEET not in book.sheetnames:
        raise _not_template("缺少隐藏的模板信息工作表", "the hidden metadata sheet is missing")
    meta = book[META_SHEET]
    head = {
        str(row[0]): str(row[1])
        for row in meta.iter_rows(min_row=1, max_row=4, max_col=2, values_only=True)
        if row[0] is not None and row[1] is not None
    }
    try:
        defn = load_form(head.get("form", ""), head.get("form_version"))
    except UnknownForm as exc:
        raise _not_template("模板的表单或版本未知", f"unknown form or version: {exc}") from exc
    sheet_name = head.get("sheet", "")
    if sheet_name not in book.sheetnames or sheet_name == META_SHEET:
        raise _not_template("找不到报表工作表", f"the sheet {sheet_name!r} is missing")
    slots = list(_slots(meta))
    return _Reader(defn, book[sheet_name], slots).read()


def _check_archive(data: bytes) -> None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            parts = archive.infolist()
    except (zipfile.BadZipFile, ValueError) as exc:
        raise WorkbookError(
            "unreadable", "文件不是有效的 Excel（.xlsx）文件", f"not an xlsx (zip) file: {exc}"
        ) from exc
    if len(parts) > MAX_PARTS or sum(p.file_size for p in parts) > MAX_UNPACKED_BYTES:
        raise WorkbookError(
            "unreadable",
            "Excel 文件解压后过大",
            f"the workbook unpacks to more than {MAX_UNPACKED_BYTES} bytes or {MAX_PARTS} parts",
        )


def _not_template(zh: str, en: str) -> WorkbookError:
    return WorkbookError(
        "not_a_template",
        f"该文件不是本系统下载的报表模板：{zh}",
        f"not a nianbao template: {en}",
    )


_REF_RE = re.compile(r"^[A-Z]{1,3}[1-9][0-9]{0,6}$")
_RANGE_RE = re.compile(r"^[A-Z]{1,3}[1-9][0-9]{0,6}:[A-Z]{1,3}[1-9][0-9]{0,6}$")


def _slots(meta: Worksheet) -> Iterator[Slot]:
    for row in meta.iter_rows(min_row=6, max_col=5, values_only=True):
        kind, path, ref, kind_type, extra = (("" if v is None else str(v)) for v in row)
        if not kind:
            continue
        pattern = _RANGE_RE if kind == "records" else _REF_RE
        if kind not in ("field", "option", "records") or not pattern.fullmatch(ref):
            raise _not_template("模板信息已损坏", f"bad metadata row {row!r}")
        yield Slot(kind, path, ref, kind_type, extra)


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
            raise _not_template("模板信息中有未知字段", f"unknown field path {slot.path!r}")
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
                raise _not_template("模板信息中有未知选项", f"unknown option {option!r} of {path}")
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
            raise _not_template("模板信息中有未知列", f"unknown item fields in {slot.extra!r}")
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
        return int(value.replace(",", ""))
    return value


def _number(value: Any) -> Any:
    if isinstance(value, str):
        try:
            number = float(value.replace(",", ""))
        except ValueError:
            return value
        return int(number) if _INT_RE.fullmatch(value) else number
    return value


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


__all__ = [
    "META_SHEET",
    "XLSX_MEDIA_TYPE",
    "FilledWorkbook",
    "Slot",
    "WorkbookError",
    "build_template",
    "read_workbook",
    "sheet_title",
]

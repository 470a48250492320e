"""How a template prints and explains itself: page setup, cell notes, the 填报说明 sheet."""

from __future__ import annotations

import math
import unicodedata

from openpyxl import Workbook
from openpyxl.comments import Comment
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.worksheet.worksheet import Worksheet

from shared.forms.definition import FieldDef, FormDefinition
from shared.forms.instructions import instruction_of, instructions

INSTRUCTIONS_SHEET = "填报说明"
#: points per printed line of 11-point text, and the padding of a wrapped row
_LINE_PT = 15.0
_PAD_PT = 4.0
_THIN = Side(style="thin", color="A6A6A6")
_BOX = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)
_WRAP = Alignment(wrap_text=True, vertical="top")
_HEAD_FILL = PatternFill("solid", fgColor="D9E1F2")


def text_width(text: str) -> int:
    """Width of a text in column-width units: CJK and full-width characters count two."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def row_height(texts_and_widths: list[tuple[str, float]], size: float = 11) -> float:
    """The height (points) a row needs so that every wrapped cell shows its whole text."""

    def lines(text: str, width: float) -> int:
        per_line = max(width - 1, 1)
        return sum(max(1, math.ceil(text_width(part) / per_line)) for part in text.split("\n"))

    most = max([lines(text, width) for text, width in texts_and_widths if text] + [1])
    return round(most * _LINE_PT * size / 11 + _PAD_PT, 1)


def print_like_a_form(sheet: Worksheet, title_rows: str, last_col: str) -> None:
    """A4 portrait, every column on one page width, header rows on every page, margins."""
    sheet.page_setup.paperSize = sheet.PAPERSIZE_A4
    sheet.page_setup.orientation = sheet.ORIENTATION_PORTRAIT
    sheet.page_setup.fitToWidth = 1
    sheet.page_setup.fitToHeight = 0
    sheet.sheet_properties.pageSetUpPr.fitToPage = True
    sheet.print_options.horizontalCentered = True
    sheet.page_margins.left = sheet.page_margins.right = 0.5
    sheet.page_margins.top = sheet.page_margins.bottom = 0.6
    sheet.page_margins.header = sheet.page_margins.footer = 0.3
    sheet.print_title_rows = title_rows
    sheet.print_area = f"A1:{last_col}{sheet.max_row}"
    sheet.oddFooter.center.text = "第 &P 页，共 &N 页"


def note_for(defn: FormDefinition, f: FieldDef, path: str, hint: str) -> Comment:
    """The note of an input cell: its field's filling instruction (numbered), then how to fill."""
    found = instruction_of(defn, path)
    text = hint if found is None else f"填报说明第{found.number}条：{found.text}\n{hint}"
    comment = Comment(f"{f.label}\n{text}", "填报说明")
    comment.width = 320
    comment.height = max(80, 20 * row_height([(text, 40)]) / _LINE_PT)
    return comment


def write_instructions(book: Workbook, defn: FormDefinition) -> Worksheet:
    """The 填报说明 sheet: every instruction, numbered, in the form's order; printable."""
    sheet = book.create_sheet(INSTRUCTIONS_SHEET)
    widths = {"A": 6, "B": 14, "C": 26, "D": 62}
    for col, width in widths.items():
        sheet.column_dimensions[col].width = width
    sheet.merge_cells("A1:D1")
    sheet["A1"] = f"{defn.title} 填报说明"
    sheet["A1"].font = Font(size=16, bold=True)
    sheet["A1"].alignment = Alignment(horizontal="center", vertical="center")
    sheet.row_dimensions[1].height = 30
    for col, text in zip("ABCD", ("序号", "类别", "指标", "说明"), strict=True):
        cell = sheet[f"{col}2"]
        cell.value = text
        cell.font = Font(bold=True)
        cell.fill = _HEAD_FILL
        cell.border = _BOX
        cell.alignment = Alignment(horizontal="center", vertical="center")
    for row, entry in enumerate(instructions(defn), start=3):
        values = (entry.number, entry.section, entry.title, entry.text)
        for col, value in zip("ABCD", values, strict=True):
            cell = sheet[f"{col}{row}"]
            cell.value = value
            cell.border = _BOX
            cell.alignment = _WRAP
        sheet.row_dimensions[row].height = row_height(
            [(entry.title, widths["C"]), (entry.text, widths["D"]), (entry.section, widths["B"])]
        )
    print_like_a_form(sheet, "2:2", "D")
    sheet.protection.sheet = True
    return sheet

"""The layout building and reading share: the cell of every field path and the meta sheet."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from openpyxl import Workbook
from openpyxl.worksheet.worksheet import Worksheet

from shared.forms.definition import FormDefinition

XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
META_SHEET = "_nianbao"
LAYOUT_VERSION = "1"
YES, NO = "是", "否"


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


def sheet_title(defn: FormDefinition) -> str:
    return defn.title[:31]


def write_meta(book: Workbook, defn: FormDefinition, sheet: str, slots: list[Slot]) -> None:
    """The very hidden sheet naming the form, its version, the sheet and every field's slot."""
    meta = book.create_sheet(META_SHEET)
    meta.sheet_state = "veryHidden"
    meta.append(["nianbao", LAYOUT_VERSION])
    meta.append(["form", defn.form])
    meta.append(["form_version", defn.version])
    meta.append(["sheet", sheet])
    meta.append(["kind", "path", "ref", "type", "extra"])
    for slot in slots:
        meta.append([slot.kind, slot.path, slot.ref, slot.type, slot.extra])


def not_template(zh: str, en: str) -> WorkbookError:
    """The error for a readable xlsx that is not (or no longer) a nianbao template."""
    return WorkbookError(
        "not_a_template",
        f"该文件不是本系统下载的报表模板：{zh}",
        f"not a nianbao template: {en}",
    )


_REF_RE = re.compile(r"^[A-Z]{1,3}[1-9][0-9]{0,6}$")
_RANGE_RE = re.compile(r"^[A-Z]{1,3}[1-9][0-9]{0,6}:[A-Z]{1,3}[1-9][0-9]{0,6}$")


def read_slots(meta: Worksheet) -> Iterator[Slot]:
    """The slots the meta sheet records, refusing a row that is not a cell or a range."""
    for row in meta.iter_rows(min_row=6, max_col=5, values_only=True):
        kind, path, ref, kind_type, extra = (("" if v is None else str(v)) for v in row)
        if not kind:
            continue
        pattern = _RANGE_RE if kind == "records" else _REF_RE
        if kind not in ("field", "option", "records") or not pattern.fullmatch(ref):
            raise not_template("模板信息已损坏", f"bad metadata row {row!r}")
        yield Slot(kind, path, ref, kind_type, extra)

"""Helpers for the Excel tests: fill a template the way a script would, and synthetic reports."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from openpyxl import load_workbook

from shared.excel import META_SHEET
from shared.forms import FormDefinition, get_path
from shared.forms.definition import FieldDef, leaves

DATA = Path(__file__).parents[1] / "data" / "reports"
FORMS = ("work-report", "supervision-report")


def clean_report(form: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((DATA / form / "clean.json").read_text(encoding="utf-8"))
    return loaded


def meta_rows(data: bytes) -> tuple[dict[str, str], list[tuple[str, str, str, str]]]:
    """The hidden sheet's header and its (kind, path, ref, extra) rows."""
    book = load_workbook(io.BytesIO(data))
    meta = book[META_SHEET]
    head = {str(r[0]): str(r[1]) for r in meta.iter_rows(max_row=4, max_col=2, values_only=True)}
    rows = [
        (str(r[0]), str(r[1]), str(r[2]), "" if r[4] is None else str(r[4]))
        for r in meta.iter_rows(min_row=6, max_col=5, values_only=True)
        if r[0]
    ]
    return head, rows


def _as_typed(f: FieldDef, value: Any) -> Any:
    """What a person types: 是/否, the option's label, numbers as numbers, dates as text."""
    if value is None:
        return None
    if f.type == "yes_no":
        return "是" if value else "否"
    if f.type == "choice":
        return {o.id: o.label for o in f.options}[value]
    return value


def fill_template(template: bytes, defn: FormDefinition, report: dict[str, Any]) -> bytes:
    """Write a report into a downloaded template cell by cell, locating cells only through the
    hidden metadata (as any script filling templates would)."""
    book = load_workbook(io.BytesIO(template))
    head, rows = meta_rows(template)
    sheet = book[head["sheet"]]
    by_path = leaves(defn)
    for kind, path, ref, extra in rows:
        value = report.get("year") if path == "year" else get_path(report, path)
        if kind == "field":
            f = by_path[path].field if path != "year" else FieldDef(id="y", label="", type="count")
            sheet[ref] = _as_typed(f, value)
        elif kind == "option":
            sheet[ref] = None if value is None else ("是" if extra in value else "否")
        else:
            items = value or []
            first = ref.split(":")[0]
            column = "".join(c for c in first if c.isalpha())
            row = int(first[len(column) :])
            item_fields = {i.id: i for i in by_path[path].field.item_fields}
            start = sheet[first].column
            for n, item in enumerate(items):
                for i, name in enumerate(extra.split(",")):
                    cell = sheet.cell(row + n, start + i)
                    cell.value = _as_typed(item_fields[name], item.get(name))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def distinct_report(defn: FormDefinition, year: int = 2025) -> dict[str, Any]:
    """A report with a different value in every field (wire-valid, not rule-valid): a cell
    wired to the wrong path cannot go unnoticed."""
    report: dict[str, Any] = {"form": defn.form, "form_version": defn.version, "year": year}
    for n, (path, leaf) in enumerate(leaves(defn).items(), start=1):
        f = leaf.field
        value = _distinct(f, n)
        node = report
        *groups, last = path.split(".")
        for g in groups:
            node = node.setdefault(g, {})
        node[last] = value
    return report


def _distinct(f: FieldDef, n: int) -> Any:
    match f.type:
        case "count":
            return 1000 + n
        case "decimal":
            return n + 0.25
        case "percent":
            return float(n % 90) + 0.5
        case "yes_no":
            return n % 2 == 0
        case "choice":
            return f.options[n % len(f.options)].id
        case "multi_choice":
            return [o.id for i, o in enumerate(f.options) if (i + n) % 2 == 0]
        case "code":
            return f"C{n:04d}"
        case "url":
            return f"https://site{n}.gov.cn/"
        case "date":
            return date(2026, 1, 1 + n % 28).isoformat()
        case "records":
            return [
                {i.id: _distinct(i, n * 10 + k + j) for j, i in enumerate(f.item_fields)}
                for k in range(3)
            ]
    return f"文本{n}号"


# ------------------------------------------------------------------ crafted (hostile) workbooks


def with_parts(data: bytes, edit: Callable[[str, bytes], bytes]) -> bytes:
    """The workbook with each part passed through ``edit(name, body)``, recompressed hard (what
    is sent is small, whatever it unpacks to)."""
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as target:
        for info in source.infolist():
            target.writestr(info.filename, edit(info.filename, source.read(info)))
    return out.getvalue()


def dense_sheet(data: bytes, megabytes: float = 4) -> bytes:
    """The template with its report sheet swollen by rows of cells: ``megabytes`` of sheet XML
    (4 MiB of cells zip to about 21 KB)."""
    row = b"<row>" + b"<c><v>1</v></c>" * 1000 + b"</row>"
    rows = row * int(megabytes * 2**20 / len(row))

    def edit(name: str, body: bytes) -> bytes:
        if name == "xl/worksheets/sheet1.xml":
            return body.replace(b"</sheetData>", rows + b"</sheetData>")
        return body

    return with_parts(data, edit)


def with_meta(data: bytes, edit: Callable[[list[list[Any]]], None]) -> bytes:
    """The template with its hidden sheet's rows edited in place (header rows included)."""
    book = load_workbook(io.BytesIO(data))
    meta = book[META_SHEET]
    rows = [[cell.value for cell in row] for row in meta.iter_rows()]
    edit(rows)
    meta.delete_rows(1, meta.max_row)
    for row in rows:
        meta.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def with_records_range(data: bytes, ref: str) -> bytes:
    """The template whose metadata gives its records table the range ``ref`` (300,000 rows...)."""

    def edit(rows: list[list[Any]]) -> None:
        for row in rows:
            if row[0] == "records":
                row[2] = ref

    return with_meta(data, edit)


def with_huge_number(data: bytes, placeholder: int, digits: int = 5000) -> bytes:
    """A filled workbook whose number cell holding ``placeholder`` holds ``digits`` nines
    instead, as a number cell (what no Python int conversion reads)."""
    old = f"<v>{placeholder}</v>".encode()
    found = []

    def edit(name: str, body: bytes) -> bytes:
        if name.startswith("xl/worksheets/") and old in body:
            found.append(name)
            return body.replace(old, b"<v>" + b"9" * digits + b"</v>")
        return body

    crafted = with_parts(data, edit)
    assert found, f"no number cell holds {placeholder}"
    return crafted


def with_text_cell(data: bytes, path: str, char: str) -> bytes:
    """The workbook whose text cell at ``path`` holds ``char`` between two words, as a character
    reference in the sheet's XML (``&#7;``: what XML 1.0 forbids, a parser refuses)."""
    book = load_workbook(io.BytesIO(data))
    ref = next(ref for _kind, p, ref, _extra in meta_rows(data)[1] if p == path)
    book.worksheets[0][ref] = "北京NIANBAOCHAR发布"
    out = io.BytesIO()
    book.save(out)
    marker = f"&#{ord(char)};".encode()

    def edit(name: str, body: bytes) -> bytes:
        return body.replace(b"NIANBAOCHAR", marker) if name.startswith("xl/") else body

    return with_parts(out.getvalue(), edit)

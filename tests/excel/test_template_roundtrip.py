"""Excel templates: layout, validation, and a round trip without loss for every field."""

from __future__ import annotations

import io
import zipfile
from typing import Any

import pytest
from openpyxl import Workbook, load_workbook

from shared.excel import (
    META_SHEET,
    WorkbookError,
    build_template,
    read_workbook,
    sheet_title,
)
from shared.excel.printing import INSTRUCTIONS_SHEET
from shared.forms import load_form, parse_report
from shared.forms.definition import leaves
from shared.forms.instructions import instruction_of, instructions
from tests.support.excel import (
    FORMS,
    clean_report,
    distinct_report,
    fill_template,
    meta_rows,
)


@pytest.mark.parametrize("form", FORMS)
def test_a_filled_template_reads_back_as_the_identical_json(form: str) -> None:
    defn = load_form(form)
    clean = clean_report(form)
    filled = fill_template(build_template(defn), defn, clean)
    assert read_workbook(filled).report == clean


@pytest.mark.parametrize("form", FORMS)
def test_every_field_round_trips_with_a_distinct_value(form: str) -> None:
    defn = load_form(form)
    report = distinct_report(defn)
    assert parse_report(report).issues == []
    by_script = read_workbook(fill_template(build_template(defn), defn, report)).report
    by_prefill = read_workbook(build_template(defn, report)).report
    assert by_script == report
    assert by_prefill == report


@pytest.mark.parametrize("form", FORMS)
def test_every_field_path_has_a_place_in_the_hidden_metadata(form: str) -> None:
    defn = load_form(form)
    head, rows = meta_rows(build_template(defn))
    assert head == {
        "nianbao": "1",
        "form": defn.form,
        "form_version": defn.version,
        "sheet": sheet_title(defn),
    }
    placed = {path for _kind, path, _ref, _extra in rows}
    assert placed == {"year", *leaves(defn)}
    options = {(path, extra) for kind, path, _ref, extra in rows if kind == "option"}
    multi = [leaf for leaf in leaves(defn).values() if leaf.field.type == "multi_choice"]
    assert options == {(leaf.path, o.id) for leaf in multi for o in leaf.field.options}


def _validations(data: bytes) -> list[tuple[str, str, str, set[str]]]:
    sheet = load_workbook(io.BytesIO(data)).worksheets[0]
    return [
        (v.type, v.operator or "", v.formula1 or "", {str(r) for r in v.sqref.ranges})
        for v in sheet.data_validations.dataValidation
    ]


def _cell_of(data: bytes, path: str, option: str = "") -> str:
    _head, rows = meta_rows(data)
    return next(ref for _k, p, ref, extra in rows if p == path and extra == option)


def test_the_work_report_template_looks_like_the_form_with_validation_on_its_cells() -> None:
    defn = load_form("work-report")
    data = build_template(defn)
    book = load_workbook(io.BytesIO(data))
    sheet = book[sheet_title(defn)]
    assert sheet["A1"].value == "政府网站工作年度报表"
    assert book[META_SHEET].sheet_state == "veryHidden"
    assert sheet.protection.sheet and book.security is not None and book.security.lockStructure
    uv = _cell_of(data, "traffic.unique_visitors")
    row = sheet[uv].row
    assert sheet[f"B{row}"].value == "独立用户访问总量（个）"
    assert sheet[f"D{row}"].value == "个"
    assert sheet[uv].protection.locked is False
    assert sheet[f"B{row}"].protection.locked is True
    rules = _validations(data)

    def rule_of(ref: str) -> tuple[str, str, str]:
        return next((t, op, f1) for t, op, f1, refs in rules if _covers(refs, ref))

    assert rule_of(uv) == ("whole", "between", "0")
    assert rule_of(_cell_of(data, "services.catalog_published")) == ("list", "", '"是,否"')
    assert rule_of(_cell_of(data, "site.type")) == ("list", "", '"政府门户网站,部门网站"')
    assert rule_of(_cell_of(data, "innovation.features", "other")) == ("list", "", '"是,否"')
    assert rule_of(_cell_of(data, "interaction.messages.avg_days"))[0] == "decimal"
    assert rule_of(_cell_of(data, "signoff.fill_date"))[0] == "date"
    assert rule_of(_cell_of(data, "innovation.other_text")) == (
        "textLength",
        "lessThanOrEqual",
        "200",
    )


def test_the_supervision_template_has_a_column_per_quarter() -> None:
    defn = load_form("supervision-report")
    data = build_template(defn)
    sheet = load_workbook(io.BytesIO(data))[sheet_title(defn)]
    refs = [_cell_of(data, f"spot_checks.{col}.sampled") for col in ("q1", "q2", "q3", "q4")]
    year = _cell_of(data, "spot_checks.year.sampled")
    assert [r[0] for r in [*refs, year]] == ["C", "D", "E", "F", "G"]
    assert len({r[1:] for r in [*refs, year]}) == 1, "one row, five columns"
    first_row = sheet[_cell_of(data, "spot_checks.q1.sites_in_operation")].row
    heads = [sheet.cell(first_row - 1, c).value for c in range(3, 8)]
    assert heads == ["第一季度", "第二季度", "第三季度", "第四季度", "全年"]


def _covers(refs: set[str], ref: str) -> bool:
    from openpyxl.worksheet.cell_range import CellRange

    return any(ref in CellRange(r) for r in refs)


def test_records_are_a_table_of_empty_rows_and_more_rows_when_prefilled() -> None:
    defn = load_form("work-report")
    _head, rows = meta_rows(build_template(defn, records_rows=4))
    table = next(ref for kind, _p, ref, _e in rows if kind == "records")
    first, last = table.split(":")
    assert (first[0], last[0]) == ("C", "G")
    assert int(last[1:]) - int(first[1:]) + 1 == 4
    report = clean_report("work-report")
    report["new_media"]["other"] = report["new_media"]["other"] * 7
    back = read_workbook(build_template(defn, report, records_rows=4)).report
    assert back["new_media"]["other"] == report["new_media"]["other"]


def test_the_header_block_can_be_prefilled_alone() -> None:
    defn = load_form("work-report")
    header = {"year": 2026, "site": {"name": "北京市人民政府", "type": "portal"}}
    filled = read_workbook(build_template(defn, header))
    assert filled.report["year"] == 2026
    assert filled.report["site"]["name"] == "北京市人民政府"
    assert filled.report["site"]["type"] == "portal"
    assert "unique_visitors" not in filled.report["traffic"]


def test_an_empty_template_fails_with_every_required_field_at_its_cell() -> None:
    defn = load_form("work-report")
    filled = read_workbook(build_template(defn))
    issues = parse_report(filled.report).issues
    missing = {i.paths[0] for i in issues if i.rule_id == "schema.missing"}
    assert "traffic.page_views" in missing and "innovation.features" in missing
    assert filled.cells_of("traffic.page_views") == [
        f"政府网站工作年度报表!{_cell_of(build_template(defn), 'traffic.page_views')}"
    ]
    assert len(filled.cells_of("innovation.features")) == 5


def _edit(data: bytes, changes: dict[str, Any]) -> bytes:
    book = load_workbook(io.BytesIO(data))
    sheet = book.worksheets[0]
    for ref, value in changes.items():
        sheet[ref] = value
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_what_a_person_types_is_understood_and_what_is_wrong_stays_wrong() -> None:
    defn = load_form("work-report")
    data = build_template(defn, clean_report("work-report"))
    pv = _cell_of(data, "traffic.page_views")
    uv = _cell_of(data, "traffic.unique_visitors")
    code = _cell_of(data, "site.site_code")
    smart = _cell_of(data, "interaction.smart_qa")
    filled = read_workbook(_edit(data, {pv: "12,345", uv: "很多", code: 1100000088, smart: "否"}))
    assert filled.report["traffic"]["page_views"] == 12345
    assert filled.report["site"]["site_code"] == "1100000088"
    assert filled.report["interaction"]["smart_qa"] is False
    issues = parse_report(filled.report).issues
    assert [(i.rule_id, i.paths) for i in issues] == [
        ("schema.int_type", ["traffic.unique_visitors"])
    ]
    assert filled.cells_of("traffic.unique_visitors") == [f"政府网站工作年度报表!{uv}"]


def test_text_that_looks_like_a_formula_stays_text() -> None:
    defn = load_form("work-report")
    report = clean_report("work-report")
    report["site"]["name"] = '=HYPERLINK("http://evil","x")'
    data = build_template(defn, report)
    sheet = load_workbook(io.BytesIO(data)).worksheets[0]
    cell = sheet[_cell_of(data, "site.name")]
    assert cell.data_type == "s"
    assert read_workbook(data).report["site"]["name"] == report["site"]["name"]


def test_what_is_not_a_template_is_refused_with_a_reason() -> None:
    with pytest.raises(WorkbookError) as garbage:
        read_workbook(b"not a zip file")
    assert garbage.value.kind == "unreadable"
    plain = io.BytesIO()
    Workbook().save(plain)
    with pytest.raises(WorkbookError) as foreign:
        read_workbook(plain.getvalue())
    assert foreign.value.kind == "not_a_template"
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/huge.xml", b"0" * (20 * 2**20))
    with pytest.raises(WorkbookError) as large:
        read_workbook(bomb.getvalue())
    assert large.value.kind == "unreadable" and "unpacks" in large.value.message_en


@pytest.mark.parametrize("form", FORMS)
def test_every_input_cell_has_a_note_with_its_fields_instruction(form: str) -> None:
    defn = load_form(form)
    data = build_template(defn)
    book = load_workbook(io.BytesIO(data))
    sheet = book[sheet_title(defn)]
    _, rows = meta_rows(data)
    for kind, path, ref, _extra in rows:
        cells = [c for row in sheet[ref] for c in row] if kind == "records" else [sheet[ref]]
        for cell in cells:
            assert cell.comment is not None, f"{path} at {cell.coordinate} has no note"
            found = instruction_of(defn, path)
            if found is not None:
                assert f"填报说明第{found.number}条：{found.text}" in cell.comment.text
    listed = book[INSTRUCTIONS_SHEET]
    assert book.sheetnames.index(INSTRUCTIONS_SHEET) == 1
    numbers = [row[0] for row in listed.iter_rows(min_row=3, values_only=True)]
    assert numbers == [i.number for i in instructions(defn)]

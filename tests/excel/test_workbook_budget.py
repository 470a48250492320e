"""Reading an upload within a budget: the archive measured before it is parsed, the hidden
sheet's slots checked against the form definition before any cell is read."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from shared.excel import WorkbookError, build_template, read_workbook
from shared.excel.budget import MAX_ELEMENTS, Budget, check_archive
from shared.forms import load_form
from tests.support.excel import FORMS, dense_sheet, with_meta, with_parts, with_records_range

Rows = list[list[Any]]


def template(form: str = "work-report", records: int = 5) -> bytes:
    return build_template(load_form(form), {"year": 2026}, records)


def refused(data: bytes, budget: Budget | None = None) -> WorkbookError:
    with pytest.raises(WorkbookError) as caught:
        read_workbook(data, budget)
    return caught.value


@pytest.mark.parametrize("form", FORMS)
def test_templates_stay_far_within_the_budget(form: str) -> None:
    counted = Budget(elements=MAX_ELEMENTS // 5)
    assert check_archive(template(form, records=50), counted) == set()
    assert read_workbook(template(form, records=50)).form == form


def test_a_dense_sheet_is_refused_by_its_element_count() -> None:
    error = refused(dense_sheet(template()))
    assert error.kind == "too_large" and f"{MAX_ELEMENTS} XML elements" in error.message_en


def test_reading_stops_when_its_time_is_spent() -> None:
    error = refused(dense_sheet(template(), megabytes=1), Budget(seconds=0))
    assert error.kind == "too_large" and "0 s" in error.message_en


def test_a_dtd_is_refused_before_openpyxl_parses_anything() -> None:
    laughs = b'<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]>'

    def edit(name: str, body: bytes) -> bytes:
        if name != "xl/workbook.xml":
            return body
        head, _, rest = body.rpartition(b"?>") if body.startswith(b"<?xml") else (b"", b"", body)
        return head + b"?>" * bool(head) + laughs + rest

    error = refused(with_parts(template(), edit))
    assert error.kind == "unreadable" and "DTD" in error.message_en


def _slot(kind: str) -> Callable[[Rows], list[Any]]:
    return lambda rows: next(r for r in rows if r[0] == kind)


@pytest.mark.parametrize(
    ("name", "edit", "says"),
    [
        ("range of 300,000 rows", lambda rows: None, "at most 50 rows"),
        ("unknown path", lambda rows: _slot("field")(rows).__setitem__(1, "x.y"), "unknown field"),
        ("duplicate slot", lambda rows: rows.append(list(_slot("field")(rows))), "twice"),
        (
            "unknown option",
            lambda rows: _slot("option")(rows).__setitem__(4, "nope"),
            "unknown option",
        ),
        (
            "repeated column",
            lambda rows: _slot("records")(rows).__setitem__(4, "name,name,name,name,name"),
            "unknown item fields",
        ),
        (
            "a column too few",
            lambda rows: _slot("records")(rows).__setitem__(4, "type,platform,name,posts"),
            "is not 4 columns",
        ),
    ],
)
def test_crafted_metadata_is_refused_before_any_cell_is_read(
    name: str, edit: Callable[[Rows], None], says: str
) -> None:
    data = template()
    if name.startswith("range"):
        data = with_records_range(data, "C100:G300099")
    data = with_meta(data, edit)
    error = refused(data)
    assert error.kind == "not_a_template" and says in error.message_en, error.message_en

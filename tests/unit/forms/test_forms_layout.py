"""Layouts, count and yes/no paths, labels, get_path and report_code, from the definitions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from shared.forms import (
    count_paths,
    get_path,
    json_schema,
    layout,
    load_form,
    report_code,
    yes_no_paths,
)
from shared.forms.definition import iter_leaves

Clean = Callable[[str], dict[str, Any]]
QUARTERS = ("q1", "q2", "q3", "q4", "year")


def test_work_report_layout_follows_the_form() -> None:
    rows = layout(load_form("work-report"))
    assert [r.section for r in rows][:1] == ["site"]
    by_path = {r.path: r for r in rows}
    uv = by_path["traffic.unique_visitors"]
    assert (uv.label, uv.unit, uv.type, uv.columns) == ("独立用户访问总量（个）", "个", "count", ())
    assert by_path["site.type"].options == {"portal": "政府门户网站", "department": "部门网站"}
    assert by_path["innovation.features"].options["personalization"] == "千人千网"
    assert by_path["new_media.other"].item_fields[3] == ("posts", "信息发布量（条）", "条", "count")
    assert by_path["info.total"].section_label == "信息发布"


def test_quarterly_rows_are_defined_once_with_their_columns() -> None:
    rows = layout(load_form("supervision-report"))
    sampled = next(r for r in rows if r.path == "spot_checks.{col}.sampled")
    assert sampled.columns == QUARTERS
    assert sampled.label == "抽查网站数量（个）"
    assert sum(r.section == "spot_checks" for r in rows) == 12


def test_count_paths_expand_columns_and_skip_records() -> None:
    sr = count_paths(load_form("supervision-report"))
    assert sr[:5] == [f"spot_checks.{c}.sites_in_operation" for c in QUARTERS]
    assert "spot_checks.year.accountability.talk" in sr
    assert "spot_checks.q1.pass_rate_pct" not in sr
    wr = count_paths(load_form("work-report"))
    assert wr[0] == "traffic.unique_visitors"
    assert "new_media.weibo.posts" in wr
    assert not any(p.startswith("new_media.other") for p in wr)
    assert len(wr) == 35 and len(sr) == 62


def test_yes_no_paths() -> None:
    assert yes_no_paths(load_form("work-report")) == [
        "services.catalog_published",
        "interaction.unified_platform",
        "interaction.smart_qa",
        "security.monitoring",
        "security.emergency_drill",
        "security.responsible_person",
        "new_media.has",
    ]
    assert yes_no_paths(load_form("supervision-report")) == ["performance_assessment.included"]


def test_field_counts() -> None:
    wr, sr = load_form("work-report"), load_form("supervision-report")
    assert len(layout(wr)) == len(list(iter_leaves(wr))) == 60
    assert len(layout(sr)) == 35
    assert len(list(iter_leaves(sr))) == 35 + 12 * 4


def test_get_path_and_report_code(clean: Clean) -> None:
    wr, sr = clean("work-report"), clean("supervision-report")
    assert get_path(wr, "services.cases.total") == 4312560
    assert get_path(wr, "new_media.other.0.name") == "北京通"
    assert get_path(wr, "new_media.other.3.name") is None
    assert get_path(wr, "site.site_code.x") is None
    assert get_path(wr, "nothing.here") is None
    assert report_code(wr) == "1100000088"
    assert report_code(sr) == "110000"
    assert report_code({"form": "tax-report"}) is None
    assert (
        report_code({"form": "work-report", "form_version": "1999", "site": {"site_code": "x"}})
        == "x"
    )


def test_json_schema_is_a_fresh_copy() -> None:
    defn = load_form("work-report")
    json_schema(defn)["title"] = "changed"
    assert json_schema(defn)["title"] == "政府网站工作年度报表（2018）"

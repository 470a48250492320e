"""Every rule of FORMS.md §4: a failing and a passing case each, with its rule id and paths."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from shared.forms import CheckContext, CheckResult, check_report, load_form
from shared.registry.model import Node, Registry, Site
from tests.support.forms import edited, mini_registry

Clean = Callable[[str], dict[str, Any]]
WR, SR = "work-report", "supervision-report"

# (form, rule id, edits that break it, the issue's paths, edits that keep it satisfied)
CASES: list[tuple[str, str, dict[str, Any], list[str], dict[str, Any]]] = [
    (
        WR,
        "wr.uv_le_pv",
        {"traffic.unique_visitors": 146205378},
        ["traffic.unique_visitors", "traffic.page_views"],
        {"traffic.unique_visitors": 146205377},
    ),
    (
        WR,
        "wr.interpretation_total_sum",
        {"interpretation.total": 1067},
        [
            "interpretation.total",
            "interpretation.materials",
            "interpretation.products",
            "interpretation.media_commentary",
        ],
        {"interpretation.total": 1069, "interpretation.materials": 613},
    ),
    (
        WR,
        "wr.cases_total_sum",
        {"services.cases.natural_person": 0},
        ["services.cases.total", "services.cases.natural_person", "services.cases.legal_person"],
        {
            "services.cases.total": 0,
            "services.cases.natural_person": 0,
            "services.cases.legal_person": 0,
        },
    ),
    (
        WR,
        "wr.fully_online_le_items",
        {"services.items_fully_online": 2854},
        ["services.items_fully_online", "services.items_total"],
        {"services.items_fully_online": 2853},
    ),
    (
        WR,
        "wr.info_total_ge_overview",
        {"info.overview": 32481},
        ["info.total", "info.overview"],
        {"info.overview": 32480},
    ),
    (
        WR,
        "wr.info_total_ge_news",
        {"info.news": 40000},
        ["info.total", "info.news"],
        {"info.news": 32480},
    ),
    (
        WR,
        "wr.info_total_ge_disclosure_catalog",
        {"info.disclosure_catalog": 40000},
        ["info.total", "info.disclosure_catalog"],
        {"info.disclosure_catalog": 0},
    ),
    (
        WR,
        "wr.info_total_sum",
        {"info.total": 32481},
        ["info.total", "info.overview", "info.news", "info.disclosure_catalog"],
        {"info.total": 32481, "info.news": 18631},
    ),
    (
        WR,
        "wr.messages_closed_le_received",
        {"interaction.messages.closed": 51201},
        ["interaction.messages.closed", "interaction.messages.received"],
        {"interaction.messages.closed": 51200},
    ),
    (
        WR,
        "wr.messages_replies_le_received",
        {"interaction.messages.public_replies": 51201},
        ["interaction.messages.public_replies", "interaction.messages.received"],
        {"interaction.messages.public_replies": 51200},
    ),
    (
        WR,
        "wr.messages_avg_days_none_closed",
        {"interaction.messages.closed": 0},
        ["interaction.messages.avg_days", "interaction.messages.closed"],
        {"interaction.messages.closed": 0, "interaction.messages.avg_days": None},
    ),
    (
        WR,
        "wr.surveys_results_le_rounds",
        {"interaction.surveys.results_published": 49},
        ["interaction.surveys.results_published", "interaction.surveys.rounds"],
        {"interaction.surveys.results_published": 48},
    ),
    (
        WR,
        "wr.surveys_opinions_need_rounds",
        {"interaction.surveys.rounds": 0, "interaction.surveys.results_published": 0},
        ["interaction.surveys.opinions", "interaction.surveys.rounds"],
        {
            "interaction.surveys.rounds": 0,
            "interaction.surveys.results_published": 0,
            "interaction.surveys.opinions": 0,
        },
    ),
    (
        WR,
        "wr.interviews_answers_le_questions",
        {"interaction.interviews.answers": 8921},
        ["interaction.interviews.answers", "interaction.interviews.questions"],
        {"interaction.interviews.answers": 8920},
    ),
    (
        WR,
        "wr.interviews_need_rounds",
        {
            "interaction.interviews.rounds": 0,
            "interaction.interviews.questions": 3,
            "interaction.interviews.answers": 0,
        },
        [
            "interaction.interviews.questions",
            "interaction.interviews.answers",
            "interaction.interviews.rounds",
        ],
        {
            "interaction.interviews.rounds": 0,
            "interaction.interviews.questions": 0,
            "interaction.interviews.answers": 0,
        },
    ),
    (
        WR,
        "wr.security_fixed_le_found",
        {"security.issues_fixed": 36},
        ["security.issues_fixed", "security.issues_found"],
        {"security.issues_fixed": 0},
    ),
    (
        WR,
        "wr.security_found_without_assessment",
        {"security.assessments": 0},
        ["security.issues_found", "security.assessments"],
        {"security.assessments": 0, "security.issues_found": 0, "security.issues_fixed": 0},
    ),
    (
        WR,
        "wr.new_media_channels",
        {"new_media.weibo.posts": None},
        ["new_media.weibo.posts", "new_media.weibo.name"],
        {
            "new_media.has": False,
            "new_media.weibo": None,
            "new_media.wechat": None,
            "new_media.other": [],
        },
    ),
    (
        WR,
        "wr.innovation_other_text",
        {"innovation.other_text": "政务地图"},
        ["innovation.other_text", "innovation.features"],
        {"innovation.features": ["other"], "innovation.other_text": "政务地图"},
    ),
    (
        WR,
        "wr.columns_new_le_maintained",
        {"columns.new": 87},
        ["columns.new", "columns.maintained"],
        {"columns.new": 86},
    ),
    (
        WR,
        "wr.site_code_format",
        {"site.site_code": "bm0700001"},
        ["site.site_code"],
        {"site.site_code": "1100000088"},
    ),
    (
        WR,
        "wr.site_code_registered",
        {"site.site_code": "5109030018"},
        ["site.site_code"],
        {"site.site_code": "1100000088"},
    ),
    (
        WR,
        "wr.site_active_in_year",
        {
            "year": 2000,
            "site.site_code": "1100000077",
            "site.name": "北京市示例旧站",
            "site.homepage_url": "https://demo2.example.gov.cn",
            "site.sponsor": "北京市示例局",
            "site.type": "department",
        },
        ["site.site_code", "year"],
        {"year": 2000},
    ),
    (
        WR,
        "wr.homepage_matches_registry",
        {"site.homepage_url": "https://beijing.gov.cn"},
        ["site.homepage_url"],
        {"site.homepage_url": "HTTPS://WWW.beijing.gov.cn/"},
    ),
    (
        WR,
        "wr.site_name_matches_registry",
        {"site.name": "北京市人民政府网"},
        ["site.name"],
        {"site.name": " 北京市人民政府 "},
    ),
    (
        WR,
        "wr.sponsor_matches_registry",
        {"site.sponsor": "北京市政务服务管理局"},
        ["site.sponsor"],
        {"site.sponsor": "北京市人民政府办公厅"},
    ),
    (
        WR,
        "wr.site_type_matches_registry",
        {"site.type": "department"},
        ["site.type"],
        {"site.type": "portal"},
    ),
    (
        WR,
        "wr.icp_filing_format",
        {"site.icp_filing": "京ICP证05060933号"},
        ["site.icp_filing"],
        {"site.icp_filing": "京ICP备05060933号-1"},
    ),
    (
        WR,
        "wr.psb_filing_format",
        {"site.psb_filing": "京公网安备11000002007633号"},
        ["site.psb_filing"],
        {"site.psb_filing": "京公网安备 11010202007633号"},
    ),
    (
        SR,
        "sr.quarter_sum",
        {"spot_checks.year.sampled": 175},
        [
            "spot_checks.year.sampled",
            "spot_checks.q1.sampled",
            "spot_checks.q2.sampled",
            "spot_checks.q3.sampled",
            "spot_checks.q4.sampled",
        ],
        {"spot_checks.year.accountability.other": 1, "spot_checks.q4.accountability.other": 1},
    ),
    (
        SR,
        "sr.failed_le_sampled",
        {
            "spot_checks.q4.failed": 90,
            "spot_checks.year.failed": 92,
            "spot_checks.q4.pass_rate_pct": None,
            "spot_checks.year.pass_rate_pct": 47.1,
        },
        ["spot_checks.q4.failed", "spot_checks.q4.sampled"],
        {"spot_checks.q2.failed": 0},
    ),
    (
        SR,
        "sr.sampled_le_sites",
        {"spot_checks.q1.sites_in_operation": 29},
        ["spot_checks.q1.sampled", "spot_checks.q1.sites_in_operation"],
        {"spot_checks.q4.sites_in_operation": 89, "spot_checks.year.sites_in_operation": 10},
    ),
    (
        SR,
        "sr.pass_rate_consistent",
        {"spot_checks.year.pass_rate_pct": 97},
        ["spot_checks.year.pass_rate_pct", "spot_checks.year.sampled", "spot_checks.year.failed"],
        {
            "spot_checks.q1.pass_rate_pct": 96.5,
            "spot_checks.q2.sampled": 0,
            "spot_checks.q2.pass_rate_pct": None,
            "spot_checks.q2.sampling_ratio_pct": 30,
            "spot_checks.year.sampled": 146,
            "spot_checks.year.pass_rate_pct": 98.6,
        },
    ),
    (
        SR,
        "sr.year_sampling_ratio_mean",
        {"spot_checks.year.sampling_ratio_pct": 49.6},
        [
            "spot_checks.year.sampling_ratio_pct",
            "spot_checks.q1.sampling_ratio_pct",
            "spot_checks.q2.sampling_ratio_pct",
            "spot_checks.q3.sampling_ratio_pct",
            "spot_checks.q4.sampling_ratio_pct",
        ],
        {"spot_checks.year.sampling_ratio_pct": 49.5},
    ),
    (
        SR,
        "sr.weight_iff_included",
        {"performance_assessment.weight_pct": 0},
        ["performance_assessment.weight_pct", "performance_assessment.included"],
        {"performance_assessment.weight_pct": 100},
    ),
    (
        SR,
        "sr.security_fixed_le_found",
        {"security_checks.issues_fixed": 24},
        ["security_checks.issues_fixed", "security_checks.issues_found"],
        {"security_checks.issues_fixed": 22},
    ),
    (
        SR,
        "sr.fake_sites_handled_le_found",
        {"fake_sites.handled": 4},
        ["fake_sites.handled", "fake_sites.found"],
        {"fake_sites.found": 4, "fake_sites.handled": 4},
    ),
    (
        SR,
        "sr.sampling_ratio_min",
        {"spot_checks.q3.sampling_ratio_pct": 29.9},
        ["spot_checks.q3.sampling_ratio_pct"],
        {"spot_checks.q3.sampling_ratio_pct": 30, "spot_checks.year.sampling_ratio_pct": 48.4},
    ),
    (
        SR,
        "sr.office_code_format",
        {"office.code": "bm29"},
        ["office.code", "office.kind"],
        {"office.code": "bm29", "office.kind": "department"},
    ),
    (
        SR,
        "sr.office_code_registered",
        {"office.code": "bm07", "office.kind": "department"},
        ["office.code", "office.kind"],
        {"office.code": "bm29", "office.kind": "department"},
    ),
    (
        WR,
        "wr.messages_avg_days_required",
        {"interaction.messages.avg_days": None},
        ["interaction.messages.avg_days", "interaction.messages.closed"],
        {"interaction.messages.closed": 0, "interaction.messages.avg_days": None},
    ),
    (
        SR,
        "sr.pass_rate_required",
        {"spot_checks.q3.pass_rate_pct": None},
        ["spot_checks.q3.pass_rate_pct", "spot_checks.q3.sampled"],
        {"spot_checks.q3.sampled": 0, "spot_checks.q3.pass_rate_pct": None},
    ),
    (
        SR,
        "sr.accountability_total_sum",
        {"spot_checks.q2.accountability.total": 5},
        [
            "spot_checks.q2.accountability.total",
            "spot_checks.q2.accountability.talk",
            "spot_checks.q2.accountability.written_review",
            "spot_checks.q2.accountability.public_criticism",
            "spot_checks.q2.accountability.warning_or_demerit",
            "spot_checks.q2.accountability.transfer_or_dismissal",
            "spot_checks.q2.accountability.other",
        ],
        {"spot_checks.q2.accountability.total": 0},
    ),
    (
        SR,
        "sr.closed_on_time_required",
        {"error_reports.closed_on_time_pct": None},
        ["error_reports.closed_on_time_pct", "error_reports.received"],
        {"error_reports.received": 0, "error_reports.closed_on_time_pct": None},
    ),
    (
        SR,
        "sr.site_changes_match_registry",
        {"site_changes.closed": 1},
        ["site_changes.closed"],
        {"year": 2016, "site_changes.closed": 1},
    ),
]


def _check(
    report: dict[str, Any], registry: Registry | None = None, context: CheckContext | None = None
) -> CheckResult:
    return check_report(report, registry or mini_registry(), context)


def test_every_rule_has_a_case() -> None:
    covered = {case[1] for case in CASES}
    covered |= {"wr.site_code_region", "wr.plausibility_year_over_year", "wr.plausibility_peers"}
    defined = {r.id for form in (WR, SR) for r in load_form(form).rules}
    assert covered == defined


@pytest.mark.parametrize(
    ("form", "rule", "bad", "paths", "good"), CASES, ids=[case[1] for case in CASES]
)
def test_rule(
    clean: Clean, form: str, rule: str, bad: dict[str, Any], paths: list[str], good: dict[str, Any]
) -> None:
    failing = _check(edited(clean(form), bad))
    assert failing.report is not None, failing.issues
    found = [i for i in failing.issues if i.rule_id == rule]
    assert found, failing.issues
    assert found[0].paths == paths
    severity = next(r.severity for r in load_form(form).rules if r.id == rule)
    assert found[0].severity == severity
    assert failing.accepted is (severity == "warning")
    assert found[0].message_zh and found[0].message_en
    passing = _check(edited(clean(form), good))
    assert passing.report is not None, passing.issues
    assert [i for i in passing.issues if i.rule_id == rule] == []


def test_clean_reports_have_no_issue(clean: Clean) -> None:
    for form in (WR, SR):
        result = _check(clean(form))
        assert (result.accepted, result.issues) == (True, [])


def test_messages_interpolate_the_values(clean: Clean) -> None:
    result = _check(
        edited(clean(WR), {"traffic.unique_visitors": 2000, "traffic.page_views": 1000})
    )
    issue = next(i for i in result.issues if i.rule_id == "wr.uv_le_pv")
    assert issue.message_zh == (
        "独立用户访问总量（2000）不应大于网站总访问量（1000）（见填报说明第7条）"
    )
    assert issue.message_en == (
        "Unique visitors (2000) must not exceed page views (1000) (see filling instruction 7)"
    )
    result = _check(
        edited(
            clean(SR),
            {"spot_checks.q2.sampling_ratio_pct": 20, "spot_checks.year.sampling_ratio_pct": 45.7},
        )
    )
    issue = next(i for i in result.issues if i.rule_id == "sr.sampling_ratio_min")
    assert issue.message_zh == "第二季度抽查比例（20%）低于30%（见填报说明第4条）"


def test_every_issue_is_returned_at_once(clean: Clean) -> None:
    report = edited(
        clean(WR),
        {
            "traffic.unique_visitors": 146205378,
            "columns.new": 99,
            "security.issues_fixed": 36,
            "site.icp_filing": "京ICP备1号",
        },
    )
    assert {i.rule_id for i in _check(report).issues} == {
        "wr.uv_le_pv",
        "wr.columns_new_le_maintained",
        "wr.security_fixed_le_found",
        "wr.icp_filing_format",
    }


def test_quarterly_rules_report_each_column(clean: Clean) -> None:
    report = edited(
        clean(SR),
        {
            "spot_checks.q1.failed": 31,
            "spot_checks.q3.failed": 28,
            "spot_checks.year.failed": 59,
            "spot_checks.q1.pass_rate_pct": None,
            "spot_checks.q3.pass_rate_pct": None,
            "spot_checks.year.pass_rate_pct": 66.1,
        },
    )
    found = [i.paths[0] for i in _check(report).issues if i.rule_id == "sr.failed_le_sampled"]
    assert found == ["spot_checks.q1.failed", "spot_checks.q3.failed"]


def test_new_media_channel_needs_a_name_and_a_named_channel(clean: Clean) -> None:
    report = edited(clean(WR), {"new_media.other.0.name": None})
    found = [i for i in _check(report).issues if i.rule_id == "wr.new_media_channels"]
    assert [i.paths for i in found] == [["new_media.other.0.name"]]
    report = edited(
        clean(WR), {"new_media.weibo": None, "new_media.wechat": None, "new_media.other": None}
    )
    found = [i for i in _check(report).issues if i.rule_id == "wr.new_media_channels"]
    assert [i.paths for i in found] == [["new_media.has"]]
    report = edited(
        clean(WR), {"new_media.has": False, "new_media.weibo": None, "new_media.other": None}
    )
    found = [i for i in _check(report).issues if i.rule_id == "wr.new_media_channels"]
    assert [i.paths[-1] for i in found] == ["new_media.has"]
    assert found[0].message_zh == "未开设移动新媒体时，微信应为空（见填报说明第32条）"


def test_other_ticked_without_text(clean: Clean) -> None:
    report = edited(clean(WR), {"innovation.features": ["other"]})
    issue = next(i for i in _check(report).issues if i.rule_id == "wr.innovation_other_text")
    assert issue.message_zh == "勾选“其他”时，应填写其他（说明）（见填报说明第35条）"


def test_weight_required_when_included(clean: Clean) -> None:
    for edits in (
        {"performance_assessment.weight_pct": None},
        {"performance_assessment.included": False},
    ):
        issues = _check(edited(clean(SR), edits)).issues
        assert [i.rule_id for i in issues] == ["sr.weight_iff_included"]
    report = edited(
        clean(SR),
        {"performance_assessment.included": False, "performance_assessment.weight_pct": None},
    )
    assert _check(report).issues == []


def test_site_code_region_against_an_unvalidated_registry(clean: Clean) -> None:
    moved = Site(
        code="1100000099",
        name="北京市示例中心",
        homepage_url="https://demo1.example.gov.cn",
        type="department",
        sponsor="北京市示例中心",
        admin_node="110101",
    )
    dept = Site(
        code="bm07000001",
        name="工业和信息化部",
        homepage_url="https://www.moe.gov.cn",
        type="department",
        sponsor="工业和信息化部办公厅",
        admin_node="CN",
        dept_node="bm29",
    )
    registry = mini_registry(extra_sites=[moved, dept])
    report = edited(
        clean(WR),
        {
            "site.site_code": "1100000099",
            "site.name": "北京市示例中心",
            "site.homepage_url": "https://demo1.example.gov.cn",
            "site.sponsor": "北京市示例中心",
            "site.type": "department",
        },
    )
    issues = _check(report, registry).issues
    assert [(i.rule_id, i.paths) for i in issues] == [("wr.site_code_region", ["site.site_code"])]
    report = edited(
        clean(WR),
        {
            "site.site_code": "bm07000001",
            "site.name": "工业和信息化部",
            "site.homepage_url": "https://www.moe.gov.cn",
            "site.sponsor": "工业和信息化部办公厅",
            "site.type": "department",
        },
    )
    assert [i.rule_id for i in _check(report, registry).issues] == ["wr.site_code_region"]
    assert _check(clean(WR), registry).issues == []


def test_registry_rules_are_skipped_without_a_registry(clean: Clean) -> None:
    report = edited(clean(WR), {"site.site_code": "5109030018", "site.name": "别的网站"})
    assert check_report(report).issues == []
    report = edited(clean(SR), {"office.code": "650000", "site_changes.opened": 9})
    assert check_report(report).issues == []


def test_site_changes_are_derived_from_the_dated_registry(clean: Clean) -> None:
    sites = [
        Site(
            code="1100000101",
            name="新站",
            homepage_url="https://a.example.gov.cn",
            type="department",
            sponsor="甲",
            admin_node="110000",
            active_from=2019,
        ),
        Site(
            code="1101010001",
            name="关停站",
            homepage_url="https://b.example.gov.cn",
            type="department",
            sponsor="乙",
            admin_node="110101",
            active_to=2019,
            ended_by="closed",
        ),
        Site(
            code="1101010002",
            name="整合站",
            homepage_url="https://c.example.gov.cn",
            type="department",
            sponsor="丙",
            admin_node="110101",
            active_to=2019,
            ended_by="integrated",
        ),
    ]
    registry = mini_registry(extra_sites=sites)
    issues = _check(clean(SR), registry).issues
    assert [i.paths for i in issues] == [
        ["site_changes.opened"],
        ["site_changes.integrated"],
        ["site_changes.closed"],
    ]
    report = edited(
        clean(SR),
        {"site_changes.opened": 1, "site_changes.integrated": 1, "site_changes.closed": 1},
    )
    assert _check(report, registry).issues == []


def test_office_of_a_department(clean: Clean) -> None:
    report = edited(clean(SR), {"office.kind": "department", "office.code": "110000"})
    assert [i.rule_id for i in _check(report).issues] == ["sr.office_code_format"]
    registry = mini_registry(
        extra_nodes=[
            Node(code="bm30", name="示例部门", level="province", tree="admin", parent="CN")
        ]
    )
    report = edited(clean(SR), {"office.kind": "department", "office.code": "bm30"})
    assert [i.rule_id for i in _check(report, registry).issues] == ["sr.office_code_registered"]


def test_year_over_year_jumps_warn_with_a_previous_year(clean: Clean) -> None:
    previous = edited(clean(WR), {"traffic.page_views": 14000000, "columns.new": 1})
    result = _check(clean(WR), context=CheckContext(previous_year=previous))
    found = [i for i in result.issues if i.rule_id == "wr.plausibility_year_over_year"]
    assert [i.paths for i in found] == [["traffic.page_views"]]
    assert found[0].severity == "warning" and result.accepted
    result = _check(clean(WR), context=CheckContext(previous_year=clean(WR)))
    assert result.issues == []


def test_peer_outliers_warn_with_peer_statistics(clean: Clean) -> None:
    peers = {
        "traffic.page_views": (1_000_000.0, 500_000.0),
        "info.total": (30_000.0, 5_000.0),
        "columns.new": (12.0, 0.0),
    }
    result = _check(clean(WR), context=CheckContext(peers=peers))
    assert [(i.rule_id, i.paths) for i in result.issues] == [
        ("wr.plausibility_peers", ["traffic.page_views"])
    ]
    assert "标准差" in result.issues[0].message_zh
    assert _check(clean(WR), context=CheckContext()).issues == []


@pytest.mark.parametrize(
    "number",
    [
        "京ICP备05060933",  # the seed's own example: no 号
        "京ICP备05009132号",
        "蜀ICP备10014763号",  # the ICP system's abbreviation for 四川
        "川ICP备10014763号",
        "黔ICP备12345678号",
        "滇ICP备12345678号-2",
        "陇ICP备1234567890号",
        "京ICP备 05060933号",
        "京ICP备05060933号-1",
    ],
)
def test_icp_numbers_in_use_are_accepted(clean: Clean, number: str) -> None:
    issues = _check(edited(clean(WR), {"site.icp_filing": number})).issues
    assert [i for i in issues if i.rule_id == "wr.icp_filing_format"] == []


@pytest.mark.parametrize(
    "number", ["京ICP证05060933号", "ICP备05060933号", "京ICP备0506093号", "京ICP备05060933号-"]
)
def test_malformed_icp_numbers_are_warned(clean: Clean, number: str) -> None:
    result = _check(edited(clean(WR), {"site.icp_filing": number}))
    found = [i for i in result.issues if i.rule_id == "wr.icp_filing_format"]
    assert [i.severity for i in found] == ["warning"] and result.accepted


@pytest.mark.parametrize(
    ("number", "verdict"),
    [
        ("京公网安备11010202007633号", None),  # FORMS.md: 110102 西城区
        ("京公网安备 11010202007633号", None),
        ("川公网安备51010402000123号", None),
        ("蜀公网安备51010402000123号", None),
        ("京公网安备110102000076号", "12位旧编号"),
        ("京公网安备11000002007633号", "格式不正确"),  # 110000 is a province, not a county
        ("川公网安备11010202007633号", "格式不正确"),  # 11 is 北京, not 四川
        ("京公网安备1101020200763号", "格式不正确"),
        ("京公网安备11010202007633", "格式不正确"),
    ],
)
def test_public_security_numbers(clean: Clean, number: str, verdict: str | None) -> None:
    result = _check(edited(clean(WR), {"site.psb_filing": number}))
    found = [i for i in result.issues if i.rule_id == "wr.psb_filing_format"]
    assert [verdict in i.message_zh for i in found] == ([] if verdict is None else [True])
    assert all(i.severity == "warning" for i in found) and result.accepted


@pytest.mark.parametrize(
    "item",
    [{"type": "移动客户端"}, {"platform": "iOS"}, {"type": "小程序", "name": "北京通"}],
)
def test_a_new_media_other_item_is_judged_whole(clean: Clean, item: dict[str, Any]) -> None:
    report = clean(WR)
    report["new_media"]["other"] = [item]
    result = _check(report)
    assert not result.accepted
    found = [i for i in result.issues if i.rule_id == "wr.new_media_channels"]
    fields = ("type", "platform", "name", "posts", "followers_or_downloads")
    missing = [f"new_media.other.0.{f}" for f in fields if f not in item]
    assert [i.paths for i in found] == [missing]
    assert found[0].message_zh.startswith("其他 第1条应完整填写")


def test_the_weight_is_empty_not_0_when_not_included(clean: Clean) -> None:
    edits = {"performance_assessment.included": False, "performance_assessment.weight_pct": 0}
    result = _check(edited(clean(SR), edits))
    found = [i for i in result.issues if i.rule_id == "sr.weight_iff_included"]
    assert len(found) == 1 and "不填0" in found[0].message_zh and not result.accepted

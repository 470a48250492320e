"""The wire model: strict types, unknown fields refused at every level, schema issues."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from services.intake.edge import decode_json
from shared.forms import Issue, load_form, parse_report
from shared.forms.definition import label_of
from shared.numbers import OversizedNumber
from tests.support.forms import edited, field_paths, put

Clean = Callable[[str], dict[str, Any]]


def _only_issue(raw: object) -> tuple[str, list[str], str]:
    result = parse_report(raw)
    assert result.report is None
    assert len(result.issues) == 1, result.issues
    issue = result.issues[0]
    assert issue.severity == "error"
    return issue.rule_id, issue.paths, issue.message_zh


def test_clean_reports_parse_and_normalize(clean: Clean) -> None:
    for form in ("work-report", "supervision-report"):
        result = parse_report(clean(form))
        assert result.issues == []
        assert result.report is not None and result.report["form"] == form
    wr = parse_report(clean("work-report")).report
    assert wr is not None
    assert wr["signoff"]["fill_date"] == "2020-01-10"
    sr = parse_report(clean("supervision-report")).report
    assert sr is not None and sr["performance_assessment"]["weight_pct"] == 2.0


@pytest.mark.parametrize(
    ("path", "where"),
    [
        ("nickname", "nickname"),
        ("site.nickname", "site.nickname"),
        ("services.cases.nickname", "services.cases.nickname"),
        ("new_media.other.0.nickname", "new_media.other.0.nickname"),
    ],
)
def test_unknown_fields_are_refused_at_every_level(clean: Clean, path: str, where: str) -> None:
    rule, paths, zh = _only_issue(edited(clean("work-report"), {path: 1}))
    assert (rule, paths) == ("schema.extra_forbidden", [where])
    assert "未知字段" in zh


def test_unknown_field_in_a_quarterly_column_is_refused(clean: Clean) -> None:
    raw = edited(clean("supervision-report"), {"spot_checks.q3.accountability.fine": 1})
    assert _only_issue(raw)[:2] == (
        "schema.extra_forbidden",
        ["spot_checks.q3.accountability.fine"],
    )


@pytest.mark.parametrize("value", ["12", 1.5, 12.0, True, None])
def test_counts_are_strict_integers(clean: Clean, value: object) -> None:
    rule, paths, zh = _only_issue(edited(clean("work-report"), {"services.cases.total": value}))
    assert paths == ["services.cases.total"]
    assert rule == "schema.int_type"
    assert "应为非负整数" in zh


def test_negative_and_huge_counts_are_refused(clean: Clean) -> None:
    raw = edited(clean("work-report"), {"new_media.other.0.posts": -1})
    assert _only_issue(raw)[:2] == ("schema.greater_than_equal", ["new_media.other.0.posts"])
    raw = edited(clean("work-report"), {"traffic.page_views": 10**13})
    assert _only_issue(raw)[:2] == ("schema.less_than_equal", ["traffic.page_views"])


@pytest.mark.parametrize("value", ["true", 1, "是"])
def test_yes_no_is_a_json_boolean(clean: Clean, value: object) -> None:
    raw = edited(clean("work-report"), {"interaction.smart_qa": value})
    assert _only_issue(raw)[:2] == ("schema.bool_type", ["interaction.smart_qa"])


def test_missing_required_field(clean: Clean) -> None:
    raw = clean("work-report")
    del raw["security"]["monitoring"]
    rule, paths, zh = _only_issue(raw)
    assert (rule, paths) == ("schema.missing", ["security.monitoring"])
    assert zh == "是否建立安全监测预警机制：缺少必填字段"


def test_optional_fields_may_be_absent_or_null(clean: Clean) -> None:
    raw = edited(clean("work-report"), {"interaction.messages.avg_days": None})
    del raw["innovation"]["other_text"]
    raw["new_media"] = {"has": False}
    result = parse_report(raw)
    assert result.issues == []
    assert result.report is not None
    assert result.report["new_media"] == {
        "has": False,
        "weibo": None,
        "wechat": None,
        "other": None,
    }


def test_multi_choice_takes_option_ids_without_repeats(clean: Clean) -> None:
    raw = edited(clean("work-report"), {"innovation.features": ["搜索即服务"]})
    assert _only_issue(raw)[:2] == ("schema.literal_error", ["innovation.features.0"])
    raw = edited(clean("work-report"), {"innovation.features": ["multilingual", "multilingual"]})
    assert _only_issue(raw)[:2] == ("schema.duplicate_option", ["innovation.features"])
    raw = edited(clean("work-report"), {"innovation.features": []})
    assert parse_report(raw).issues == []


@pytest.mark.parametrize(
    ("edits", "rule", "path"),
    [
        ({"site.type": "county"}, "schema.literal_error", "site.type"),
        ({"innovation.other_text": "很" * 201}, "schema.string_too_long", "innovation.other_text"),
        ({"site.name": "  "}, "schema.string_too_short", "site.name"),
        (
            {"site.homepage_url": "www.beijing.gov.cn"},
            "schema.string_pattern_mismatch",
            "site.homepage_url",
        ),
        ({"signoff.fill_date": "2020/01/10"}, "schema.iso_date", "signoff.fill_date"),
        ({"year": 1999}, "schema.greater_than_equal", "year"),
        (
            {"interaction.messages.avg_days": -0.5},
            "schema.greater_than_equal",
            "interaction.messages.avg_days",
        ),
        ({"new_media.other": {"type": "app"}}, "schema.list_type", "new_media.other"),
        ({"site": "北京"}, "schema.model_type", "site"),
    ],
)
def test_field_types(clean: Clean, edits: dict[str, Any], rule: str, path: str) -> None:
    assert _only_issue(edited(clean("work-report"), edits))[:2] == (rule, [path])


@pytest.mark.parametrize("value", [100.5, -1, "30"])
def test_percentages_are_numbers_within_0_and_100(clean: Clean, value: object) -> None:
    raw = edited(clean("supervision-report"), {"spot_checks.q2.pass_rate_pct": value})
    rule, paths, _ = _only_issue(raw)
    assert paths == ["spot_checks.q2.pass_rate_pct"]
    assert rule in {"schema.less_than_equal", "schema.greater_than_equal", "schema.float_type"}


def test_every_schema_issue_is_reported_at_once(clean: Clean) -> None:
    raw = edited(clean("work-report"), {"traffic.page_views": "many", "site.extra": 1})
    del raw["signoff"]
    result = parse_report(raw)
    assert {(i.rule_id, i.paths[0]) for i in result.issues} == {
        ("schema.int_type", "traffic.page_views"),
        ("schema.extra_forbidden", "site.extra"),
        ("schema.missing", "signoff"),
    }


@pytest.mark.parametrize(
    ("raw", "rule", "paths"),
    [
        ([1, 2], "schema.not_an_object", []),
        ({"form_version": "2018"}, "schema.missing", ["form"]),
        ({"form": "tax-report", "form_version": "2018"}, "schema.unknown_form", ["form"]),
        ({"form": 7}, "schema.unknown_form", ["form"]),
        ({"form": "work-report"}, "schema.missing", ["form_version"]),
        (
            {"form": "work-report", "form_version": "1999"},
            "schema.unknown_version",
            ["form_version"],
        ),
        ({"form": "work-report", "form_version": 2018}, "schema.unknown_version", ["form_version"]),
    ],
)
def test_the_form_is_picked_from_the_report(raw: object, rule: str, paths: list[str]) -> None:
    assert _only_issue(raw)[:2] == (rule, paths)


UNSAFE = {
    "NUL": "\x00",
    "BEL": "\x07",
    "ESC": "\x1b",
    "unit separator": "\x1f",
    "lone surrogate": "\ud800",
    "right-to-left override": "\u202e",
    "left-to-right isolate": "\u2066",
}
TEXT_PATHS = [
    (form, path)
    for form in ("work-report", "supervision-report")
    for path in field_paths(form, ("text", "url"))
]
NUMERIC_PATHS = [
    (form, path)
    for form in ("work-report", "supervision-report")
    for path in ["year", *field_paths(form, ("count", "decimal", "percent"))]
]


def _issues_at(raw: object, path: str) -> list[Issue]:
    result = parse_report(raw)
    assert result.report is None, f"{path} was taken"
    return [i for i in result.issues if i.paths == [path]]


def test_every_text_field_is_covered() -> None:
    paths = {path for _form, path in TEXT_PATHS}
    assert {"site.homepage_url", "new_media.other.0.name", "office.name"} <= paths
    assert len(TEXT_PATHS) >= 18


@pytest.mark.parametrize(("form", "path"), TEXT_PATHS)
@pytest.mark.parametrize("char", UNSAFE.values(), ids=UNSAFE.keys())
def test_unsafe_text_is_refused_in_every_text_field(
    clean: Clean, form: str, path: str, char: str
) -> None:
    value = f"ht{char}tps://x.gov.cn/" if path.endswith("_url") else f"北京{char}发布"
    (issue,) = _issues_at(put(clean(form), path, value), path)
    assert issue.rule_id == "schema.unsafe_text"
    assert f"U+{ord(char):04X}" in issue.message_en and "第3个字符" in issue.message_zh
    assert issue.message_zh.startswith(label_of(load_form(form), path))


@pytest.mark.parametrize("char", ["\x00", "\x1f", "\u202e"])
def test_unsafe_text_at_either_end_is_refused_not_trimmed(clean: Clean, char: str) -> None:
    for value in (f"{char}北京发布", f"北京发布{char}"):
        (issue,) = _issues_at(put(clean("work-report"), "site.name", value), "site.name")
        assert issue.rule_id == "schema.unsafe_text"


def test_tabs_newlines_and_other_scripts_are_text(clean: Clean) -> None:
    raw = put(clean("work-report"), "site.sponsor", "北京市人民政府\t办公厅\r\n（ئۇيغۇرچە،\u200f）")
    report = parse_report(raw).report
    assert report is not None and "办公厅\r\n" in report["site"]["sponsor"]


@pytest.mark.parametrize(("form", "path"), NUMERIC_PATHS)
def test_numbers_too_long_for_python_are_refused_at_their_field(
    clean: Clean, form: str, path: str
) -> None:
    huge = decode_json(b"-" * path.endswith("1") + b"9" * 4301)
    assert isinstance(huge, OversizedNumber)
    (issue,) = _issues_at(put(clean(form), path, huge), path)
    assert issue.rule_id == "schema.oversized_number"
    assert "超过4300位" in issue.message_zh and "4300 digits" in issue.message_en


def test_a_json_body_with_a_huge_integer_decodes_to_the_marker() -> None:
    assert decode_json(b"9" * 4300) == int("9" * 4300)
    body = decode_json(b'{"a": [1, -' + b"1" * 5000 + b"]}")
    assert body == {"a": [1, OversizedNumber(5000)]}
    assert parse_report(decode_json(b"7" * 10_000)).issues[0].rule_id == "schema.not_an_object"

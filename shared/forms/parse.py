"""Parsing a raw report against its form version: schema issues with paths and both messages."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from shared.numbers import MAX_DIGITS, OVERSIZED_EN, OVERSIZED_NUMBER, OVERSIZED_ZH, is_oversized
from shared.text import UNSAFE_EN, UNSAFE_TEXT, UNSAFE_ZH

from .catalog import UnknownForm, load_form
from .definition import FormDefinition, label_of
from .issues import Issue, ParseResult
from .wire import wire_model

#: pydantic error type -> (Chinese, English); {placeholders} come from the error's context
MESSAGES: dict[str, tuple[str, str]] = {
    "extra_forbidden": ("未知字段", "unknown field"),
    "missing": ("缺少必填字段", "required field is missing"),
    "int_type": ("应为非负整数", "must be a non-negative integer"),
    "greater_than_equal": ("不应小于{ge}", "must be at least {ge}"),
    "less_than_equal": ("不应大于{le}", "must be at most {le}"),
    "float_type": ("应为数值", "must be a number"),
    "finite_number": ("应为有限数值", "must be a finite number"),
    "bool_type": ("应为是/否（true 或 false）", "must be true or false"),
    "string_type": ("应为文本", "must be a string"),
    "string_too_short": ("不应为空", "must not be empty"),
    "string_too_long": ("不应超过{max_length}个字符", "must be at most {max_length} characters"),
    "string_pattern_mismatch": ("格式不正确", "is malformed"),
    "literal_error": ("应为以下选项之一：{expected}", "must be one of {expected}"),
    "duplicate_option": ("选项重复", "options must not repeat"),
    "list_type": ("应为列表", "must be a list"),
    "too_long": ("条目过多（最多{max_length}条）", "too many items (at most {max_length})"),
    "model_type": ("应为对象", "must be an object"),
    "dict_type": ("应为对象", "must be an object"),
    "iso_date": ("应为日期（YYYY-MM-DD）", "must be an ISO date YYYY-MM-DD"),
    "date_from_datetime_parsing": ("日期无效", "is not a valid date"),
    "date_parsing": ("日期无效", "is not a valid date"),
    UNSAFE_TEXT: (UNSAFE_ZH, UNSAFE_EN),
}


def _issue(rule: str, path: str, zh: str, en: str) -> Issue:
    return Issue(
        rule_id=f"schema.{rule}",
        severity="error",
        paths=[path] if path else [],
        message_zh=zh,
        message_en=en,
    )


def _message(defn: FormDefinition, err: ErrorDetails, path: str) -> tuple[str, str]:
    zh, en = MESSAGES.get(err["type"], ("字段值无效", err["msg"]))
    ctx: dict[str, Any] = dict(err.get("ctx") or {})
    if is_oversized(err.get("input")):
        zh, en, ctx = OVERSIZED_ZH, OVERSIZED_EN, {"max_digits": MAX_DIGITS}
    if err["type"] == "greater_than_equal" and ctx.get("ge") == 0:
        zh, en = "不应为负数", "must not be negative"
    for key, value in ctx.items():
        zh, en = zh.replace(f"{{{key}}}", str(value)), en.replace(f"{{{key}}}", str(value))
    label = label_of(defn, path)
    return f"{label}：{zh}", f"{path}: {en}"


def _schema_issues(defn: FormDefinition, exc: ValidationError) -> list[Issue]:
    issues = []
    for err in exc.errors(include_url=False):
        path = ".".join(str(part) for part in err["loc"])
        zh, en = _message(defn, err, path)
        rule = OVERSIZED_NUMBER if is_oversized(err.get("input")) else err["type"]
        issues.append(_issue(rule, path, zh, en))
    return issues


def pick_definition(raw: object) -> FormDefinition | Issue:
    """The definition named by raw["form"] and raw["form_version"], or the issue why not."""
    if not isinstance(raw, dict):
        return _issue("not_an_object", "", "报表应为JSON对象", "a report must be a JSON object")
    form, version = raw.get("form"), raw.get("form_version")
    if form is None:
        return _issue("missing", "form", "表单：缺少必填字段", "form: required field is missing")
    if not isinstance(form, str):
        return _issue("unknown_form", "form", "未知表单", f"unknown form {form!r}")
    try:
        load_form(form)
    except UnknownForm as exc:
        return _issue("unknown_form", "form", f"未知表单：{form}", str(exc))
    if version is None:
        return _issue(
            "missing",
            "form_version",
            "表单版本：缺少必填字段",
            "form_version: required field is missing",
        )
    try:
        if not isinstance(version, str):
            raise UnknownForm(f"form_version must be a string, got {version!r}")
        return load_form(form, version)
    except UnknownForm as exc:
        return _issue("unknown_version", "form_version", f"未知表单版本：{version}", str(exc))


def parse_report(raw: object) -> ParseResult:
    """Validate a raw report with its wire model; the report comes back normalized as JSON."""
    defn = pick_definition(raw)
    if isinstance(defn, Issue):
        return ParseResult(report=None, issues=[defn])
    try:
        model = wire_model(defn).model_validate(raw)
    except ValidationError as exc:
        return ParseResult(report=None, issues=_schema_issues(defn, exc))
    return ParseResult(report=model.model_dump(mode="json"), issues=[])

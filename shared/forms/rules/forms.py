"""Named checks over a report's own values: channels, option texts, patterns, percentages."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from .base import Finding, RuleInput, display, is_empty, rule_check

TOLERANCE_SLACK = 1e-9


def _channel(given: RuleInput, label: str, name: str, counts: list[str]) -> Iterator[Finding]:
    """A channel with a name needs its counts, and counts need a name."""
    has_name = not is_empty(given.value(name))
    filled = [c for c in counts if given.value(c) is not None]
    if has_name:
        for c in counts:
            if c not in filled:
                yield Finding(
                    [c, name],
                    message_zh=f"{label}已填写名称，应填写{given.label(c)}",
                    message_en=f"{c}: the channel has a name, so its counts are required",
                )
    elif filled:
        yield Finding(
            [name, *filled],
            message_zh=f"{label}已填写数量，应填写名称",
            message_en=f"{name}: the channel has counts, so its name is required",
        )


def _whole_item(given: RuleInput, prefix: str, fields: list[str]) -> Iterator[Finding]:
    """A records item is judged whole: every one of its fields filled (or the item absent)."""
    missing = [prefix + f for f in fields if is_empty(given.value(prefix + f))]
    if missing:
        item = given.label(prefix.rstrip("."))
        names = "、".join(given.label(p).rsplit(" ", 1)[-1] for p in missing)
        yield Finding(
            missing,
            message_zh=f"{item}应完整填写（缺少{names}）；不填写的产品请整行删除",
            message_en=f"{prefix.rstrip('.')}: an item needs every field (missing "
            f"{', '.join(p.rsplit('.', 1)[-1] for p in missing)}), or no item at all",
        )


@rule_check("new_media_channels")
def new_media_channels(given: RuleInput) -> Iterator[Finding]:
    """No new media → every channel empty; new media → at least one named channel, complete;
    an "other" item is judged whole."""
    has = given.params["has"]
    records = given.params["records"]
    items = given.value(records["path"]) or []
    channels = [(c["name"], list(c["counts"])) for c in given.params["channels"]]
    prefixes = [f"{records['path']}.{i}." for i in range(len(items))]
    others = [(p + records["name"], [p + c for c in records["counts"]]) for p in prefixes]
    if given.value(has) is False:
        for name, counts in channels + others:
            filled = [p for p in [name, *counts] if not is_empty(given.value(p))]
            if filled:
                yield Finding(
                    [*filled, has],
                    message_zh=f"未开设移动新媒体时，{given.label(name).split()[0]}应为空",
                    message_en=f"{name}: must be empty when {has} is false",
                )
        return
    if not any(not is_empty(given.value(name)) for name, _ in channels + others):
        yield Finding(
            [has],
            message_zh="有移动新媒体时，应至少填写一个渠道（微博、微信或其他）的名称",
            message_en=f"{has} is true, so at least one channel needs a name",
        )
    for name, counts in channels:
        yield from _channel(given, given.label(name).rsplit(" ", 1)[0], name, counts)
    for prefix in prefixes:
        yield from _whole_item(given, prefix, list(records["fields"]))


@rule_check("required_when_positive")
def required_when_positive(given: RuleInput) -> Iterator[Finding]:
    """A field that must be filled when another count is above 0 (per column with {col})."""
    for col in given.params.get("columns") or [None]:
        path, when = (
            given.params[k] if col is None else given.params[k].replace("{col}", col)
            for k in ("path", "when")
        )
        count = given.value(when)
        if isinstance(count, int | float) and count > 0 and is_empty(given.value(path)):
            yield Finding(
                [path, when],
                message_zh=f"{given.label(when)}为{display(count)}（大于0），应填写"
                f"{given.label(path)}",
                message_en=f"{path} is required when {when} is above 0 (got {display(count)})",
            )


@rule_check("option_needs_text")
def option_needs_text(given: RuleInput) -> Iterator[Finding]:
    """A text required exactly when an option is ticked (其他 → 其他（说明）)."""
    choices, option, text = given.params["choices"], given.params["option"], given.params["text"]
    ticked = option in (given.value(choices) or [])
    written = not is_empty(given.value(text))
    if ticked and not written:
        yield Finding(
            [text, choices],
            message_zh=f"勾选“其他”时，应填写{given.label(text)}",
            message_en=f"{text} is required when {option!r} is ticked in {choices}",
        )
    elif written and not ticked:
        yield Finding(
            [text, choices],
            message_zh=f"未勾选“其他”时，{given.label(text)}应为空",
            message_en=f"{text} must be empty unless {option!r} is ticked in {choices}",
        )


@rule_check("matches_pattern")
def matches_pattern(given: RuleInput) -> Iterator[Finding]:
    """A filled text matching a regular expression (the rule's messages may use {value})."""
    path = given.params["path"]
    value = given.value(path)
    if not is_empty(value) and not re.fullmatch(given.params["pattern"], str(value)):
        yield Finding([path], values={"value": value, "label": given.label(path)})


@rule_check("code_matches_kind")
def code_matches_kind(given: RuleInput) -> Iterator[Finding]:
    """A code whose pattern depends on a kind (province: PP0000, department: bmNN)."""
    path, kind_path = given.params["path"], given.params["kind"]
    kind, code = given.value(kind_path), given.value(path)
    pattern = given.params["patterns"].get(kind)
    if pattern is not None and isinstance(code, str) and not re.fullmatch(pattern, code):
        yield Finding(
            [path, kind_path],
            message_zh=f"{given.label(path)}（{code}）与类型（{kind}）不符：应匹配 {pattern}",
            message_en=f"{path} ({code}) does not fit {kind_path} {kind}: expected {pattern}",
        )


def _numbers(given: RuleInput, *paths: str) -> list[float] | None:
    values: list[Any] = [given.value(p) for p in paths]
    return None if any(v is None for v in values) else [float(v) for v in values]


@rule_check("pass_rate_consistent")
def pass_rate_consistent(given: RuleInput) -> Iterator[Finding]:
    """Each column's pass rate equals (sampled − failed) / sampled within rounding."""
    tolerance = float(given.params["tolerance"]) + TOLERANCE_SLACK
    for col in given.params["columns"]:
        rate, sampled, failed = (
            given.params[k].replace("{col}", col) for k in ("rate", "sampled", "failed")
        )
        got = _numbers(given, rate, sampled, failed)
        if got is None or got[1] == 0:
            continue
        expected = round((got[1] - got[2]) / got[1] * 100, 1)
        if abs(got[0] - expected) > tolerance:
            yield Finding(
                [rate, sampled, failed],
                message_zh=f"{given.label(rate)}（{display(got[0])}%）与抽查、不合格数量推算的"
                f"{display(expected)}%不一致",
                message_en=f"{rate} ({display(got[0])}%) differs from (sampled − failed) / sampled "
                f"= {display(expected)}%",
            )


@rule_check("mean_of_columns")
def mean_of_columns(given: RuleInput) -> Iterator[Finding]:
    """A year figure equal to the mean of its quarters within rounding."""
    year, columns = given.params["year"], list(given.params["columns"])
    got = _numbers(given, year, *columns)
    if got is None:
        return
    mean = round(sum(got[1:]) / len(columns), 2)
    if abs(got[0] - mean) > float(given.params["tolerance"]) + TOLERANCE_SLACK:
        yield Finding(
            [year, *columns],
            message_zh=f"{given.label(year)}（{display(got[0])}）应为四个季度的平均值"
            f"（{display(mean)}）",
            message_en=f"{year} ({display(got[0])}) should be the mean of the quarters "
            f"({display(mean)})",
        )


@rule_check("weight_iff_included")
def weight_iff_included(given: RuleInput) -> Iterator[Finding]:
    """A weight in (0, 100] exactly when included; empty (not 0) otherwise."""
    flag, weight = given.params["flag"], given.params["weight"]
    included, value = given.value(flag), given.value(weight)
    if included and (value is None or value <= 0):
        yield Finding(
            [weight, flag],
            message_zh=f"已纳入政府年度绩效考核，{given.label(weight)}应大于0且不超过100"
            f"（现为{display(value)}）",
            message_en=f"{flag} is true, so {weight} must be in (0, 100] (got {display(value)})",
        )
    elif not included and value is not None:
        yield Finding(
            [weight, flag],
            message_zh=f"未纳入政府年度绩效考核，{given.label(weight)}应为空，不填0"
            f"（现为{display(value)}）",
            message_en=f"{flag} is false, so {weight} must be empty (got {display(value)})",
        )

"""Plausibility warnings (work report rule 14): year-over-year jumps and peer-group outliers."""

from __future__ import annotations

from collections.abc import Iterator
from numbers import Real

from ..layout import count_paths
from ..paths import get_path
from .base import Finding, RuleInput, display, rule_check


def _count(value: object) -> float | None:
    return float(value) if isinstance(value, Real) and not isinstance(value, bool) else None


@rule_check("year_over_year_jump")
def year_over_year_jump(given: RuleInput) -> Iterator[Finding]:
    """A count at least `factor` times larger or smaller than last year's (above `min_value`)."""
    previous = given.context.previous_year if given.context else None
    if previous is None:
        return
    factor, floor = float(given.params["factor"]), float(given.params["min_value"])
    for path in count_paths(given.defn):
        now, before = _count(given.value(path)), _count(get_path(previous, path))
        if now is None or before is None or max(now, before) < floor:
            continue
        if now >= factor * before or before >= factor * now:
            yield Finding(
                [path],
                message_zh=f"{given.label(path)}（{display(now)}）与上年（{display(before)}）相比"
                f"变化超过{display(factor)}倍，请核实",
                message_en=f"{path} ({display(now)}) changed more than {display(factor)}-fold "
                f"from last year ({display(before)}); please check",
            )


@rule_check("peer_outlier")
def peer_outlier(given: RuleInput) -> Iterator[Finding]:
    """A count more than `z` standard deviations from its peer group's mean."""
    peers = given.context.peers if given.context else None
    if not peers:
        return
    limit = float(given.params["z"])
    for path in count_paths(given.defn):
        if path not in peers:
            continue
        mean, stdev = peers[path]
        now = _count(given.value(path))
        if now is None or stdev <= 0:
            continue
        z = (now - mean) / stdev
        if abs(z) > limit:
            yield Finding(
                [path],
                message_zh=f"{given.label(path)}（{display(now)}）偏离同类网站均值"
                f"（{display(round(mean, 1))}）{abs(z):.1f}个标准差，请核实",
                message_en=f"{path} ({display(now)}) is {abs(z):.1f} standard deviations from "
                f"the peer mean ({display(round(mean, 1))}); please check",
            )

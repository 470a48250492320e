"""Declarative rules: left operator right, with a missing-value strategy, when and expansions."""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from ..definition import Comparison, FormDefinition, Operand, RuleDef, SumOf, leaves, substitute
from ..paths import get_path
from .base import Finding

OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "==": lambda a, b: math.isclose(a, b, rel_tol=0, abs_tol=1e-9),
    "!=": lambda a, b: not math.isclose(a, b, rel_tol=0, abs_tol=1e-9),
    "<=": lambda a, b: a <= b + 1e-9,
    "<": operator.lt,
    ">=": lambda a, b: a + 1e-9 >= b,
    ">": operator.gt,
}

_MISSING = object()


def operand_paths(side: Operand) -> list[str]:
    if isinstance(side, SumOf):
        return list(side.sum)
    return [side] if isinstance(side, str) else []


def _bind(side: Operand, bindings: dict[str, str]) -> Operand:
    if isinstance(side, SumOf):
        return SumOf(sum=tuple(substitute(p, bindings) for p in side.sum))
    return substitute(side, bindings) if isinstance(side, str) else side


def _value(report: Mapping[str, Any], side: Operand, missing: str) -> Any:
    """The operand's value; _MISSING when a null must skip the rule."""
    if not isinstance(side, SumOf | str):
        return side
    values = [get_path(report, p) for p in operand_paths(side)]
    if any(v is None for v in values):
        if missing == "skip":
            return _MISSING
        values = [0 if v is None else v for v in values]
    return sum(values) if isinstance(side, SumOf) else values[0]


@dataclass(frozen=True)
class Outcome:
    holds: bool
    left: Any
    right: Any


def evaluate(report: Mapping[str, Any], cmp: Comparison, missing: str) -> Outcome | None:
    """The comparison's outcome, or None when skipped for a missing operand."""
    left, right = _value(report, cmp.left, missing), _value(report, cmp.right, missing)
    if left is _MISSING or right is _MISSING:
        return None
    return Outcome(OPERATORS[cmp.operator](left, right), left, right)


#: id(rule) -> (rule, its bound comparisons): definitions live as long as the process, and
#: binding them again for every report was a tenth of the validator's time
_BOUND: dict[int, tuple[RuleDef, list[tuple[dict[str, str], Comparison, Comparison | None]]]] = {}


def bound_comparisons(
    rule: RuleDef,
) -> list[tuple[dict[str, str], Comparison, Comparison | None]]:
    """The rule's comparison (and when) under every binding of its placeholders (cached)."""
    cached = _BOUND.get(id(rule))
    if cached is None or cached[0] is not rule:
        cached = _BOUND[id(rule)] = (rule, list(_bind_comparisons(rule)))
    return cached[1]


def _bind_comparisons(
    rule: RuleDef,
) -> Iterator[tuple[dict[str, str], Comparison, Comparison | None]]:
    for bindings in rule.expansions():
        main = rule.comparison
        bound = Comparison(
            left=_bind(main.left, bindings),
            operator=main.operator,
            right=_bind(main.right, bindings),
        )
        when = rule.when and Comparison(
            left=_bind(rule.when.left, bindings),
            operator=rule.when.operator,
            right=_bind(rule.when.right, bindings),
        )
        yield bindings, bound, when


def comparison_paths(
    rule: RuleDef, bindings: dict[str, str], cmp: Comparison, when: Comparison | None
) -> list[str]:
    if rule.paths:
        return [substitute(p, bindings) for p in rule.paths]
    sides = [cmp.left, cmp.right] + ([when.left, when.right] if when else [])
    return list(dict.fromkeys(p for side in sides for p in operand_paths(side)))


def run_comparison(rule: RuleDef, defn: FormDefinition, report: Mapping[str, Any]) -> list[Finding]:
    """Every breach of a declarative rule, one finding per breached binding."""
    findings = []
    for bindings, cmp, when in bound_comparisons(rule):
        if when is not None:
            cond = evaluate(report, when, rule.missing)
            if cond is None or not cond.holds:
                continue
        outcome = evaluate(report, cmp, rule.missing)
        if outcome is None or outcome.holds:
            continue
        paths = comparison_paths(rule, bindings, cmp, when)
        first = leaves(defn).get(paths[0])
        values = {
            **bindings,
            "left": outcome.left,
            "right": outcome.right,
            "left_path": paths[0],
            "left_label": first.label if first else paths[0],
            "col_label": first.col_label if first else "",
        }
        findings.append(Finding(paths=paths, values=values))
    return findings

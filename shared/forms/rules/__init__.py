"""Running a definition's rules over a parsed report: every issue at once, in definition order."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from shared.registry.model import Registry

from ..definition import FormDefinition, RuleDef, leaves
from ..instructions import pointer_en, pointer_zh
from ..issues import CheckContext, Issue
from . import codes, filings, forms, plausibility  # noqa: F401  (registers the named checks)
from .base import CHECKS, Finding, RuleInput, display, rule_check
from .compare import bound_comparisons, comparison_paths, operand_paths, run_comparison

__all__ = ["CHECKS", "Finding", "RuleInput", "rule_check", "run_rules", "verify_rules"]

_PLACEHOLDER = re.compile(r"\{(\w+)\}")


def render(template: str, values: Mapping[str, Any]) -> str:
    """Fill {name} placeholders with displayed values; unknown names stay as written."""
    return _PLACEHOLDER.sub(
        lambda m: display(values[m.group(1)]) if m.group(1) in values else m.group(0), template
    )


def _issue(defn: FormDefinition, rule: RuleDef, finding: Finding) -> Issue:
    """The issue of a finding; its message points at the instruction of its field."""
    zh = finding.message_zh or render(rule.message_zh, finding.values)
    en = finding.message_en or render(rule.message_en, finding.values)
    return Issue(
        rule_id=rule.id,
        severity=rule.severity,
        paths=finding.paths,
        message_zh=zh + pointer_zh(defn, finding.paths),
        message_en=en + pointer_en(defn, finding.paths),
    )


def run_rules(
    defn: FormDefinition,
    report: Mapping[str, Any],
    registry: Registry | None = None,
    context: CheckContext | None = None,
) -> list[Issue]:
    """Every issue the definition's rules find in a report its wire model accepted."""
    issues: list[Issue] = []
    fired: set[str] = set()
    for rule in defn.rules:
        if fired.intersection(rule.requires):
            continue
        if rule.check is None:
            findings = run_comparison(rule, defn, report)
        else:
            given = RuleInput(report, defn, rule.params, registry, context)
            findings = list(CHECKS[rule.check](given))
        issues.extend(_issue(defn, rule, f) for f in findings)
        if findings:
            fired.add(rule.id)
    return issues


def verify_rules(defn: FormDefinition) -> list[str]:
    """Problems in a definition's rules: unknown checks, requirements, or paths."""
    problems, seen = [], set()
    known = leaves(defn)
    for rule in defn.rules:
        if rule.check is not None and rule.check not in CHECKS:
            problems.append(f"{rule.id}: unknown check {rule.check!r}")
        problems += [
            f"{rule.id}: requires unknown or later rule {r}" for r in rule.requires if r not in seen
        ]
        seen.add(rule.id)
        if rule.check is not None:
            continue
        for bindings, cmp, when in bound_comparisons(rule):
            sides = [cmp.left, cmp.right] + ([when.left, when.right] if when else [])
            paths = [p for side in sides for p in operand_paths(side)]
            for path in paths + comparison_paths(rule, bindings, cmp, when):
                if path not in known:
                    problems.append(f"{rule.id}: unknown field {path}")
    return problems

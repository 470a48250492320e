"""Checking a raw report: parse with its wire model, then every rule of its definition."""

from __future__ import annotations

from shared.registry.model import Registry

from .catalog import load_form
from .issues import CheckContext, CheckResult
from .parse import parse_report
from .rules import run_rules


def check_report(
    raw: object, registry: Registry | None = None, context: CheckContext | None = None
) -> CheckResult:
    """The verdict on a report: schema issues, or every rule's issues when it parsed."""
    form = raw.get("form") if isinstance(raw, dict) else None
    version = raw.get("form_version") if isinstance(raw, dict) else None
    parsed = parse_report(raw)
    if parsed.report is None:
        return CheckResult(
            accepted=False,
            form=form if isinstance(form, str) else None,
            form_version=version if isinstance(version, str) else None,
            report=None,
            issues=parsed.issues,
        )
    defn = load_form(parsed.report["form"], parsed.report["form_version"])
    issues = run_rules(defn, parsed.report, registry, context)
    return CheckResult(
        accepted=not any(i.severity == "error" for i in issues),
        form=defn.form,
        form_version=defn.version,
        report=parsed.report,
        issues=issues,
    )

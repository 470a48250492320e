"""What checking a report returns: issues, the parse result, the verdict, and the check context."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict


class Issue(BaseModel):
    """One finding: rule id, severity, field paths, messages (the fields of contracts.IssueOut)."""

    model_config = ConfigDict(frozen=True)

    rule_id: str
    severity: Literal["error", "warning"]
    paths: list[str]
    message_zh: str
    message_en: str


class ParseResult(BaseModel):
    """A report normalized by its wire model, or None with the schema issues that refused it."""

    report: dict[str, Any] | None
    issues: list[Issue]


class CheckResult(BaseModel):
    """The verdict on a report: accepted when parsed and no issue is an error."""

    accepted: bool
    form: str | None
    form_version: str | None
    report: dict[str, Any] | None
    issues: list[Issue]

    @property
    def errors(self) -> list[Issue]:
        return [i for i in self.issues if i.severity == "error"]

    @property
    def warnings(self) -> list[Issue]:
        return [i for i in self.issues if i.severity == "warning"]


class CheckContext(BaseModel):
    """What plausibility rules compare with; each part optional, its rules skipped when absent."""

    previous_year: dict[str, Any] | None = None
    #: dotted path -> (mean, standard deviation) of the site's peer group
    peers: dict[str, tuple[float, float]] | None = None

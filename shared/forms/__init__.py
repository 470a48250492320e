"""Forms as data: definitions, wire models, layouts, and the rules of FORMS.md §4."""

from .catalog import (
    SUPERVISION_REPORT,
    WORK_REPORT,
    DefinitionError,
    FormId,
    UnknownForm,
    latest_version,
    list_forms,
    load_form,
    report_code,
)
from .check import check_report
from .definition import FormDefinition
from .issues import CheckContext, CheckResult, Issue, ParseResult
from .layout import LayoutRow, count_paths, layout, yes_no_paths
from .parse import parse_report
from .paths import get_path
from .rules import rule_check
from .wire import json_schema, wire_model

__all__ = [
    "SUPERVISION_REPORT",
    "WORK_REPORT",
    "CheckContext",
    "CheckResult",
    "DefinitionError",
    "FormDefinition",
    "FormId",
    "Issue",
    "LayoutRow",
    "ParseResult",
    "UnknownForm",
    "check_report",
    "count_paths",
    "get_path",
    "json_schema",
    "latest_version",
    "layout",
    "list_forms",
    "load_form",
    "parse_report",
    "report_code",
    "rule_check",
    "wire_model",
    "yes_no_paths",
]

"""The catalog of definitions: discovery, versions, and what a definition may contain."""

from __future__ import annotations

import pytest
import yaml
from pydantic import ValidationError

from shared.forms import (
    FormDefinition,
    UnknownForm,
    latest_version,
    list_forms,
    load_form,
    wire_model,
)
from shared.forms.catalog import version_key
from shared.forms.rules import verify_rules


def test_list_forms_names_both_forms() -> None:
    assert list_forms() == [("supervision-report", "2018"), ("work-report", "2018")]


def test_load_form_defaults_to_latest() -> None:
    assert latest_version("work-report") == "2018"
    defn = load_form("work-report")
    assert (defn.form, defn.version, defn.title) == ("work-report", "2018", "政府网站工作年度报表")
    assert load_form("supervision-report", "2018").title == "政府网站监管年度报表"


def test_unknown_form_and_version_say_what_is_known() -> None:
    with pytest.raises(UnknownForm, match="known: supervision-report, work-report"):
        load_form("tax-report")
    with pytest.raises(KeyError, match=r"unknown version '1999'.*known: 2018"):
        load_form("work-report", "1999")


def test_versions_sort_naturally() -> None:
    assert sorted(["2024", "2018.1", "2018", "2018.10", "2018.2"], key=version_key) == [
        "2018",
        "2018.1",
        "2018.2",
        "2018.10",
        "2024",
    ]


def _as_data(form: str) -> dict:
    return yaml.safe_load(yaml.safe_dump(load_form(form).model_dump(mode="json")))


def test_a_new_version_is_data_only() -> None:
    data = _as_data("work-report")
    data["version"] = "2025"
    data["sections"][1]["fields"].append(
        {
            "id": "traffic.mobile_visits",
            "label": "移动端访问量（次）",
            "unit": "次",
            "type": "count",
        }
    )
    defn = FormDefinition.model_validate(data)
    assert verify_rules(defn) == []
    model = wire_model(defn)
    assert "mobile_visits" in model.model_fields["traffic"].annotation.model_fields  # type: ignore[union-attr]


def test_definitions_refuse_duplicates_and_misplaced_columns() -> None:
    data = _as_data("work-report")
    data["sections"][1]["fields"].append(data["sections"][1]["fields"][0])
    with pytest.raises(ValidationError, match="duplicate field ids"):
        FormDefinition.model_validate(data)
    data = _as_data("work-report")
    data["sections"][1]["fields"][0]["id"] = "traffic.{col}.unique_visitors"
    with pytest.raises(ValidationError, match="sections with columns"):
        FormDefinition.model_validate(data)


def test_verify_rules_finds_unknown_paths_checks_and_requirements() -> None:
    data = _as_data("work-report")
    data["rules"][0]["right"] = "traffic.page_veiws"
    data["rules"][1] = {"id": "wr.mystery", "severity": "error", "check": "no_such_check"}
    data["rules"][2]["requires"] = ["wr.later_rule"]
    problems = verify_rules(FormDefinition.model_validate(data))
    assert "wr.uv_le_pv: unknown field traffic.page_veiws" in problems
    assert "wr.mystery: unknown check 'no_such_check'" in problems
    assert any("requires unknown or later rule wr.later_rule" in p for p in problems)


def test_a_declarative_rule_needs_both_messages() -> None:
    data = _as_data("work-report")
    data["rules"][0]["message_en"] = ""
    with pytest.raises(ValidationError, match="needs message_zh and message_en"):
        FormDefinition.model_validate(data)

"""`nianbao forms`: each example report through `check`, plus `schema` and `list`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shared.forms import load_form, wire_model
from tests.support.forms import REGISTRY_MINI, REPORTS, read_json
from tools.forms_cli import app

runner = CliRunner()
BAD = sorted(REPORTS.glob("*/bad-*.json"))
#: rules no example file can show through `check`: plausibility needs a CheckContext, and a
#: registry file whose site code disagrees with the site's region is refused when loaded
NOT_AS_FILES = {"wr.plausibility_year_over_year", "wr.plausibility_peers", "wr.site_code_region"}


def _rule_of(path: Path) -> str:
    return path.stem.removeprefix("bad-")


def _severity(rule: str) -> str:
    form = "work-report" if rule.startswith("wr.") else "supervision-report"
    return next(r.severity for r in load_form(form).rules if r.id == rule)


def _check(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["check", *args])
    return result.exit_code, result.output


def test_every_rule_has_an_example_file() -> None:
    defined = {
        r.id for form in ("work-report", "supervision-report") for r in load_form(form).rules
    }
    assert {_rule_of(p) for p in BAD} == defined - NOT_AS_FILES


@pytest.mark.parametrize("path", BAD, ids=[p.name for p in BAD])
def test_each_bad_example_breaks_exactly_its_rule(path: Path) -> None:
    rule = _rule_of(path)
    code, out = _check(str(path), "--registry", str(REGISTRY_MINI), "--json")
    assert code == (1 if _severity(rule) == "error" else 0), out
    verdict = json.loads(out)
    assert {i["rule_id"] for i in verdict["issues"]} == {rule}
    assert verdict["accepted"] is (code == 0)


@pytest.mark.parametrize("form", ["work-report", "supervision-report"])
def test_clean_examples_pass_with_the_mini_and_the_demo_registry(form: str) -> None:
    clean = REPORTS / form / "clean.json"
    for extra in (["--registry", str(REGISTRY_MINI)], []):
        code, out = _check(str(clean), "--json", *extra)
        assert code == 0, out
        assert json.loads(out) == {
            "accepted": True,
            "form": form,
            "form_version": "2018",
            "issues": [],
        }


def test_human_output_lists_severity_rule_path_and_both_messages() -> None:
    code, out = _check(str(REPORTS / "work-report" / "bad-wr.uv_le_pv.json"))
    assert code == 1
    assert "REJECTED" in out
    assert "error    wr.uv_le_pv  traffic.unique_visitors, traffic.page_views" in out
    assert "独立用户访问总量（200000000）不应大于网站总访问量（146205377）" in out
    assert "Unique visitors (200000000) must not exceed page views (146205377)" in out


def test_schema_errors_reject(tmp_path: Path) -> None:
    report = read_json(REPORTS / "work-report" / "clean.json")
    report["traffic"]["page_views"] = "146205377"
    path = tmp_path / "report.json"
    path.write_text(json.dumps(report), encoding="utf-8")
    code, out = _check(str(path), "--json")
    assert code == 1
    assert json.loads(out)["issues"][0]["rule_id"] == "schema.int_type"


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "cannot read"), (b"{not json", "not valid JSON"), ("{}".encode("utf-16"), "not UTF-8")],
)
def test_unreadable_input_exits_2(tmp_path: Path, content: bytes | None, message: str) -> None:
    path = tmp_path / "report.json"
    if content is not None:
        path.write_bytes(content)
    result = runner.invoke(app, ["check", str(path)])
    assert result.exit_code == 2
    assert message in result.stderr


def test_an_unusable_registry_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "registry.json"
    bad.write_text('{"nodes": [], "sites": [{"code": "x"}]}', encoding="utf-8")
    result = runner.invoke(
        app, ["check", str(REPORTS / "work-report" / "clean.json"), "--registry", str(bad)]
    )
    assert result.exit_code == 2
    assert "cannot load the registry" in result.stderr


@pytest.mark.parametrize("form", ["work-report", "supervision-report"])
def test_schema_prints_a_json_schema_the_clean_example_satisfies(form: str) -> None:
    result = runner.invoke(app, ["schema", form, "--version", "2018"])
    assert result.exit_code == 0
    schema = json.loads(result.output)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["type"] == "object" and schema["additionalProperties"] is False
    assert {"form", "form_version", "year"} <= set(schema["required"])
    assert schema["properties"]["form"]["const"] == form
    clean = read_json(REPORTS / form / "clean.json")
    assert set(clean) <= set(schema["properties"])
    wire_model(load_form(form)).model_validate(clean)


def test_schema_of_an_unknown_form_exits_2() -> None:
    result = runner.invoke(app, ["schema", "tax-report"])
    assert result.exit_code == 2
    assert "unknown form" in result.stderr


def test_list_names_forms_versions_and_titles() -> None:
    result = runner.invoke(app, ["list"])
    assert result.exit_code == 0
    assert result.output.splitlines() == [
        "supervision-report\t2018\t政府网站监管年度报表",
        "work-report\t2018\t政府网站工作年度报表",
    ]

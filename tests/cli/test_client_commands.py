"""The client commands against a running system: submit, status, bulk, template, registry."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
import typer
from openpyxl import load_workbook
from typer.testing import CliRunner, Result

from shared.excel import build_template
from shared.forms import load_form
from shared.registry.demo import demo_registry
from tests.support.excel import fill_template, meta_rows
from tests.support.reports import work_report_for
from tools.cli import app
from tools.launcher import System

pytestmark = pytest.mark.e2e

YEAR = 2026
REGISTRY = demo_registry()
runner = CliRunner()


def nianbao(system: System, *args: str, token: str | None = None) -> Result:
    env = {"NIANBAO_URL": system.intake_url, "NIANBAO_TOKEN": token, "COLUMNS": "250"}
    return runner.invoke(app, list(args), env=env)


def _report(code: str, **changes: Any) -> dict[str, Any]:
    report = work_report_for(REGISTRY.sites[code], YEAR)
    for path, value in changes.items():
        group, field = path.split(".")
        report[group][field] = value
    return report


def _write_json(path: Path, report: dict[str, Any]) -> Path:
    path.write_text(json.dumps(report, ensure_ascii=False), encoding="utf-8")
    return path


def _write_xlsx(path: Path, report: dict[str, Any]) -> Path:
    defn = load_form("work-report")
    path.write_bytes(fill_template(build_template(defn), defn, report))
    return path


def _receipt_id(result: Result) -> str:
    match = re.search(r"receipt ([0-9a-f]{32})", result.output)
    assert match, result.output
    return match.group(1)


def _commands(command: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = [prefix]
    if hasattr(command, "commands"):
        for name, sub in command.commands.items():
            found += _commands(sub, (*prefix, name))
    return found


def test_every_command_has_help() -> None:
    commands = _commands(typer.main.get_command(app))
    assert ("submit",) in commands and ("registry", "import") in commands
    for path in commands:
        result = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "120"})
        assert result.exit_code == 0, (path, result.output)
        assert "Usage" in result.output


def test_submit_a_json_report_and_ask_its_status(
    system: System, tokens: dict[str, str], tmp_path: Path
) -> None:
    code = "1101010001"
    file = _write_json(tmp_path / "report.json", _report(code))
    filed = nianbao(system, "submit", str(file), token=tokens[code])
    assert filed.exit_code == 0, filed.output
    assert "accepted" in filed.output
    receipt = _receipt_id(filed)
    status = nianbao(system, "status", receipt, token=tokens[code])
    assert status.exit_code == 0, status.output
    assert receipt in status.output and "accepted" in status.output
    as_json = nianbao(system, "status", receipt, "--json", token=tokens[code])
    assert json.loads(as_json.output)["receipt_id"] == receipt
    other = nianbao(system, "status", receipt, token=tokens["1101010002"])
    assert other.exit_code == 1


def test_download_a_template_fill_it_and_submit_it(
    system: System, tokens: dict[str, str], tmp_path: Path
) -> None:
    code = "1101020001"
    out = tmp_path / "template.xlsx"
    got = nianbao(
        system, "template", "work-report", "-o", str(out), "--year", str(YEAR), token=tokens[code]
    )
    assert got.exit_code == 0, got.output
    data = out.read_bytes()
    sheet = load_workbook(io.BytesIO(data)).worksheets[0]
    name_cell = next(ref for _k, p, ref, _e in meta_rows(data)[1] if p == "site.name")
    assert sheet[name_cell].value == REGISTRY.sites[code].name
    defn = load_form("work-report")
    filled = tmp_path / "filled.xlsx"
    filled.write_bytes(fill_template(data, defn, _report(code)))
    filed = nianbao(system, "submit", str(filled), token=tokens[code])
    assert filed.exit_code == 0, filed.output
    assert "accepted" in filed.output


def test_a_rejected_workbook_names_the_cells_of_its_errors(
    system: System, tokens: dict[str, str], tmp_path: Path
) -> None:
    code = "1101020002"
    report = _report(code, **{"traffic.unique_visitors": 10**9, "traffic.page_views": 10})
    file = _write_xlsx(tmp_path / "wrong.xlsx", report)
    cells = {p: ref for _k, p, ref, _e in meta_rows(file.read_bytes())[1]}
    filed = nianbao(system, "submit", str(file), token=tokens[code])
    assert filed.exit_code == 1, filed.output
    assert "wr.uv_le_pv" in filed.output
    assert f"政府网站工作年度报表!{cells['traffic.unique_visitors']}" in filed.output
    assert "traffic.unique_visitors" in filed.output


def test_a_workbook_refused_at_the_edge_names_cell_and_field(
    system: System, tokens: dict[str, str], tmp_path: Path
) -> None:
    code = "1101020002"
    file = _write_xlsx(tmp_path / "bad.xlsx", _report(code))
    book = load_workbook(file)
    cells = {p: ref for _k, p, ref, _e in meta_rows(file.read_bytes())[1]}
    book.worksheets[0][cells["services.items_total"]] = "两千"
    book.save(file)
    filed = nianbao(system, "submit", str(file), token=tokens[code])
    assert filed.exit_code == 1
    assert "HTTP 422" in filed.output
    assert f"!{cells['services.items_total']}" in filed.output
    assert "services.items_total" in filed.output


def test_bulk_load_with_one_bad_file_exits_1_with_a_summary(
    system: System, tokens: dict[str, str], tmp_path: Path
) -> None:
    folder = tmp_path / "reports"
    folder.mkdir()
    codes = ["1101050001", "1101050002", "1101060001"]
    for code in codes:
        _write_json(folder / f"{code}.json", _report(code))
    _write_xlsx(folder / "1101060002.xlsx", _report("1101060002"))
    (folder / "broken.json").write_text('{"form": "work-report", ', encoding="utf-8")
    token_file = Path(system.data_dir) / "demo-tokens.json"
    result = nianbao(system, "bulk", str(folder), "--tokens", str(token_file))
    assert result.exit_code == 1, result.output
    assert "5 files" in result.output
    assert "4 accepted" in result.output and "1 error" in result.output
    assert "not valid JSON" in result.output
    assert "broken.json" in result.output and "1101060002.xlsx" in result.output
    rows = json.loads(
        nianbao(system, "bulk", str(folder), "--tokens", str(token_file), "--json").stdout
    )
    outcomes = {Path(r["file"]).name: r["outcome"] for r in rows}
    assert outcomes["broken.json"] == "error"
    assert {outcomes[f"{c}.json"] for c in codes} == {"accepted"}


def test_registry_export_and_import_with_a_dry_run(
    system: System, tokens: dict[str, str], tmp_path: Path
) -> None:
    operator = tokens["operator"]
    exported = tmp_path / "registry.json"
    result = nianbao(system, "registry", "export", str(exported), token=operator)
    assert result.exit_code == 0, result.output
    body = json.loads(exported.read_text(encoding="utf-8"))
    assert len(body["sites"]) == len(REGISTRY.sites)
    renamed = next(s for s in body["sites"] if s["code"] == "1101010001")
    renamed["name"] = "东城区人民政府（新）"
    added = {**renamed, "code": "1101019999", "name": "新开网站", "active_from": YEAR}
    body["sites"].append(added)
    changed = tmp_path / "changed.json"
    changed.write_text(json.dumps(body, ensure_ascii=False), encoding="utf-8")
    stored = Path(system.data_dir) / "registry.json"

    dry = nianbao(system, "registry", "import", str(changed), "--dry-run", token=operator)
    assert dry.exit_code == 0, dry.output
    assert "1101019999" in dry.output and "added" in dry.output
    assert "东城区人民政府（新）" in dry.output and "changed" in dry.output
    assert "dry run" in dry.output
    assert not stored.exists()

    refused = nianbao(system, "registry", "import", str(changed), token=tokens["1101010001"])
    assert refused.exit_code == 1 and "403" in refused.output

    done = nianbao(system, "registry", "import", str(changed), token=operator)
    assert done.exit_code == 0, done.output
    assert "recomputed" in done.output and "restart" not in done.output
    assert stored.exists()
    again = tmp_path / "again.json"
    assert nianbao(system, "registry", "export", str(again), token=operator).exit_code == 0
    codes = {s["code"] for s in json.loads(again.read_text(encoding="utf-8"))["sites"]}
    assert "1101019999" in codes
    unchanged = nianbao(system, "registry", "import", str(again), token=operator)
    assert "unchanged" in unchanged.output


def test_an_inconsistent_registry_is_not_sent(
    system: System, tokens: dict[str, str], tmp_path: Path
) -> None:
    body = {"nodes": [], "sites": [json.loads(REGISTRY.sites["1101010001"].model_dump_json())]}
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(body), encoding="utf-8")
    result = nianbao(system, "registry", "import", str(bad), token=tokens["operator"])
    assert result.exit_code == 1
    assert "unknown node" in result.output

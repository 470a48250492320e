"""Publication through the whole system: a site declares where it published, the verifier
process checks it (here every host resolves to a documentation address, refused as private:
no request leaves the machine), the aggregator counts it and the pages show it."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner, Result

from shared.registry.demo import demo_registry
from tests.support.reports import work_report_for
from tests.support.system import system_fixture, tokens_of
from tests.support.waiting import wait_until
from tools.cli import app
from tools.launcher import System

pytestmark = pytest.mark.e2e

SITE, COUNTY, CITY, YEAR = "5109030001", "510903", "510900", 2026
publication_system = system_fixture(
    scope="module",
    name="publication_system",
    data_dir="publication",
    env={"NIANBAO_VERIFIER_RESOLVE": json.dumps({"*": "192.0.2.1"})},
)


def test_a_declaration_is_checked_counted_and_shown(publication_system: System) -> None:
    system = publication_system
    tokens = tokens_of(system)
    url = "https://www.510903.gov.cn/nb/2026.html"

    def call(method: str, path: str, who: str, **kw: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {tokens[who]}"}
        return httpx.request(method, system.intake_url + path, headers=headers, timeout=30, **kw)

    declared = call("PUT", f"/v1/publications/{SITE}/{YEAR}/report", SITE, json={"url": url})
    assert declared.status_code == 201, declared.text
    filing = call("GET", f"/v1/filings/{SITE}/work-report/{YEAR}", SITE).json()
    assert [d["url"] for d in filing["declarations"]] == [url]
    evidence_url = f"{system.health_url('verifier')}/v1/evidence/{SITE}/{YEAR}"

    def checked() -> dict[str, Any] | None:
        body = httpx.get(evidence_url, timeout=5).json()
        return body if body["checks"] else None

    evidence = wait_until(checked, timeout=60)
    check = evidence["checks"][0]
    assert check["state"] == "unreachable" and check["url"] == url
    assert check["fetches"][0]["error"] == "refused_address"

    def counted() -> dict[str, int] | None:
        path = system.data_dir / "pages" / "rollups" / str(YEAR) / COUNTY / "rollup.json"
        if not path.exists():
            return None
        counts: dict[str, int] = json.loads(path.read_text(encoding="utf-8"))["publication"]
        return counts if counts.get("unreachable") == 1 else None

    counts = wait_until(counted, timeout=60)
    assert counts["declared"] == 1 and counts["verified"] == 0
    pages = system.data_dir / "pages"
    county = json.loads((pages / "rollups" / str(YEAR) / COUNTY / "rollup.json").read_text("utf-8"))
    assert [s["code"] for s in county["publication_sites"]["unreachable"]] == [SITE]
    site_page = pages / "sites" / str(YEAR) / SITE / "index.html"

    def site_shows(label: str) -> str | None:
        html = site_page.read_text(encoding="utf-8") if site_page.exists() else ""
        return html if label in html else None

    html = wait_until(lambda: site_shows("无法访问"), timeout=60)
    assert url in html and "核验发现" in html
    started = call("POST", f"/v1/publications/{CITY}/{YEAR}/recheck", CITY)
    assert started.status_code in (202, 409), started.text
    judged = call(
        "POST",
        f"/v1/publications/{SITE}/{YEAR}/judgement",
        CITY,
        json={"verdict": "verified", "reason": "内网部署，人工核验首页链接"},
    )
    assert judged.status_code == 201, judged.text

    def judged_counted() -> dict[str, int] | None:
        path = system.data_dir / "pages" / "rollups" / str(YEAR) / CITY / "rollup.json"
        counts: dict[str, int] = json.loads(path.read_text(encoding="utf-8"))["publication"]
        return counts if counts.get("verified") == 1 else None

    counts = wait_until(judged_counted, timeout=60)
    assert counts["verified_on_time"] == 1 and counts["unreachable"] == 0
    html = wait_until(lambda: site_shows("监管单位确认已公开"), timeout=60)
    assert "内网部署，人工核验首页链接" in html and "按时公开" in html
    # the site's receipts show where it declared the report published
    report = work_report_for(demo_registry().sites[SITE], YEAR)
    filed = call("POST", "/v1/reports", SITE, json=report)
    assert filed.status_code == 202, filed.text
    receipt = call("GET", f"/v1/receipts/{filed.json()['receipt_id']}", SITE).json()
    assert [(d["kind"], d["url"]) for d in receipt["declarations"]] == [("report", url)]


def test_the_client_commands_declare_list_judge_recheck_and_read_evidence(
    publication_system: System,
) -> None:
    """`nianbao declare / publications / judge / recheck / evidence` against the same system:
    an office declares its catalogue entry and 专栏, a site its report; the site's office
    judges it; the evidence of the verifier's check is read back."""
    system = publication_system
    tokens = tokens_of(system)
    runner = CliRunner()

    def nianbao(*args: str, token: str | None = None) -> Result:
        env = {"NIANBAO_URL": system.intake_url, "NIANBAO_TOKEN": token, "COLUMNS": "250"}
        return runner.invoke(app, list(args), env=env)

    site, province = "5109040001", "510000"
    report_url = "https://www.510904.gov.cn/nb/2026.html"
    declared = nianbao("declare", site, str(YEAR), report_url, token=tokens[site])
    assert declared.exit_code == 0, declared.output
    assert f"declared report {site} {YEAR}: {report_url}" in declared.output
    for kind, url in (
        ("catalogue", "https://www.sc.gov.cn/zwgk/jgnb/2026.html"),
        ("column", "https://www.sc.gov.cn/ndbb/2026/"),
    ):
        made = nianbao("declare", province, str(YEAR), url, "--kind", kind, token=tokens[province])
        assert made.exit_code == 0, made.output
    # a site may not declare for another, nor a URL that is not http(s)
    other = nianbao("declare", SITE, str(YEAR), report_url, token=tokens[site])
    assert other.exit_code == 1
    bad = nianbao("declare", site, str(YEAR), "ftp://x.example/nb", token=tokens[site])
    assert bad.exit_code == 1
    listed = nianbao("publications", province, str(YEAR), "--json", token=tokens[province])
    assert listed.exit_code == 0, listed.output
    kinds = [d["kind"] for d in json.loads(listed.output)["declarations"]]
    assert kinds == ["catalogue", "column"]

    judged = nianbao(
        "judge",
        site,
        str(YEAR),
        "--verdict",
        "not_published",
        "--reason",
        "首页未见链接",
        token=tokens[CITY],
    )
    assert judged.exit_code == 0, judged.output
    assert f"judged {site} not_published" in judged.output
    refused = nianbao(
        "judge", site, str(YEAR), "--verdict", "verified", "--reason", "x", token=tokens[site]
    )
    assert refused.exit_code == 1
    history = nianbao("publications", site, str(YEAR), token=tokens[CITY])
    assert report_url in history.output and "judged not_published by 510900" in history.output

    recheck = nianbao("recheck", CITY, str(YEAR), token=tokens[CITY])
    # started, or refused while an earlier re-check of the subtree still runs (409)
    assert recheck.exit_code in (0, 1), recheck.output
    assert "re-check of 510900 started" in recheck.output or "recheck_running" in recheck.output
    not_mine = nianbao("recheck", "510100", str(YEAR), token=tokens[CITY])
    assert not_mine.exit_code == 1

    verifier = system.health_url("verifier")

    def evidence() -> Result | None:
        read = runner.invoke(
            app, ["evidence", site, str(YEAR), "--verifier-url", verifier, "--json"]
        )
        body = json.loads(read.output) if read.exit_code == 0 else {}
        return read if body.get("checks") else None

    read = wait_until(evidence, timeout=60)
    check = json.loads(read.output)["checks"][0]
    assert check["url"] == report_url and check["state"] == "unreachable"
    text = runner.invoke(app, ["evidence", site, str(YEAR), "--verifier-url", verifier])
    assert f"unreachable      {report_url}" in text.output
    assert "GET " + report_url in text.output

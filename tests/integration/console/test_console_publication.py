"""The console shows the publication history (issue 17): on a site's receipt screen and on the
filing screen, every URL declared (newest first, the one in force marked) and every judgement of
an office above (who, when, why), as the API's filing view lists them."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from services.intake.console.formview import flat_values
from shared.access import Caller
from shared.filings import current_reporting_year
from shared.forms import load_form
from shared.registry.demo import demo_registry
from tests.support.console import ConsoleRig, console_rig, sign_in
from tests.support.reports import work_report_for

SITE, OTHER_SITE, CITY = "5109030001", "5109040001", "510900"
YEAR = current_reporting_year(datetime.now(UTC))
REGISTRY = demo_registry()
FIRST = "https://www.510903.gov.cn/ndbb/first.html"
SECOND = "https://www.510903.gov.cn/ndbb/2026.html"


@pytest.fixture
async def rig(tmp_path: Path, database_url: str) -> AsyncIterator[ConsoleRig]:
    async with console_rig(tmp_path, database_url) as made:
        yield made


async def file_on_screen(client: httpx.AsyncClient, csrf: str) -> httpx.Response:
    values = flat_values(load_form("work-report"), work_report_for(REGISTRY.sites[SITE], YEAR))
    data = {**values, "csrf": csrf, "intent": "file"}
    return await client.post(f"/console/file/work-report/{YEAR}", data=data)


def section(html: str) -> str:
    start = html.index("<h2>公开声明与认定记录</h2>")
    return html[start:]


async def test_the_receipt_and_filing_screens_show_declarations_and_judgements(
    rig: ConsoleRig,
) -> None:
    site = Caller(kind="site", code=SITE)
    await rig.declarations.declare(site, "report", SITE, YEAR, FIRST)
    await rig.declarations.declare(site, "report", SITE, YEAR, SECOND)
    office = Caller(kind="office", code=CITY)
    reason = "首页<b>底部</b>链接，人工核验可见"
    await rig.declarations.judge(office, SITE, YEAR, "verified", reason)
    assert [d.url for d in rig.published.declared] == [FIRST, SECOND]

    async with rig.client() as client:
        csrf = await sign_in(client, SITE)
        filed = await file_on_screen(client, csrf)
        assert filed.status_code == 303, filed.text
        receipt = (await client.get(filed.headers["location"])).text
    shown = section(receipt)
    # newest first; the second URL is the one in force, the first stays in the history
    assert shown.index(SECOND) < shown.index(FIRST)
    rows = re.findall(
        r"<tr><td>[^<]+</td><td>工作年度报表( <span class=\"tag ok\">现行</span>)?", shown
    )
    assert rows == [' <span class="tag ok">现行</span>', ""]
    assert f"<td>{REGISTRY.sites[SITE].name}</td>" in shown  # who declared, by name
    assert f"<td>{REGISTRY.nodes[CITY].name}</td><td>确认已公开</td>" in shown
    assert "首页&lt;b&gt;底部&lt;/b&gt;链接" in shown and "<b>底部</b>" not in shown

    async with rig.client() as client:
        await sign_in(client, CITY)
        filing = (await client.get(f"/console/filings/{SITE}/work-report/{YEAR}")).text
    shown = section(filing)
    assert FIRST in shown and SECOND in shown and "确认已公开" in shown


async def test_a_site_that_declared_nothing_is_told_how_to(rig: ConsoleRig) -> None:
    async with rig.client() as client:
        csrf = await sign_in(client, SITE)
        filed = await file_on_screen(client, csrf)
        receipt = (await client.get(filed.headers["location"])).text
    shown = section(receipt)
    assert "尚未声明公开网址" in shown and "nianbao declare" in shown
    assert "认定时间" not in shown

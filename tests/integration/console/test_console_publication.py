"""The console shows the publication duty (issue 17): on a site's receipt screen and on the
filing screen, every URL declared (newest first, the one in force marked) and every judgement of
an office above (who, when, why), as the API's filing view lists them; on an office's home, the
sites each reminder names as not yet verified published."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from services.intake.console.formview import flat_values
from shared.access import Caller
from shared.contracts import ReminderDue, SiteOverdue, SiteUnpublished
from shared.filings import current_reporting_year
from shared.forms import load_form
from shared.registry.demo import demo_registry
from shared.runtime.messaging import Envelope
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


async def test_a_reminder_names_the_sites_not_yet_verified_published(rig: ConsoleRig) -> None:
    now = datetime.now(UTC)

    def reminder(unpublished: list[SiteUnpublished], overdue: bool = True) -> Envelope[ReminderDue]:
        event = ReminderDue(
            year=YEAR,
            tree="admin",
            node=CITY,
            path=["CN", "510000", CITY],
            threshold_days=1,
            deadline=now,
            sites=[SiteOverdue(code=OTHER_SITE, name="遂宁市安居区人民政府", status="missing")]
            if overdue
            else [],
            unpublished=unpublished,
            at=now,
        )
        return Envelope(None, event)  # type: ignore[arg-type]

    named = [
        SiteUnpublished(code=SITE, name="遂宁市船山区人民政府", state="not_linked"),
        SiteUnpublished(code="5109000001", name="遂宁市人民政府", state="undeclared"),
    ]
    await rig.console.queries.on_reminders([reminder(named)])
    async with rig.client() as office:
        await sign_in(office, CITY)
        home = (await office.get("/console/home")).text
    assert "2 个网站已报送、尚未核验通过在本网站首页公开" in home
    assert "遂宁市船山区人民政府（首页未链接）、遂宁市人民政府（未声明）" in home
    # a redelivery that names none replaces the list: nothing is left over
    await rig.console.queries.on_reminders([reminder([])])
    [line] = await rig.console.queries.reminders(CITY)
    assert line.unpublished == [] and [s["code"] for s in line.sites] == [OTHER_SITE]
    # every site filed, some not yet published: the reminder speaks only of publication
    await rig.console.queries.on_reminders([reminder(named, overdue=False)])
    async with rig.client() as office:
        await sign_in(office, CITY)
        home = (await office.get("/console/home")).text
    assert "2 个网站已报送、尚未核验通过在本网站首页公开" in home
    assert "个网站尚未报送、未通过校验或被退回" not in home

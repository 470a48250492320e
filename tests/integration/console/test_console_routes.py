"""The console's routes without a browser, on a real token store and database: sign-in, session
and CSRF rules, the form on screen judged as the validator judges, drafts, uploads, the office's
queue and review actions through the API's use cases, and what each caller may not see or do."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.intake.console.formview import flat_values
from services.intake.console.sessions import THROTTLE_FAILURES
from shared.contracts import ReminderDue, SiteOverdue
from shared.filings import current_reporting_year
from shared.forms import load_form
from shared.registry.demo import demo_registry
from shared.runtime.messaging import Envelope
from tests.support.console import HOLDERS, ConsoleRig, console_rig, csrf_of, sign_in
from tests.support.reports import DATA, work_report_for

SITE, OTHER_SITE = "5109030001", "5109040001"
CITY, OTHER_CITY, PROVINCE = "510900", "510100", "510000"
YEAR = current_reporting_year(datetime.now(UTC))
REGISTRY = demo_registry()


@pytest.fixture
async def rig(tmp_path: Path, database_url: str) -> AsyncIterator[ConsoleRig]:
    """The console on PostgreSQL when NIANBAO_TEST_POSTGRES_URL is set, else SQLite."""
    async with console_rig(tmp_path, database_url) as made:
        yield made


def fields_of(report: dict[str, Any], **changes: str) -> dict[str, Any]:
    """The form's inputs filled with a report, some changed."""
    values = flat_values(load_form("work-report"), report)
    values.update(changes)
    return {k: v for k, v in values.items()}


def clean(site: str = SITE) -> dict[str, Any]:
    return work_report_for(REGISTRY.sites[site], YEAR)


async def file_on_screen(
    client: httpx.AsyncClient, csrf: str, intent: str = "file", **changes: str
) -> httpx.Response:
    data = {**fields_of(clean(), **changes), "csrf": csrf, "intent": intent}
    return await client.post(f"/console/file/work-report/{YEAR}", data=data)


async def test_sign_in_sets_a_strict_http_only_cookie_and_rotates_the_session(
    rig: ConsoleRig,
) -> None:
    async with rig.client() as client:
        page = await client.get("/console/sign-in")
        planted = client.cookies["nianbao_console"]
        assert 'type="password"' in page.text
        policy = page.headers["content-security-policy"]
        assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy
        assert page.headers["cache-control"] == "no-store"
        response = await client.post(
            "/console/sign-in", data={"csrf": csrf_of(page.text), "token": HOLDERS[SITE][0]}
        )
        assert response.status_code == 303
        assert HOLDERS[SITE][0] not in response.headers["location"]
        cookie = response.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie and "max-age=" in cookie
        assert "secure" not in cookie  # plain http here; see the https test
        signed = client.cookies["nianbao_console"]
        assert signed != planted
    # the id planted before sign-in (session fixation) is worth nothing now
    async with rig.client() as attacker:
        attacker.cookies.set("nianbao_console", planted)
        assert (await attacker.get("/console/home")).status_code == 303
    async with rig.client() as same:
        same.cookies.set("nianbao_console", signed)
        assert (await same.get("/console/home")).status_code == 200


async def test_the_cookie_is_secure_over_https(rig: ConsoleRig) -> None:
    async with rig.client("https://test") as client:
        await client.get("/console/sign-in")
        page = await client.get("/console/sign-in")
        response = await client.post(
            "/console/sign-in", data={"csrf": csrf_of(page.text), "token": HOLDERS[SITE][0]}
        )
        assert "secure" in response.headers["set-cookie"].lower()


async def test_sign_out_ends_the_session_on_the_server(rig: ConsoleRig) -> None:
    async with rig.client() as client:
        csrf = await sign_in(client, SITE)
        sid = client.cookies["nianbao_console"]
        assert (await client.post("/console/sign-out", data={"csrf": "wrong"})).status_code == 403
        assert (await client.post("/console/sign-out", data={"csrf": csrf})).status_code == 303
    async with rig.client() as replay:
        replay.cookies.set("nianbao_console", sid)
        response = await replay.get("/console/home")
        assert (response.status_code, response.headers["location"]) == (303, "/console/sign-in")


async def test_five_failed_sign_ins_slow_the_address_down(rig: ConsoleRig) -> None:
    async with rig.client() as client:
        csrf = csrf_of((await client.get("/console/sign-in")).text)
        for _ in range(THROTTLE_FAILURES):
            wrong = await client.post("/console/sign-in", data={"csrf": csrf, "token": "nb_x"})
            assert wrong.status_code == 401
            assert "访问令牌无效或已过期" in wrong.text
        right = await client.post(
            "/console/sign-in", data={"csrf": csrf, "token": HOLDERS[SITE][0]}
        )
        assert right.status_code == 429
        assert 0 < int(right.headers["retry-after"]) <= 61
        assert "登录失败次数过多" in right.text


async def test_posts_without_the_session_csrf_token_are_refused(rig: ConsoleRig) -> None:
    async with rig.client() as client:
        # sign-in itself: a post not made from the page (no session, or no token) is refused
        bare = await client.post("/console/sign-in", data={"token": HOLDERS[SITE][0]})
        assert bare.status_code == 403
        csrf = await sign_in(client, SITE)
        for forged in ("", "x" * 43):
            response = await file_on_screen(client, forged)
            assert response.status_code == 403
            assert "表单已过期或来源不明" in response.text
        assert rig.published.submitted == []
        assert (await file_on_screen(client, csrf)).status_code == 303


async def test_the_form_on_screen_shows_each_issue_at_its_field_then_files(
    rig: ConsoleRig, caplog: pytest.LogCaptureFixture
) -> None:
    async with rig.client() as client:
        csrf = await sign_in(client, SITE)
        form = await client.get(f"/console/file/work-report/{YEAR}")
        assert 'value="遂宁市船山区人民政府"' in form.text  # prefilled from the registry
        # a rule of the form (the validator's), then a field the wire model requires
        mistake = await file_on_screen(client, csrf, **{"traffic.unique_visitors": "999999999999"})
        assert mistake.status_code == 422
        assert re.search(
            r'id="f-traffic-unique_visitors-issues"><p class="issue error">错误：独立用户访问总量',
            mistake.text,
        )
        assert 'href="#f-traffic-unique_visitors"' in mistake.text
        missing = await file_on_screen(client, csrf, **{"signoff.filler": ""})
        assert missing.status_code == 422
        assert re.search(
            r'id="f-signoff-filler-issues"><p class="issue error">错误：填报人', missing.text
        )
        assert 'aria-invalid="true"' in missing.text
        assert rig.published.submitted == []
        with caplog.at_level(logging.INFO, logger="services.intake.console.site_routes"):
            filed = await file_on_screen(client, csrf)
        assert filed.status_code == 303
        [event] = rig.published.submitted
        assert filed.headers["location"] == f"/console/receipts/{event.receipt_id}"
        assert event.report == clean() | {"new_media": event.report["new_media"]}
        assert any(
            r.getMessage() == "filed" and getattr(r, "receipt_id", "") == event.receipt_id
            for r in caplog.records
        )
        receipt = await client.get(filed.headers["location"])
        assert "已提交，校验中" in receipt.text and event.receipt_id in receipt.text
        await rig.judge(event.receipt_id)
        stage = await client.get(f"/console/receipts/{event.receipt_id}/stage")
        assert stage.json() == {"stage": "accepted", "final": False}


async def test_a_draft_is_saved_and_resumed(rig: ConsoleRig) -> None:
    async with rig.client() as client:
        csrf = await sign_in(client, SITE)
        saved = await file_on_screen(client, csrf, "save", **{"traffic.page_views": "12abc"})
        assert saved.status_code == 303
        assert rig.published.submitted == []
    async with rig.client() as later:
        await sign_in(later, SITE)
        page = (await later.get(f"/console/file/work-report/{YEAR}")).text
        assert 'value="12abc"' in page and "正在继续填写" in page


async def test_an_upload_files_the_same_way_with_cells_named(rig: ConsoleRig) -> None:
    async with rig.client() as client:
        csrf = await sign_in(client, SITE)
        template = await client.get(f"/console/template/work-report/{YEAR}")
        assert template.status_code == 200 and template.content[:2] == b"PK"
        bad = await client.post(
            f"/console/upload/work-report/{YEAR}",
            data={"csrf": csrf},
            files={"report": ("t.xlsx", template.content, "application/octet-stream")},
        )
        assert bad.status_code == 422
        # each issue beside its field on the form, naming the cell of the uploaded workbook
        assert re.search(
            r'id="f-traffic-page_views-issues"><p class="issue error">错误：网站总访问量（次）：'
            r"缺少必填字段（单元格 政府网站工作年度报表!C\d+）",
            bad.text,
        )
        wrong = clean()
        wrong["traffic"]["unique_visitors"] = wrong["traffic"]["page_views"] + 1
        refused = await client.post(
            f"/console/upload/work-report/{YEAR}",
            data={"csrf": csrf},
            files={"report": ("r.json", json.dumps(wrong).encode(), "application/json")},
        )
        assert refused.status_code == 422
        assert re.search(
            r'id="f-traffic-unique_visitors-issues"><p class="issue error">错误：独立用户访问总量',
            refused.text,
        )
        assert rig.published.submitted == []
        filed = await client.post(
            f"/console/upload/work-report/{YEAR}",
            data={"csrf": csrf},
            files={"report": ("r.json", json.dumps(clean()).encode(), "application/json")},
        )
        assert filed.status_code == 303
        [event] = rig.published.submitted
        assert filed.headers["location"] == f"/console/receipts/{event.receipt_id}"
        other = await client.post(
            f"/console/upload/work-report/{YEAR}",
            data={"csrf": csrf},
            files={"report": ("r.json", json.dumps(clean(OTHER_SITE)).encode(), "text/plain")},
        )
        assert other.status_code == 403 and "无权报送" in other.text  # the API's own refusal
        assert len(rig.published.submitted) == 1


async def test_sites_and_offices_see_and_act_only_within_their_reach(rig: ConsoleRig) -> None:
    async with rig.client() as site:
        csrf = await sign_in(site, SITE)
        await file_on_screen(site, csrf)
    [event] = rig.published.submitted
    await rig.judge(event.receipt_id)
    filing = f"/console/filings/{SITE}/work-report/{YEAR}"
    async with rig.client() as other_site:
        other_csrf = await sign_in(other_site, OTHER_SITE)
        assert (await other_site.get(filing)).status_code == 404
        assert (await other_site.get(f"/console/receipts/{event.receipt_id}")).status_code == 404
        forged = await other_site.post(
            f"{filing}/approve",
            data={"csrf": other_csrf, "confirm": "yes", "receipt_id": event.receipt_id},
        )
        assert forged.status_code == 404
        assert (await other_site.get("/console/queue")).status_code == 403
    async with rig.client() as chengdu:
        chengdu_csrf = await sign_in(chengdu, OTHER_CITY)
        assert (await chengdu.get(filing)).status_code == 404
        assert (await chengdu.get(f"/console/queue?node={CITY}")).status_code == 404
        forged = await chengdu.post(
            f"{filing}/return",
            data={
                "csrf": chengdu_csrf,
                "confirm": "yes",
                "receipt_id": event.receipt_id,
                "reason": "x",
            },
        )
        assert forged.status_code == 404
    async with rig.client() as own_site:
        await sign_in(own_site, SITE)
        page = (await own_site.get(filing)).text
        assert "审核操作" not in page  # a site is offered no review action
    assert rig.published.reviews == []


async def test_the_office_queue_counts_filters_and_reviews(rig: ConsoleRig) -> None:
    async with rig.client() as site:
        csrf = await sign_in(site, SITE)
        await file_on_screen(site, csrf)
    [event] = rig.published.submitted
    await rig.judge(event.receipt_id)
    async with rig.client() as office:
        csrf = await sign_in(office, CITY)
        queue = (await office.get(f"/console/queue?year={YEAR}")).text
        expected = len(REGISTRY.sites_under(CITY, YEAR))
        assert f"共 {expected} 个网站" in queue
        assert "未报 " + str(expected - 1) in queue and "已通过待审核 1" in queue
        pending = (await office.get(f"/console/queue?year={YEAR}&status=pending")).text
        assert "遂宁市船山区人民政府" in pending and "遂宁市安居区人民政府" not in pending
        filing = f"/console/filings/{SITE}/work-report/{YEAR}"
        page = (await office.get(filing)).text
        assert "退回" in page and "审核通过并锁定" in page
        reason = "网站总访问量与统计系统不符"
        # a NUL in the reason is dropped, not sent to the database (PostgreSQL refuses it)
        unconfirmed = await office.post(
            f"{filing}/return",
            data={"csrf": csrf, "receipt_id": event.receipt_id, "reason": reason},
        )
        assert unconfirmed.status_code == 422 and rig.published.reviews == []
        returned = await office.post(
            f"{filing}/return",
            data={
                "csrf": csrf,
                "confirm": "yes",
                "receipt_id": event.receipt_id,
                "reason": reason[:4] + "\x00" + reason[4:],
                "paths": ["traffic.page_views"],
            },
        )
        assert returned.status_code == 303
        [review] = rig.published.reviews
        assert (review.action, review.office, review.reason) == ("return", CITY, reason)
        assert review.paths == ["traffic.page_views"]
        returned_queue = (await office.get(f"/console/queue?year={YEAR}&status=returned")).text
        assert reason in returned_queue
    async with rig.client() as site:
        await sign_in(site, SITE)
        home = (await site.get("/console/home")).text
        assert reason in home
        form = (await site.get(f"/console/file/work-report/{YEAR}")).text
        assert re.search(
            r'id="f-traffic-page_views-issues"><p class="issue warning">提示：审核单位退回', form
        )


async def test_approval_locks_and_only_the_approver_or_above_unlocks(rig: ConsoleRig) -> None:
    async with rig.client() as site:
        site_csrf = await sign_in(site, SITE)
        await file_on_screen(site, site_csrf)
        [event] = rig.published.submitted
        await rig.judge(event.receipt_id)
        filing = f"/console/filings/{SITE}/work-report/{YEAR}"
        async with rig.client() as office:
            csrf = await sign_in(office, PROVINCE)
            approved = await office.post(
                f"{filing}/approve",
                data={"csrf": csrf, "confirm": "yes", "receipt_id": event.receipt_id},
            )
            assert approved.status_code == 303
        locked = await file_on_screen(site, site_csrf, **{"traffic.page_views": "200000000"})
        assert locked.status_code == 409 and "审核锁定" in locked.text
        async with rig.client() as city:
            city_csrf = await sign_in(city, CITY)
            page = (await city.get(filing)).text
            assert "解除锁定" not in page.split("<h2>审核记录</h2>")[0]
            forged = await city.post(f"{filing}/unlock", data={"csrf": city_csrf, "confirm": "yes"})
            assert forged.status_code == 403
        assert [r.action for r in rig.published.reviews] == ["approve"]


async def test_an_office_sees_the_reminders_sent_to_its_node(rig: ConsoleRig) -> None:
    now = datetime.now(UTC)
    sent = ReminderDue(
        year=YEAR,
        tree="admin",
        node=CITY,
        path=["CN", PROVINCE, CITY],
        threshold_days=3,
        deadline=now,
        sites=[SiteOverdue(code=OTHER_SITE, name="遂宁市安居区人民政府", status="missing")],
        at=now,
    )
    envelope = Envelope(None, sent)  # type: ignore[arg-type]
    await rig.console.queries.on_reminders([envelope, envelope])  # a redelivery: kept once
    async with rig.client() as office:
        await sign_in(office, CITY)
        home = (await office.get("/console/home")).text
        assert home.count("还有 3 天") == 1 and "遂宁市安居区人民政府" in home
    async with rig.client() as chengdu:
        await sign_in(chengdu, OTHER_CITY)
        assert "暂无提醒" in (await chengdu.get("/console/home")).text


async def test_hostile_posts_get_a_page_naming_the_problem_and_change_nothing(
    rig: ConsoleRig,
) -> None:
    async with rig.client() as client:
        csrf = await sign_in(client, SITE)
        url = f"/console/file/work-report/{YEAR}"
        too_big = await client.post(url, content=b"csrf=" + b"x" * (300 * 1024))
        assert too_big.status_code == 413 and "上限" in too_big.text
        garbage = await client.post(
            url,
            content=b"--zz\r\nnot a part",
            headers={"content-type": "multipart/form-data; boundary=zz"},
        )
        assert garbage.status_code in (400, 403)
        nul = await file_on_screen(
            client, csrf, "save", **{"site.name": "船山\x00区", "traffic.page_views": "\x00"}
        )
        assert nul.status_code == 303  # kept without the NUL (PostgreSQL refuses it in JSON)
        page = (await client.get(url)).text
        assert 'value="船山区"' in page
        odd = await file_on_screen(
            client, csrf, **{"traffic.page_views": "1e309", "innovation.features": "nonsense"}
        )
        assert odd.status_code == 422
        assert "网站总访问量（次）：应为非负整数" in odd.text and "创新发展" in odd.text
        missing = await client.get("/console/no-such-page")
        assert missing.status_code == 404 and "页面不存在" in missing.text
        for query in ("?year=abc", "?status=nonsense", "?page=0", "?node=../x"):
            async with rig.client() as office:
                await sign_in(office, CITY)
                response = await office.get(f"/console/queue{query}")
                assert response.status_code in (404, 422), query
                assert "<!DOCTYPE html>" in response.text
    assert rig.published.submitted == []


async def test_a_province_files_its_supervision_report_and_sets_its_deadline(
    rig: ConsoleRig,
) -> None:
    report = json.loads((DATA / "supervision-report" / "clean.json").read_text(encoding="utf-8"))
    report["office"] = {"name": "四川省人民政府办公厅", "kind": "province", "code": PROVINCE}
    values = flat_values(load_form("supervision-report"), report)
    async with rig.client() as province:
        csrf = await sign_in(province, PROVINCE)
        home = (await province.get("/console/home")).text
        assert "政府网站监管年度报表" in home and "设定内部截止时间" in home
        form = (await province.get(f"/console/file/supervision-report/{YEAR}")).text
        assert 'value="四川省人民政府办公厅"' in form  # the header prefilled from the registry
        assert "第一季度" in form and 'name="spot_checks.q1.sampled"' in form
        filed = await province.post(
            f"/console/file/supervision-report/{YEAR}",
            data={**values, "csrf": csrf, "intent": "file"},
        )
        assert filed.status_code == 303, filed.text
        [event] = rig.published.submitted
        assert (event.form, event.code, event.year) == ("supervision-report", PROVINCE, YEAR)
        late = await province.post(
            "/console/deadline",
            data={"csrf": csrf, "year": str(YEAR), "date": f"{YEAR + 1}-02-15", "confirm": "yes"},
        )
        assert late.status_code == 422 and "不得晚于全国截止时间" in late.text
        unconfirmed = await province.post(
            "/console/deadline", data={"csrf": csrf, "year": str(YEAR), "date": f"{YEAR + 1}-01-20"}
        )
        assert unconfirmed.status_code == 422 and rig.published.deadlines == []
        done = await province.post(
            "/console/deadline",
            data={"csrf": csrf, "year": str(YEAR), "date": f"{YEAR + 1}-01-20", "confirm": "yes"},
        )
        assert done.status_code == 303
        [deadline] = rig.published.deadlines
        assert (deadline.node, deadline.set_by) == (PROVINCE, PROVINCE)
        assert deadline.deadline.isoformat() == f"{YEAR + 1}-01-20T23:59:59+08:00"
    async with rig.client() as city:
        csrf = await sign_in(city, CITY)
        assert "设定内部截止时间" not in (await city.get("/console/home")).text
        forged = await city.post(
            "/console/deadline",
            data={"csrf": csrf, "year": str(YEAR), "date": f"{YEAR + 1}-01-10", "confirm": "yes"},
        )
        assert forged.status_code == 403
        refused = await city.get(f"/console/file/supervision-report/{YEAR}")
        assert refused.status_code == 403
    assert len(rig.published.deadlines) == 1

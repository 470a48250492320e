"""Publication declarations at the intake: who may declare what, URLs validated, history kept,
each declaration and judgement stored with its event in the intake's outbox (a 2xx means the
event will be published, whenever the stream acknowledges), judgements audited, re-checks refused
while one runs (on SQLite, and PostgreSQL when NIANBAO_TEST_POSTGRES_URL is set)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from services.intake.app import create_app
from services.intake.declarations import Declarations, DeclarationStore
from services.intake.declarations_api import build_declarations_router
from services.intake.filing import Intake
from services.intake.outbox import Outbox
from services.intake.store import IntakeStore
from shared.contracts import ReportSubmitted
from shared.publication import PublicationDeclared, PublicationJudged
from shared.registry.demo import demo_registry
from shared.runtime.db import make_engine
from tests.support.waiting import eventually

SITE = "5109030001"
OTHER_SITE = "5109040001"
TOKENS = {
    "site": ("nb_site", "site", SITE),
    "province": ("nb_province", "office", "510000"),
    "city": ("nb_city", "office", "510900"),
    "beijing": ("nb_beijing", "office", "110000"),
    "operator": ("nb_operator", "operator", None),
}


class Bus:
    """What the intake published, and whether the next publish fails."""

    def __init__(self) -> None:
        self.events: list[Any] = []
        self.fail = False
        self.running: str | None = None

    async def publish(self, event: PublicationDeclared | PublicationJudged) -> None:
        if self.fail:
            raise ConnectionError("stream down")
        self.events.append(event)

    async def recheck(self, year: int, node: str) -> dict[str, Any]:
        if self.running is not None:
            return {"started": False, "running": self.running, "since": "now"}
        self.running = node
        return {"started": True, "node": node, "year": year}


@pytest.fixture
def bus() -> Bus:
    return Bus()


@pytest.fixture
async def outbox(database_url: str) -> AsyncIterator[Outbox]:
    kept = Outbox(make_engine(database_url))
    yield kept
    await kept.stop()
    await kept.engine.dispose()


@pytest.fixture
async def client(database_url: str, bus: Bus, outbox: Outbox) -> AsyncIterator[httpx.AsyncClient]:
    registry = demo_registry()
    assert OTHER_SITE in registry.sites
    store = IntakeStore(make_engine(database_url))
    await store.create()
    await store.add_tokens([(t, kind, code, "x") for t, kind, code in TOKENS.values()])
    declarations = DeclarationStore(store.engine)
    await declarations.create()

    async def no_filing(_event: ReportSubmitted) -> None:
        raise AssertionError("nothing is filed in these tests")

    app = create_app(Intake(registry, store, no_filing, "http://test"), 1024)
    app.include_router(
        build_declarations_router(
            Declarations(registry, declarations, outbox, bus.publish, bus.publish, bus.recheck)
        )
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http
    await store.engine.dispose()


def as_(who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[who][0]}"}


async def test_a_site_declares_its_report_and_a_changed_url_is_a_new_declaration(
    client: httpx.AsyncClient, bus: Bus
) -> None:
    url = f"/v1/publications/{SITE}/2026/report"
    first = await client.put(
        url, json={"url": "https://www.example.gov.cn/nb/2026.html"}, headers=as_("site")
    )
    assert first.status_code == 201, first.text
    again = await client.put(
        url, json={"url": "https://www.example.gov.cn/nb/2026.html"}, headers=as_("site")
    )
    assert again.status_code == 200
    assert again.json()["declaration_id"] == first.json()["declaration_id"]
    moved = await client.put(
        url, json={"url": "http://www.example.gov.cn/nb/2026b.html"}, headers=as_("site")
    )
    assert moved.status_code == 201
    assert [e.url for e in bus.events] == [
        "https://www.example.gov.cn/nb/2026.html",
        "http://www.example.gov.cn/nb/2026b.html",
    ]
    assert bus.events[0].declared_by == SITE and bus.events[0].kind == "report"
    history = await client.get(f"/v1/publications/{SITE}/2026", headers=as_("city"))
    assert history.status_code == 200
    assert [d["url"] for d in history.json()["declarations"]] == [e.url for e in bus.events]
    unseen = await client.get(f"/v1/publications/{SITE}/2026", headers=as_("beijing"))
    assert unseen.status_code == 404


async def test_only_oneself_declares(client: httpx.AsyncClient, bus: Bus) -> None:
    body = {"url": "https://www.example.gov.cn/x.html"}
    cases = [
        (f"/v1/publications/{OTHER_SITE}/2026/report", "site"),
        (f"/v1/publications/{SITE}/2026/report", "city"),
        ("/v1/publications/510000/2026/column", "site"),
        ("/v1/publications/510000/2026/column", "city"),  # another office
        ("/v1/publications/510900/2026/catalogue", "city"),  # a city files no supervision report
        (f"/v1/publications/{SITE}/2026/column", "site"),
    ]
    for path, who in cases:
        response = await client.put(path, json=body, headers=as_(who))
        assert response.status_code == 403, (path, who, response.text)
        assert response.json()["error"] == "forbidden"
    for kind in ("column", "catalogue"):
        ok = await client.put(
            f"/v1/publications/510000/2026/{kind}", json=body, headers=as_("province")
        )
        assert ok.status_code == 201, ok.text
    assert [(e.kind, e.code) for e in bus.events] == [("column", "510000"), ("catalogue", "510000")]


@pytest.mark.parametrize(
    "url",
    [
        "ftp://www.example.gov.cn/report.html",
        "javascript:alert(1)//xxxxx",
        "file:///etc/passwd",
        "https://user:pw@www.example.gov.cn/",
        "https://www.example.gov.cn/a b.html",
        "https://www.example.gov.cn/\x00.html",
        "https:///nohost/path",
        "https://www.example.gov.cn:99999/",
        "https://www.example.gov.cn/" + "a" * 1000,
    ],
)
async def test_bad_urls_get_a_422_naming_the_field(
    client: httpx.AsyncClient, bus: Bus, url: str
) -> None:
    response = await client.put(
        f"/v1/publications/{SITE}/2026/report", json={"url": url}, headers=as_("site")
    )
    assert response.status_code == 422, response.text
    assert "url" in response.text
    assert bus.events == []


async def test_bad_paths_and_bodies_are_4xx(client: httpx.AsyncClient) -> None:
    body = {"url": "https://www.example.gov.cn/x.html"}
    for path in (
        f"/v1/publications/{SITE}/1999/report",
        f"/v1/publications/{SITE}/2026/homepage",
        f"/v1/publications/{SITE}.x/2026/report",
    ):
        assert (await client.put(path, json=body, headers=as_("site"))).status_code in (404, 422)
    extra = await client.put(
        f"/v1/publications/{SITE}/2026/report", json={**body, "at": "2020"}, headers=as_("site")
    )
    assert extra.status_code == 422
    anonymous = await client.put(f"/v1/publications/{SITE}/2026/report", json=body)
    assert anonymous.status_code == 401


async def test_a_declaration_the_stream_refuses_is_kept_and_published_later(
    client: httpx.AsyncClient, bus: Bus, outbox: Outbox
) -> None:
    """NATS down: the declaration and a judgement are answered 2xx and kept with their events;
    the outbox's retry publishes both, oldest first, once the stream is back."""
    bus.fail = True
    body = {"url": "https://www.example.gov.cn/x.html"}
    declared = await client.put(
        f"/v1/publications/{SITE}/2026/report", json=body, headers=as_("site")
    )
    assert declared.status_code == 201, declared.text
    judged = await client.post(
        f"/v1/publications/{SITE}/2026/judgement",
        json={"verdict": "verified", "reason": "人工确认"},
        headers=as_("city"),
    )
    assert judged.status_code == 201, judged.text
    history = await client.get(f"/v1/publications/{SITE}/2026", headers=as_("site"))
    assert [d["url"] for d in history.json()["declarations"]] == [body["url"]]
    assert [p.kind for p in await outbox.pending()] == ["declared", "judged"]
    assert bus.events == []
    again = await client.put(f"/v1/publications/{SITE}/2026/report", json=body, headers=as_("site"))
    assert again.status_code == 200  # recorded already: nothing new to keep
    assert len(await outbox.pending()) == 2

    bus.fail = False

    async def sent() -> bool:
        return await outbox.pending() == [] and len(bus.events) == 2

    await eventually(sent, within=15)
    first, second = bus.events
    assert isinstance(first, PublicationDeclared) and isinstance(second, PublicationJudged)
    assert first.declaration_id == declared.json()["declaration_id"]
    assert second.judgement_id == judged.json()["judgement_id"]


async def test_what_the_outbox_kept_is_sent_at_the_next_start(
    database_url: str, client: httpx.AsyncClient, bus: Bus
) -> None:
    bus.fail = True
    body = {"url": "https://www.example.gov.cn/y.html"}
    put = await client.put(f"/v1/publications/{SITE}/2026/report", json=body, headers=as_("site"))
    assert put.status_code == 201
    bus.fail = False
    restarted = Outbox(make_engine(database_url))  # another process on the same database
    restarted.register("declared", PublicationDeclared, bus.publish)
    try:
        assert await restarted.resume() == 1
    finally:
        await restarted.engine.dispose()
    assert [e.url for e in bus.events] == [body["url"]]


async def test_an_office_judges_a_site_below_it_with_a_reason(
    client: httpx.AsyncClient, bus: Bus
) -> None:
    path = f"/v1/publications/{SITE}/2026/judgement"
    body = {"verdict": "verified", "reason": "首页链接在浮窗中，人工确认"}
    assert (await client.post(path, json=body, headers=as_("site"))).status_code == 403
    assert (await client.post(path, json=body, headers=as_("beijing"))).status_code == 404
    no_reason = await client.post(path, json={"verdict": "verified"}, headers=as_("city"))
    assert no_reason.status_code == 422
    judged = await client.post(path, json=body, headers=as_("city"))
    assert judged.status_code == 201, judged.text
    assert judged.json()["office"] == "510900"
    history = await client.get(f"/v1/publications/{SITE}/2026", headers=as_("site"))
    assert [j["reason"] for j in history.json()["judgements"]] == [body["reason"]]
    assert isinstance(bus.events[-1], PublicationJudged)


async def test_a_recheck_is_refused_while_one_runs(client: httpx.AsyncClient, bus: Bus) -> None:
    assert (
        await client.post("/v1/publications/510900/2026/recheck", headers=as_("site"))
    ).status_code == 403
    assert (
        await client.post("/v1/publications/510000/2026/recheck", headers=as_("city"))
    ).status_code == 403
    started = await client.post("/v1/publications/510900/2026/recheck", headers=as_("city"))
    assert started.status_code == 202 and started.json()["started"] is True
    running = await client.post("/v1/publications/510903/2026/recheck", headers=as_("province"))
    assert running.status_code == 409
    assert running.json()["error"] == "recheck_running"

"""API and event documentation served by the intake, with nothing loaded from another host."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from services.intake.app import create_app
from services.intake.docs import asyncapi_view, subject_matches
from services.intake.filing import Intake
from services.intake.store import IntakeStore
from shared.registry.demo import demo_registry
from shared.runtime.db import make_engine

LINKS = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']|url\(\s*["']?([^"')]+)""")


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    store = IntakeStore(make_engine(f"sqlite+aiosqlite:///{tmp_path / 'intake.db'}"))

    async def publish(_event: object) -> None:
        raise AssertionError("nothing is filed here")

    app = create_app(Intake(demo_registry(), store, publish, "http://test"), 1024)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http
    await store.engine.dispose()


def _links(html: str) -> list[str]:
    return [a or b for a, b in LINKS.findall(html)]


@pytest.mark.parametrize("page", ["/docs", "/redoc", "/asyncapi"])
async def test_doc_pages_load_only_from_the_intake(client: httpx.AsyncClient, page: str) -> None:
    response = await client.get(page)
    assert response.status_code == 200
    html = response.text
    links = _links(html)
    assert links, "the page links its assets"
    outside = [u for u in links if re.match(r"^(https?:)?//", u)]
    assert outside == [], f"{page} loads from other hosts: {outside}"
    for url in links:
        if url.startswith("#") or url.startswith("data:"):
            continue
        target = url if url.startswith("/") else f"/{url}"
        asset = await client.get(target)
        assert asset.status_code == 200, f"{page} links {url}: {asset.status_code}"


async def test_swagger_ui_has_no_online_validator_and_reads_the_openapi_document(
    client: httpx.AsyncClient,
) -> None:
    html = (await client.get("/docs")).text
    assert '"validatorUrl": null' in html
    assert "/openapi.json" in html
    spec = (await client.get("/openapi.json")).json()
    body = spec["paths"]["/v1/reports"]["post"]["requestBody"]["content"]
    assert "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" in body


async def test_the_asyncapi_page_lists_streams_subjects_consumers_and_payloads(
    client: httpx.AsyncClient,
) -> None:
    html = (await client.get("/asyncapi")).text
    for text in (
        "NIANBAO_SUBMISSIONS",
        "nianbao.submitted.{form}.{code}",
        "validator",
        'id="schema-ReportSubmitted"',
        "receipt_id",
        'id="requests"',
        "nianbao.recheck.{year}.{node}",
        'id="schema-RecheckAnswered"',
    ):
        assert text in html
    document = (await client.get("/asyncapi.json")).json()
    assert document["asyncapi"].startswith("3.")
    view = asyncapi_view(document)
    submitted = next(s for s in view["subjects"] if s["address"].startswith("nianbao.submitted"))
    assert submitted["payload"] == "ReportSubmitted"
    assert "validator" in submitted["consumers"]


def test_subject_matching_follows_nats_wildcards() -> None:
    assert subject_matches("nianbao.submitted.>", "nianbao.submitted.{form}.{code}")
    assert subject_matches("nianbao.accepted.*.*", "nianbao.accepted.{form}.{code}")
    assert not subject_matches("nianbao.accepted.>", "nianbao.rejected.{form}.{code}")
    assert not subject_matches("nianbao.rollup.>", "nianbao.rollup")

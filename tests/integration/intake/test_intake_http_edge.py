"""The intake's HTTP edge with a real token store: the caller is authenticated before any body
is read, the operator before a registry is parsed, and errors keep their exact bodies."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from services.intake.app import create_app
from services.intake.filing import Intake
from services.intake.registry_admin import RegistryAdmin
from services.intake.registry_api import build_registry_router
from services.intake.review import Reviews
from services.intake.review_api import build_review_router
from services.intake.review_store import ReviewStore
from services.intake.store import IntakeStore
from shared.contracts import ReportSubmitted
from shared.registry.demo import demo_registry
from shared.runtime.db import make_engine

SITE = "5109030001"
TOKENS = {"site": "nb_site", "operator": "nb_operator"}
LIMIT = 1024


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    registry = demo_registry()
    store = IntakeStore(make_engine(f"sqlite+aiosqlite:///{tmp_path / 'intake.db'}"))
    await store.create()
    await store.add_tokens(
        [(TOKENS["site"], "site", SITE, "船山区"), (TOKENS["operator"], "operator", None, "op")]
    )
    reviews_store = ReviewStore(store.engine)
    await reviews_store.create()

    async def refuse(_event: object) -> None:
        raise AssertionError("nothing is published in these tests")

    async def publish(_event: ReportSubmitted) -> None:
        raise AssertionError("nothing is filed in these tests")

    intake = Intake(registry, store, publish, "http://test")
    app = create_app(intake, LIMIT)
    app.include_router(
        build_review_router(intake, Reviews(registry, store, reviews_store, refuse, refuse))
    )
    app.include_router(build_registry_router(RegistryAdmin(registry, tmp_path / "registry.json")))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http
    await store.engine.dispose()


def bearer(kind: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[kind]}", "content-type": "application/json"}


async def test_no_token_is_refused_before_the_body_is_read(client: httpx.AsyncClient) -> None:
    too_big = b"x" * (LIMIT * 4)
    for headers in ({}, {"Authorization": "Bearer nb_unknown"}):
        response = await client.post(
            "/v1/reports", content=too_big, headers={**headers, "content-type": "text/plain"}
        )
        assert response.status_code == 401
        assert response.json()["error"] == "unauthenticated"
    missing = await client.get("/v1/receipts/abc")
    assert missing.json() == {
        "error": "unauthenticated",
        "message_zh": "缺少访问令牌（Authorization: Bearer …）",
        "message_en": "missing bearer token (Authorization: Bearer ...)",
        "issues": [],
    }
    wrong = await client.get("/v1/receipts/abc", headers={"Authorization": "Bearer nb_unknown"})
    assert wrong.json()["message_en"] == "the bearer token is invalid or expired"


async def test_an_authenticated_body_is_then_read_and_decoded(client: httpx.AsyncClient) -> None:
    big = await client.post("/v1/reports", content=b"{" * (LIMIT + 1), headers=bearer("site"))
    assert (big.status_code, big.json()["error"]) == (413, "too_large")
    assert big.json()["message_zh"] == "请求体超过 1 KiB 上限"
    plain = await client.post(
        "/v1/reports", content=b"{}", headers={**bearer("site"), "content-type": "text/plain"}
    )
    assert (plain.status_code, plain.json()["error"]) == (415, "unsupported_media_type")
    broken = await client.post("/v1/reports", content=b"{", headers=bearer("site"))
    assert (broken.status_code, broken.json()["error"]) == (400, "invalid_json")
    invalid = await client.post("/v1/reports", content=b"{}", headers=bearer("site"))
    assert (invalid.status_code, invalid.json()["error"]) == (422, "invalid_report")


async def test_only_the_operator_reaches_the_registry_body(client: httpx.AsyncClient) -> None:
    refused = await client.put("/v1/registry", content=b"not json", headers=bearer("site"))
    assert refused.status_code == 403
    assert refused.json()["message_en"] == "operator token required"
    assert (await client.get("/v1/registry", headers=bearer("site"))).status_code == 403
    exported = await client.get("/v1/registry", headers=bearer("operator"))
    assert exported.status_code == 200 and SITE in {s["code"] for s in exported.json()["sites"]}
    broken = await client.put("/v1/registry", content=b"not json", headers=bearer("operator"))
    assert (broken.status_code, broken.json()["error"]) == (400, "invalid_json")
    empty = await client.put("/v1/registry", json={"nodes": []}, headers=bearer("operator"))
    assert (empty.status_code, empty.json()["error"]) == (422, "invalid_registry")


async def test_review_routes_share_the_dependency(client: httpx.AsyncClient) -> None:
    assert (await client.get(f"/v1/filings/{SITE}/work-report/2026")).status_code == 401
    history = await client.get(f"/v1/filings/{SITE}/work-report/2026", headers=bearer("site"))
    assert history.status_code == 200
    assert history.json() == {
        "code": SITE,
        "form": "work-report",
        "year": 2026,
        "locked": False,
        "versions": [],
        "reviews": [],
        "declarations": [],
    }
    missing = await client.post("/v1/receipts/nope/approve", headers=bearer("site"))
    assert (missing.status_code, missing.json()["error"]) == (404, "not_found")
    public = await client.get("/v1/sites/nope")
    assert public.json() == {
        "error": "not_found",
        "message_zh": "网站 nope 不在登记名录中",
        "message_en": "no site nope",
        "issues": [],
    }

"""Every route checks the token before it reads a body, and reads no more than its limit: a
large body without a token is refused without being read, an oversized one with a token gets
413. Also the order of refusals on the review routes: who may act is decided before the filing's
state is revealed, and an internal deadline outside its window is refused naming the field."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable, Iterator
from pathlib import Path

import pytest
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute

from services.intake.main import IntakeSettings
from services.intake.registry_api import MAX_REGISTRY_BYTES
from tests.support.intake_app import InProcessIntake, call, intake_app

#: a body offered in 64 KiB chunks: 100 MiB, far beyond every limit
HUGE = 1600
CHUNK = 64 * 1024
#: values for the path parameters of every route
PARAMS = {
    "receipt_id": "0123456789abcdef0123456789abcdef",
    "code": "5109030001",
    "form": "work-report",
    "year": "2026",
    "node": "510000",
    "kind": "report",
}
#: the largest body limit of any route
LARGEST_LIMIT = max(MAX_REGISTRY_BYTES, IntakeSettings().max_body_bytes)


@pytest.fixture
async def intake(database_url: str, tmp_path: Path) -> AsyncIterator[InProcessIntake]:
    async with intake_app(database_url, tmp_path) as running:
        yield running


def api_routes(routes: Iterable[BaseRoute], prefix: str = "") -> Iterator[tuple[str, set[str]]]:
    """(path, methods) of every API route, into included routers (FastAPI keeps an included
    router as one entry with the router inside)."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            context = getattr(route, "include_context", None)
            yield from api_routes(inner.routes, prefix + getattr(context, "prefix", ""))
        elif isinstance(route, APIRoute):
            yield prefix + route.path, set(route.methods)


def endpoints(intake: InProcessIntake) -> list[tuple[str, str]]:
    """(method, path) of every API route, its path parameters filled in; the walk finds at
    least every operation of the OpenAPI document."""
    walked = list(api_routes(intake.app.routes))
    documented = {
        (method.upper(), path)
        for path, operations in intake.app.openapi()["paths"].items()
        for method in operations
    }
    assert documented <= {(m, path) for path, methods in walked for m in methods}
    return [
        (method, path.format(**PARAMS))
        for path, methods in walked
        for method in sorted(methods - {"HEAD", "OPTIONS"})
    ]


def takes_a_body(method: str) -> bool:
    return method in ("POST", "PUT", "PATCH")


async def test_no_route_reads_a_body_before_the_token_is_checked(intake: InProcessIntake) -> None:
    routes = endpoints(intake)
    assert sum(takes_a_body(m) for m, _ in routes) >= 6  # reports, reviews, deadlines, registry
    unread = []
    for method, path in routes:
        for token in (None, "nb_not-a-token"):
            headers = {"content-type": "application/json"}
            if token:
                headers["authorization"] = f"Bearer {token}"
            answer = await call(
                intake.app, method, path, headers, body_chunks=HUGE, chunk=b"x" * CHUNK
            )
            if answer.read or (takes_a_body(method) and answer.status != 401):
                unread.append((method, path, token, answer.status, answer.read))
    assert unread == [], "read a body (or answered) before refusing the token"


async def test_an_oversized_body_with_a_token_gets_413_after_at_most_its_limit(
    intake: InProcessIntake,
) -> None:
    operator = {
        "content-type": "application/json",
        "authorization": f"Bearer {intake.tokens['operator']}",
    }
    site = operator | {"authorization": f"Bearer {intake.tokens[PARAMS['code']]}"}
    wrong = []
    for method, path in endpoints(intake):
        if not takes_a_body(method):
            continue
        headers = site if path == "/v1/reports" else operator
        streamed = await call(
            intake.app, method, path, headers, body_chunks=HUGE, chunk=b"x" * CHUNK
        )
        declared = await call(
            intake.app,
            method,
            path,
            headers | {"content-length": str(HUGE * CHUNK)},
            body_chunks=HUGE,
            chunk=b"x" * CHUNK,
        )
        if streamed.status != 413 or streamed.read > LARGEST_LIMIT + CHUNK:
            wrong.append((method, path, "streamed", streamed.status, streamed.read))
        if declared.status != 413 or declared.read:
            wrong.append((method, path, "declared", declared.status, declared.read))
    assert wrong == []


async def test_review_bodies_have_a_small_limit(intake: InProcessIntake) -> None:
    headers = {
        "content-type": "application/json",
        "authorization": f"Bearer {intake.tokens['510000']}",
    }
    answer = await call(
        intake.app,
        "POST",
        f"/v1/receipts/{PARAMS['receipt_id']}/return",
        headers,
        body_chunks=4,
        chunk=b" " * CHUNK,
    )
    assert answer.status == 413 and answer.read <= CHUNK


async def test_unlock_answers_403_to_a_foreign_office_before_revealing_the_lock(
    intake: InProcessIntake,
) -> None:
    """Whether a filing is locked is not told to a token that may not unlock it: an office of
    another province (北京市) asking about a 四川 site's filing that is not locked."""
    path = f"/v1/filings/{PARAMS['code']}/work-report/{PARAMS['year']}/unlock"
    for foreign in ("110000", "510100", "bm29", "5109040001"):
        answer = await call(
            intake.app, "POST", path, {"authorization": f"Bearer {intake.tokens[foreign]}"}
        )
        assert answer.status == 403, (foreign, answer.status, answer.body)
    answer = await call(
        intake.app, "POST", path, {"authorization": f"Bearer {intake.tokens['510000']}"}
    )
    assert answer.status == 409 and b"not_locked" in answer.body  # the province above may know


@pytest.mark.parametrize(
    ("year", "deadline", "reason"),
    [
        (2019, "2000-01-01T00:00:00+08:00", "报表年度结束"),  # the reported attack
        (2019, "2020-01-20T23:59:59+08:00", "已过去"),  # in the window, but long past
        (2026, "2026-06-30T23:59:59+08:00", "报表年度结束"),
        (2026, "2027-02-01T00:00:00+08:00", "全国截止时间"),
    ],
)
async def test_an_internal_deadline_outside_its_window_is_refused_naming_the_field(
    intake: InProcessIntake, year: int, deadline: str, reason: str
) -> None:
    answer = await call(
        intake.app,
        "PUT",
        f"/v1/deadlines/{year}/510000",
        {
            "content-type": "application/json",
            "authorization": f"Bearer {intake.tokens['510000']}",
        },
        body_chunks=1,
        chunk=f'{{"deadline": "{deadline}"}}'.encode(),
    )
    assert answer.status == 422, answer.body
    problem = json.loads(answer.body)
    assert problem["error"] == "invalid_deadline"
    assert problem["issues"][0]["paths"] == ["deadline"]
    assert reason in problem["message_zh"] and problem["message_en"]

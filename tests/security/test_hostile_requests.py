"""Bad input at the HTTP edge: every hostile request gets a clear 4xx (never a 5xx) and leaves
nothing stored (receipts, reviews, deadlines, the registry file) or published (streams); the
intake's database is PostgreSQL when NIANBAO_TEST_POSTGRES_URL is set (it refuses what SQLite
forgives, a NUL in JSONB for one)."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from shared.contracts import DEADLINES, REVIEWS, SUBMISSIONS
from tests.support.figures import SECURITY_FIGURES
from tests.support.hostile import OFFICE, SITE, Hostile, corpus, intake_rows, report, setting
from tests.support.pipeline import YEAR, jetstream
from tools.launcher import System

pytestmark = pytest.mark.e2e

STREAMS = (SUBMISSIONS.name, REVIEWS.name, DEADLINES.name)


async def chunks(body: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(body), 16 * 1024):
        yield body[start : start + 16 * 1024]


def headers_for(hostile: Hostile, tokens: dict[str, str]) -> dict[str, str | bytes]:
    headers: dict[str, str | bytes] = {}
    if hostile.content_type is not None:
        headers["content-type"] = hostile.content_type
    named = {"site": SITE, "office": OFFICE, "operator": "operator"}
    if hostile.auth in named:
        headers["authorization"] = f"Bearer {tokens[named[hostile.auth]]}"
    elif hostile.auth is not None:
        headers["authorization"] = hostile.auth.encode()  # raw UTF-8, as a client may send it
    return headers


async def stored(system: System, js: object) -> dict[str, object]:
    state: dict[str, object] = dict(intake_rows(system))
    for stream in STREAMS:
        state[stream] = (await js.stream_info(stream)).state.messages  # type: ignore[attr-defined]
    registry = Path(system.data_dir) / "registry.json"
    state["registry file"] = registry.read_bytes() if registry.exists() else None
    return state


@pytest.fixture
async def client(system: System) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=system.intake_url, timeout=30) as http:
        yield http


async def test_every_hostile_request_gets_a_4xx_and_leaves_nothing_behind(
    system: System, tokens: dict[str, str], client: httpx.AsyncClient
) -> None:
    hostile = corpus(YEAR)
    started = time.monotonic()
    statuses: Counter[int] = Counter()
    failures = []
    async with jetstream(system.nats.url) as js:
        for request in hostile:
            before = await stored(system, js)
            try:
                response = await client.request(
                    request.method,
                    request.path,
                    content=chunks(request.body or b"") if request.stream else request.body,
                    headers=headers_for(request, tokens),
                )
            except httpx.HTTPError as exc:
                failures.append((request.name, f"no answer: {exc!r}"))
                continue
            statuses[response.status_code] += 1
            after = await stored(system, js)
            if not 400 <= response.status_code < 500:
                failures.append((request.name, response.status_code, response.text[:300]))
            elif after != before:
                changed = {k: (before[k], after[k]) for k in before if before[k] != after[k]}
                failures.append((request.name, "stored something", changed))
            elif not response.headers.get("content-type", "").startswith(
                "application/json"
            ) or not response.json().get("error" if "error" in response.json() else "detail"):
                failures.append((request.name, "no clear problem body", response.text[:200]))
    database = "PostgreSQL" if "NIANBAO_INTAKE_DATABASE_URL" in system.env else "SQLite"
    SECURITY_FIGURES["hostile requests"] = (
        f"{len(hostile)} in {time.monotonic() - started:.0f} s (intake on {database}), answers "
        + ", ".join(f"{s}×{n}" for s, n in sorted(statuses.items()))
    )
    assert failures == [], "\n".join(repr(f)[:300] for f in failures)


async def test_surrounding_whitespace_is_trimmed_before_a_code_is_used(
    system: System, tokens: dict[str, str], client: httpx.AsyncClient
) -> None:
    """Not an injection: the wire model trims text, so " 1100000088\\n" files as 1100000088 and
    only the clean code reaches a subject, a file name or a query."""
    body = setting(report(YEAR), "site.site_code", " 1100000088\n")
    response = await client.post(
        "/v1/reports", json=body, headers={"authorization": f"Bearer {tokens[SITE]}"}
    )
    assert response.status_code == 202, response.text
    assert response.json()["code"] == SITE
    async with jetstream(system.nats.url) as js:
        stored = await js.get_last_msg(SUBMISSIONS.name, f"nianbao.submitted.work-report.{SITE}")
    assert stored.headers is not None
    assert stored.headers["Nats-Msg-Id"] == response.json()["receipt_id"]

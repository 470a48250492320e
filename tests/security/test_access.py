"""Access control, as a matrix: every kind of token against every endpoint. A site files and
reads only its own; an office reviews only inside its subtree; the registry changes only with an
operator token; expired, revoked and wrong tokens get 401; tokens are stored as hashes only."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from services.intake.store import Token, hash_token, new_token
from shared.registry.demo import demo_registry
from shared.runtime.db import make_engine, sql_table
from tests.support.figures import SECURITY_FIGURES
from tests.support.hostile import intake_database_url, intake_query, intake_rows
from tests.support.pipeline import YEAR
from tests.support.reports import work_report_for
from tests.support.waiting import wait_until
from tools.launcher import System

pytestmark = pytest.mark.e2e

SITE = "5109030001"  # 船山区 portal: county 510903, city 510900 (遂宁市), province 510000 (四川省)
OTHER_SITE = "1100000088"  # 北京市人民政府
#: who holds each kind of token, by the code it was issued to in the demo registry
HOLDERS = {
    "site": SITE,
    "other site": OTHER_SITE,
    "city above": "510900",
    "other city": "510100",  # 成都市
    "province above": "510000",
    "other province": "110000",
    "department": "bm29",  # 国家税务总局: the site is not in its system
    "operator": "operator",
}
UNAUTHENTICATED = ("none", "expired", "revoked", "wrong")
KINDS = (*HOLDERS, *UNAUTHENTICATED)


@pytest.fixture(scope="module")
def tokens_by_kind(system: System, tokens: dict[str, str]) -> dict[str, str | None]:
    """Every kind's token; the expired and revoked ones are added to the intake's table."""
    expired, revoked = new_token(), new_token()

    async def add() -> None:
        engine = make_engine(intake_database_url(system))
        rows = [
            {
                "token_hash": hash_token(expired),
                "kind": "site",
                "code": SITE,
                "label": "expired",
                "expires_at": datetime.now(UTC) - timedelta(minutes=1),
                "revoked": False,
            },
            {
                "token_hash": hash_token(revoked),
                "kind": "operator",
                "code": None,
                "label": "revoked",
                "expires_at": None,
                "revoked": True,
            },
        ]
        async with engine.begin() as conn:
            await conn.execute(sql_table(Token).insert(), rows)
        await engine.dispose()

    asyncio.run(add())
    out: dict[str, str | None] = {kind: tokens[code] for kind, code in HOLDERS.items()}
    out.update(none=None, expired=expired, revoked=revoked, wrong=new_token())
    return out


@pytest.fixture(scope="module")
def http(system: System) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=system.intake_url, timeout=30) as client:
        yield client


def call(
    http: httpx.Client, token: str | None, method: str, path: str, body: Any = None
) -> httpx.Response:
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    return http.request(method, path, json=body, headers=headers)


def judged(http: httpx.Client, token: str, receipt_id: str) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        body: dict[str, Any] = call(http, token, "GET", f"/v1/receipts/{receipt_id}").json()
        return body if body.get("outcome") else None

    return wait_until(done, timeout=60, interval=0.2)


def matrix(
    http: httpx.Client,
    tokens: dict[str, str | None],
    method: str,
    path: str,
    expected: dict[str, int],
    body: Any = None,
    kinds: tuple[str, ...] = KINDS,
) -> list[tuple[str, str, int, int]]:
    """Each kind's call; the (kind, endpoint, expected, got) that differ."""
    wrong = []
    for kind in kinds:
        want = expected.get(kind, 401 if kind in UNAUTHENTICATED else None)
        assert want is not None, f"no expectation for {kind} on {method} {path}"
        got = call(http, tokens[kind], method, path, body).status_code
        if got != want:
            wrong.append((kind, f"{method} {path}", want, got))
    return wrong


def test_every_token_kind_against_every_endpoint(
    system: System, http: httpx.Client, tokens_by_kind: dict[str, str | None]
) -> None:
    t = tokens_by_kind
    registry = demo_registry()
    report = work_report_for(registry.sites[SITE], YEAR)
    filed = call(http, t["site"], "POST", "/v1/reports", report)
    assert filed.status_code == 202, filed.text
    receipt = filed.json()["receipt_id"]
    assert judged(http, t["site"] or "", receipt)["outcome"] == "accepted"
    rows_before = intake_rows(system)
    denied: list[tuple[str, str, int, int]] = []
    checks = 0

    def run(method: str, path: str, expected: dict[str, int], body: Any = None, **kw: Any) -> None:
        nonlocal checks
        kinds = kw.get("kinds", KINDS)
        checks += len(kinds)
        denied.extend(matrix(http, t, method, path, expected, body, kinds))

    # filing: only the site itself (a refiling of the same content is the same receipt)
    nobody_else = {k: 403 for k in HOLDERS if k != "site"}
    run("POST", "/v1/reports", {"site": 202, **nobody_else}, report)
    others = work_report_for(registry.sites[OTHER_SITE], YEAR)
    run(
        "POST",
        "/v1/reports",
        {"site": 403, "city above": 403, "operator": 403},
        others,
        kinds=("site", "city above", "operator", *UNAUTHENTICATED),
    )
    # reading a receipt and a filing's history: the site, the offices above it, the operator
    readers = {"site": 200, "city above": 200, "province above": 200, "operator": 200}
    hidden = {"other site": 404, "other city": 404, "other province": 404, "department": 404}
    run("GET", f"/v1/receipts/{receipt}", readers | hidden)
    run("GET", f"/v1/filings/{SITE}/work-report/{YEAR}", readers | hidden)
    assert intake_rows(system) == rows_before
    # returning and approving: an office above the site, or the operator; refusals first
    refusers = {"site": 403, **hidden}
    reason = {"reason": "请核对访问量 <b>并更正</b>"}
    for action, body in (("return", reason), ("approve", {"reason": "审核通过"})):
        path = f"/v1/receipts/{receipt}/{action}"
        run("POST", path, refusers, body, kinds=(*refusers, *UNAUTHENTICATED))
        assert intake_rows(system) == rows_before, action
    for kind in ("city above", "province above", "operator"):
        run("POST", f"/v1/receipts/{receipt}/return", {kind: 202}, reason, kinds=(kind,))
    run("POST", f"/v1/receipts/{receipt}/approve", {"city above": 202}, kinds=("city above",))
    # locked now: the site cannot file, only the approving office or one above it may unlock
    changed = report | {"traffic": report["traffic"] | {"page_views": 10**9}}
    run("POST", "/v1/reports", {"site": 409}, changed, kinds=("site",))
    unlock = f"/v1/filings/{SITE}/work-report/{YEAR}/unlock"
    unlockers = {"site": 403, "other site": 403, "other city": 403, "other province": 403}
    run(
        "POST",
        unlock,
        unlockers | {"department": 403},
        kinds=(*unlockers, "department", *UNAUTHENTICATED),
    )
    run("POST", unlock, {"province above": 202}, kinds=("province above",))
    run("POST", unlock, {"operator": 409}, kinds=("operator",))  # no longer locked
    # internal deadlines: the province or department itself, or the operator
    deadline = {"deadline": f"{YEAR + 1}-01-20T23:59:59+08:00"}
    setters = {"province above": 202, "operator": 202}
    not_setters = {k: 403 for k in HOLDERS if k not in setters}
    run("PUT", f"/v1/deadlines/{YEAR}/510000", setters | not_setters, deadline)
    run(
        "PUT",
        f"/v1/deadlines/{YEAR}/510900",
        {"province above": 403, "city above": 403},
        deadline,
        kinds=("province above", "city above"),
    )
    run(
        "PUT",
        f"/v1/deadlines/{YEAR}/bm29",
        {"department": 202, "province above": 403},
        deadline,
        kinds=("department", "province above"),
    )
    # the registry: the operator only, and a refused import writes nothing
    registry_file = system.data_dir / "registry.json"
    exported = call(http, t["operator"], "GET", "/v1/registry")
    assert exported.status_code == 200
    not_operator = {k: 403 for k in HOLDERS if k != "operator"}
    run("GET", "/v1/registry", {"operator": 200, **not_operator})
    body = exported.json()
    run("PUT", "/v1/registry?dry_run=true", {"operator": 200, **not_operator}, body)
    run("PUT", "/v1/registry", not_operator, body, kinds=(*not_operator, *UNAUTHENTICATED))
    assert not registry_file.exists()
    # templates: public; a token only prefills the header, and a bad one is refused
    everyone = {k: 200 for k in (*HOLDERS, "none")}
    run("GET", "/v1/templates/work-report.xlsx", everyone)
    run("GET", "/v1/templates/supervision-report.xlsx", everyone)
    own = call(http, t["site"], "GET", "/v1/templates/work-report.xlsx")
    assert f"-{SITE}.xlsx" in own.headers["content-disposition"]
    # public registry lookups need no token
    run("GET", f"/v1/sites/{SITE}", {k: 200 for k in (*HOLDERS, "none")}, kinds=(*HOLDERS, "none"))

    SECURITY_FIGURES["access matrix"] = f"{checks} calls, {len(KINDS)} token kinds"
    assert denied == [], denied


def test_tokens_are_stored_as_hashes_only(system: System, tokens: dict[str, str]) -> None:
    """No plaintext token in the intake's database (its files, or every row of its tokens) or
    any log; each row is the SHA-256 of a 256-bit random token (looked up by that digest: see
    the report on timing)."""
    files = [p for p in system.data_dir.glob("intake.db*") if p.is_file()]
    files += list((system.data_dir / "logs").glob("*.log"))
    rows = intake_query(system, "SELECT * FROM intake_tokens")
    blob = b"".join(p.read_bytes() for p in files) + repr(rows).encode()
    leaked = [code for code, token in tokens.items() if token.encode() in blob]
    assert leaked == []
    stored = {row[0] for row in intake_query(system, "SELECT token_hash FROM intake_tokens")}
    for code in ("operator", SITE, "510000"):
        assert hashlib.sha256(tokens[code].encode()).hexdigest() in stored
    assert all(len(t.removeprefix("nb_")) >= 43 for t in tokens.values())  # 32 random bytes


def test_demo_tokens_file_is_private(system: System) -> None:
    path = system.data_dir / "demo-tokens.json"
    assert path.stat().st_mode & 0o077 == 0
    assert json.loads(path.read_text(encoding="utf-8"))

"""The verifier's targets in its store (SQLite, or PostgreSQL when NIANBAO_TEST_POSTGRES_URL is
set): a batch of accepted reports creates or updates its targets, later items winning; a burst
of acceptances with nothing declared makes no work for the check loop; a declaration that comes
later finds the report's figures and identifiers, and is checked; ``mark_due`` with and without
``earlier_stays``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.verifier.accepted import AcceptedSeen, target_values
from services.verifier.runs import Verifier
from services.verifier.store import VerifierStore, Watched
from shared.contracts import ReportAccepted
from shared.publication import PublicationDeclared
from shared.registry.national import national_registry
from shared.runtime.db import make_engine
from shared.runtime.messaging import Envelope

YEAR = 2026
REGISTRY = national_registry(200)
CODES = sorted(REGISTRY.sites)[:60]


def accepted(code: str, receipt: str = "r1", visitors: int = 10) -> AcceptedSeen:
    now = datetime.now(UTC)
    event = ReportAccepted(
        receipt_id=f"{receipt}-{code}",
        content_hash=f"{receipt}-hash-{code}",
        form="work-report",
        form_version="2018",
        year=YEAR,
        code=code,
        version=1,
        received_at=now,
        judged_at=now,
        report={
            "site": {"site_code": code, "icp_filing": f"ICP {code}", "psb_filing": ""},
            "traffic": {"unique_visitors": visitors, "page_views": 3 * visitors},
            "info": {"total": 7},
        },
        issues=[],
    )
    return AcceptedSeen.model_validate_json(event.model_dump_json())


def declared(code: str) -> PublicationDeclared:
    return PublicationDeclared(
        declaration_id=f"d{code}",
        kind="report",
        code=code,
        year=YEAR,
        url=f"https://s{code}.gov.test/nb/{YEAR}.html",
        declared_by=code,
        at=datetime.now(UTC),
    )


def wrap(events: list[Any]) -> list[Envelope[Any]]:
    return [Envelope(None, e) for e in events]  # type: ignore[arg-type]


class NoChecks:
    """A checker that must not be called: nothing is declared."""

    async def check(self, target: Any) -> Any:
        raise AssertionError(f"checked {target}")


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[VerifierStore]:
    store = VerifierStore(make_engine(database_url))
    await store.create()
    yield store
    await store.engine.dispose()


def verifier(store: VerifierStore, checker: Any = None) -> Verifier:
    async def publish(event: Any) -> None:
        raise AssertionError(f"published {event}")

    return Verifier(REGISTRY, store, checker or NoChecks(), publish, concurrency=8)


async def test_accepted_reports_create_their_targets_and_later_ones_win(
    store: VerifierStore,
) -> None:
    v = verifier(store)
    await v.on_accepted(wrap([accepted(c) for c in CODES]))
    # a second batch: new versions of half, and one site twice (the later one wins)
    again = [accepted(c, "r2", 20) for c in CODES[:30]] + [accepted(CODES[0], "r3", 30)]
    await v.on_accepted(wrap(again))
    rows = {w.code: w for w in await store.all_watched(YEAR)}
    assert sorted(rows) == CODES
    first = rows[CODES[0]]
    assert (first.kind, first.receipt_id, first.content_hash) == (
        "report",
        f"r3-{CODES[0]}",
        f"r3-hash-{CODES[0]}",
    )
    assert first.figures == {
        "独立用户访问总量（个）": 30,
        "网站总访问量（次）": 90,
        "信息发布 总数（条）": 7,
    }
    assert first.identifiers == {
        "site_code": CODES[0],
        "icp_filing": f"ICP {CODES[0]}",
        "psb_filing": "",
    }
    assert rows[CODES[1]].receipt_id == f"r2-{CODES[1]}"
    assert rows[CODES[40]].receipt_id == f"r1-{CODES[40]}"
    assert rows[CODES[40]].figures["独立用户访问总量（个）"] == 10
    for row in rows.values():
        assert (row.url, row.state, row.failures, row.checked_at) == (None, None, 0, None)
        assert row.next_check_at is not None


async def test_a_burst_with_nothing_declared_makes_no_work_for_the_check_loop(
    store: VerifierStore,
) -> None:
    v = verifier(store)
    store.changed.clear()
    for start in range(0, len(CODES), 10):
        await v.on_accepted(wrap([accepted(c) for c in CODES[start : start + 10]]))
    assert not store.changed.is_set()  # the loop was not woken
    assert await store.next_due_at() is None
    assert await v.run_due() == 0
    assert len(await store.all_watched(YEAR)) == len(CODES)


async def test_a_later_declaration_finds_the_figures_and_is_due(store: VerifierStore) -> None:
    v = verifier(store)
    await v.on_accepted(wrap([accepted(c) for c in CODES[:5]]))
    store.changed.clear()
    await v.on_declared(wrap([declared(c) for c in CODES[:2]]))
    assert store.changed.is_set()
    due = await store.due(datetime.now(UTC), 100)
    assert sorted(w.code for w in due) == CODES[:2]
    for w in due:
        assert w.url == f"https://s{w.code}.gov.test/nb/{YEAR}.html"
        assert w.receipt_id == f"r1-{w.code}"
        assert w.figures["信息发布 总数（条）"] == 7
        assert w.identifiers["site_code"] == w.code
    # a new version of a declared site wakes the loop and is due now; an undeclared one not
    later = datetime.now(UTC) + timedelta(days=1)
    await store.mark_due([("report", CODES[0], YEAR)], later)  # as if checked
    assert [w.code for w in await store.due(datetime.now(UTC), 100)] == CODES[1:2]
    store.changed.clear()
    await v.on_accepted(wrap([accepted(CODES[4], "r2")]))
    assert not store.changed.is_set()
    await v.on_accepted(wrap([accepted(CODES[0], "r2")]))
    assert store.changed.is_set()
    due = await store.due(datetime.now(UTC), 100)
    assert sorted(w.code for w in due) == CODES[:2]


async def test_mark_due_sets_the_time_or_only_brings_it_forward(store: VerifierStore) -> None:
    v = verifier(store)
    await v.on_accepted(wrap([accepted(c) for c in CODES[:3]]))
    await v.on_declared(wrap([declared(c) for c in CODES[:2]]))
    keys = [("report", c, YEAR) for c in CODES[:3]]
    now = datetime.now(UTC)
    soon, later = now + timedelta(minutes=5), now + timedelta(hours=1)

    async def due_times() -> dict[str, datetime | None]:
        return {w.code: w.next_check_at for w in await store.all_watched(YEAR)}

    undeclared = (await due_times())[CODES[2]]
    await store.mark_due(keys, later)
    assert (await due_times())[CODES[0]] == later
    await store.mark_due(keys[:1], soon, earlier_stays=True)  # sooner: brought forward
    await store.mark_due(keys[1:], later + timedelta(hours=1), earlier_stays=True)  # later: stays
    times = await due_times()
    assert (times[CODES[0]], times[CODES[1]]) == (soon, later)
    assert times[CODES[2]] == undeclared  # not declared: never made due
    await store.mark_due(keys, later + timedelta(hours=2))  # without the flag: set
    times = await due_times()
    assert times[CODES[0]] == times[CODES[1]] == later + timedelta(hours=2)
    assert isinstance(await store.watched("report", CODES[0], YEAR), Watched)


async def test_an_acceptance_and_a_declaration_of_a_new_target_at_once_both_land(
    store: VerifierStore,
) -> None:
    """The accepted and declared consumers create the same new target at the same moment (each
    read it missing): neither batch fails, and the row holds both (on PostgreSQL the second
    insert met the first one's key and its batch was redelivered)."""
    for code in CODES:
        key = ("report", code, YEAR)
        url = {"url": declared(code).url}
        await asyncio.gather(
            store.upsert_many([(key, target_values(accepted(code)))]),
            store.upsert_many([(key, url)]),
        )
    rows = {w.code: w for w in await store.all_watched(YEAR)}
    assert sorted(rows) == CODES
    for code, row in rows.items():
        assert (row.receipt_id, row.url) == (f"r1-{code}", declared(code).url), code

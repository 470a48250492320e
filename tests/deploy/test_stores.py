"""The three stores on the test database: PostgreSQL when reachable (CI), SQLite otherwise."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import Column, MetaData, Table, inspect
from sqlalchemy.ext.asyncio import AsyncEngine

from services.aggregator.store import VersionStore
from services.intake.store import IntakeStore, Receipt, ReceiptRow
from services.publisher.store import PublisherStore
from shared.contracts import IssueOut, ReportJudged
from shared.runtime.db import JsonDocument, make_engine, sql_table

BEIJING = timezone(timedelta(hours=8))
#: a report with what JSON columns must keep: Chinese text, nesting, lists, booleans, nulls
REPORT: dict[str, Any] = {
    "site": {"name": "四川省人民政府", "site_code": "5100000001"},
    "services": {"cases": {"total": 12}},
    "channels": ["微博", "微信"],
    "has_search": True,
    "remark": None,
}


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(database_url)
    try:
        yield engine
    finally:
        await engine.dispose()


def verdict(receipt_id: str, version: int = 1, **changes: Any) -> ReportJudged:
    fields: dict[str, Any] = {
        "receipt_id": receipt_id,
        "content_hash": "h" * 64,
        "form": "work-report",
        "form_version": "2018",
        "year": 2026,
        "code": "5100000001",
        "version": version,
        "received_at": datetime(2027, 1, 31, 23, 59, 59, tzinfo=BEIJING),
        "judged_at": datetime(2027, 1, 31, 16, 0, 1, tzinfo=UTC),
        "report": REPORT,
        "issues": [
            IssueOut(
                rule_id="wr.x",
                severity="warning",
                paths=["a.b"],
                message_zh="提示",
                message_en="note",
            )
        ],
    }
    return ReportJudged(**(fields | changes))


async def test_aggregator_versions_are_inserted_once_and_read_back_exactly(
    engine: AsyncEngine,
) -> None:
    store = VersionStore(engine)
    await store.create()
    await store.create()  # idempotent: every start creates what is missing
    first = verdict("r1")
    await store.add([first])
    await store.add([verdict("r1", report={"changed": 1}, outcome="rejected"), verdict("r2")])

    rows = {row.receipt_id: row for row in await store.all()}
    assert sorted(rows) == ["r1", "r2"]
    kept = rows["r1"]
    assert kept.outcome == "accepted" and kept.report == REPORT
    assert kept.issues == [i.model_dump() for i in first.issues]
    # the same instant, timezone-aware, whatever the database
    assert kept.received_at == first.received_at and kept.received_at.tzinfo is not None
    assert kept.judged_at == first.judged_at
    assert [r.receipt_id for r in await store.get(["r2", "missing"])] == ["r2"]


async def test_schema_creation_by_replicas_starting_together(database_url: str) -> None:
    engines = [make_engine(database_url) for _ in range(3)]
    try:
        await asyncio.gather(*(VersionStore(e).create() for e in engines))
        await VersionStore(engines[0]).add([verdict("r1")])
        assert len(await VersionStore(engines[1]).all()) == 1
    finally:
        await asyncio.gather(*(e.dispose() for e in engines))


def standing(seq: int, status: str, receipt: str | None) -> dict[str, Any]:
    return {
        "code": "5100000001",
        "form": "work-report",
        "year": 2026,
        "seq": seq,
        "status": status,
        "counted_receipt": receipt,
        "received_at": datetime(2027, 1, 2, 3, 4, 5, tzinfo=BEIJING) if receipt else None,
    }


async def test_publisher_standing_changes_only_for_a_newer_sequence(engine: AsyncEngine) -> None:
    store = PublisherStore(engine)
    await store.create()
    version = {
        "receipt_id": "r1",
        "code": "5100000001",
        "form": "work-report",
        "year": 2026,
        "version": 1,
        "outcome": "accepted",
        "content_hash": "h" * 64,
        "received_at": datetime(2027, 1, 2, 3, 4, 5, tzinfo=BEIJING),
        "report": REPORT,
        "issues": [],
    }
    rollup = {"year": 2026, "node": "CN", "digest": "d1", "body": {"名称": "全国", "n": 1}}
    await store.save([version], [standing(5, "on_time", "r1")], [rollup], ["site:a"], [])
    await store.save([version], [standing(3, "missing", None)], [], [], [])  # older: ignored
    (kept,) = await store.standings()
    assert (kept.seq, kept.status, kept.counted_receipt) == (5, "on_time", "r1")
    assert kept.received_at == datetime(2027, 1, 2, 3, 4, 5, tzinfo=BEIJING)

    await store.save([], [standing(9, "late", "r1")], [], [], [])  # newer: applied
    (kept,) = await store.standings()
    assert (kept.seq, kept.status) == (9, "late")

    await store.save([], [], [rollup | {"digest": "d2", "body": {"n": 2}}], [], [])
    (row,) = await store.rollups()
    assert (row.digest, row.body) == ("d2", {"n": 2})
    assert await store.counted_reports() == {"r1": REPORT}
    (stored,) = await store.versions_of("5100000001", "work-report", 2026)
    assert stored.report == REPORT and stored.received_at == version["received_at"]


async def test_publisher_dirty_pages_marked_again_survive_cleaning(engine: AsyncEngine) -> None:
    store = PublisherStore(engine)
    await store.create()
    await store.save([], [], [], ["site:a", "node:CN"], [])
    first = dict(await store.dirty())
    await store.save([], [], [], ["node:CN"], [])  # marked again while being rendered
    await store.clean(sorted(first.items()))
    assert [key for key, _generation in await store.dirty()] == ["node:CN"]


def receipt(receipt_id: str, version: int) -> Receipt:
    return Receipt(
        receipt_id=receipt_id,
        code="5100000001",
        form="work-report",
        form_version="2018",
        year=2026,
        version=version,
        content_hash=f"{version}" * 64,
        received_at=datetime(2027, 1, 2, 3, 4, 5, tzinfo=BEIJING),
        submitted_by="5100000001",
        report=REPORT,
    )


async def test_intake_receipts_move_through_their_stages(engine: AsyncEngine) -> None:
    store = IntakeStore(engine)
    await store.create()
    await store.insert(receipt("r1", 1))
    await store.insert(receipt("r2", 2))
    assert {r.receipt_id for r in await store.outbox()} == {"r1", "r2"}
    await store.mark_in_stream("r1")
    assert [r.receipt_id for r in await store.outbox()] == ["r2"]

    judged = datetime(2027, 1, 2, 3, 5, tzinfo=UTC)
    issue = {
        "rule_id": "wr.x",
        "severity": "error",
        "paths": ["a"],
        "message_zh": "错",
        "message_en": "x",
    }
    await store.record(
        [
            {"rid": "r1", "outcome": "rejected", "judged_at": judged, "issues": [issue]},
            {"rid": "r2", "outcome": "accepted", "judged_at": judged, "issues": []},
        ]
    )
    await store.record([{"rid": "r1", "published_at": judged, "urls": ["http://x/站点/"]}])
    got = await store.get("r1")
    assert got is not None
    assert (got.outcome, got.issues, got.urls) == ("rejected", [issue], ["http://x/站点/"])
    assert got.judged_at == judged == got.published_at
    assert got.received_at == receipt("r1", 1).received_at and got.report == REPORT
    latest = await store.latest("5100000001", "work-report", 2026)
    assert latest is not None and latest.receipt_id == "r2"
    assert [r.version for r in await store.history("5100000001", "work-report", 2026)] == [1, 2]


async def test_an_intake_database_from_before_reports_had_their_own_table_is_migrated(
    engine: AsyncEngine,
) -> None:
    """Receipts stored with their report in the row keep it, moved to intake_reports; a receipt
    updated afterwards is a small row, and a second start (another replica) finds nothing left."""
    before = MetaData()
    old = Table(
        "intake_receipts",
        before,
        *(
            Column(c.name, c.type, primary_key=c.primary_key, nullable=c.nullable)
            for c in sql_table(ReceiptRow).columns
        ),
        Column("report", JsonDocument, nullable=False),
    )
    row = receipt("r1", 1)
    async with engine.begin() as conn:
        await conn.run_sync(before.create_all)
        await conn.execute(old.insert(), [{**row.model_dump(), "in_stream": True}])

    store = IntakeStore(engine)
    await store.create()
    await IntakeStore(engine).create()  # another replica starting: nothing left to move
    async with engine.connect() as conn:
        columns = await conn.run_sync(
            lambda sync: {c["name"] for c in inspect(sync).get_columns("intake_receipts")}
        )
    assert "report" not in columns
    got = await store.get("r1")
    assert got is not None and got.report == REPORT and got.in_stream
    await store.record([{"rid": "r1", "urls": ["http://x/"]}])
    await store.insert(receipt("r2", 2))
    history = await store.history("5100000001", "work-report", 2026)
    assert [(r.version, r.report, r.urls) for r in history] == [
        (1, REPORT, ["http://x/"]),
        (2, REPORT, None),
    ]


async def test_a_receipt_deleted_takes_its_report(engine: AsyncEngine) -> None:
    store = IntakeStore(engine)
    await store.create()
    await store.insert(receipt("r1", 1))
    await store.delete("r1")
    assert await store.get("r1") is None
    await store.insert(receipt("r1", 1))  # the report's row went with it
    assert (await store.get("r1")) is not None


async def test_intake_tokens_are_stored_once_and_expire(engine: AsyncEngine) -> None:
    store = IntakeStore(engine)
    await store.create()
    await store.add_tokens([("nb_site", "site", "5100000001", "四川省人民政府")])
    await store.add_tokens([("nb_site", "site", "5100000001", "again")])  # same hash: kept
    now = datetime.now(UTC)
    caller = await store.caller("nb_site", now)
    assert caller is not None and (caller.code, caller.label) == ("5100000001", "四川省人民政府")
    assert await store.caller("nb_wrong", now) is None


async def test_only_a_connection_in_a_transaction_is_rolled_back(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What was not committed is gone (a failed transaction, a connection closed after a write);
    on SQLite a connection that only read sends no rollback to its driver (a trip to its
    thread for nothing)."""
    from sqlalchemy import text
    from sqlalchemy.dialects.sqlite.aiosqlite import AsyncAdapt_aiosqlite_connection

    rollbacks: list[object] = []
    rollback = AsyncAdapt_aiosqlite_connection.rollback

    def counted(self: Any) -> None:
        rollbacks.append(self)
        rollback(self)

    monkeypatch.setattr(AsyncAdapt_aiosqlite_connection, "rollback", counted)
    engine = make_engine(database_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE rollback_probe (x INTEGER)"))
        with pytest.raises(RuntimeError):
            async with engine.begin() as conn:
                await conn.execute(text("INSERT INTO rollback_probe VALUES (1)"))
                raise RuntimeError
        async with engine.connect() as conn:
            await conn.execute(text("INSERT INTO rollback_probe VALUES (2)"))
        sqlite = engine.dialect.name == "sqlite"
        assert len(rollbacks) == (2 if sqlite else 0)
        for _ in range(3):
            async with engine.connect() as conn:
                count = (await conn.execute(text("SELECT count(*) FROM rollback_probe"))).scalar()
            assert count == 0
        assert len(rollbacks) == (2 if sqlite else 0)
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO rollback_probe VALUES (3)"))
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT x FROM rollback_probe"))).scalars().all() == [3]
    finally:
        async with engine.begin() as conn:
            await conn.execute(text("DROP TABLE IF EXISTS rollback_probe"))
        await engine.dispose()

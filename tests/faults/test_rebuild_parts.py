"""`nianbao rebuild`'s parts on their own: the service's tables dropped through its database URL
(PostgreSQL when reachable), the reminders already sent restored from their stream."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import nats
import pytest
from sqlalchemy import inspect

from services.aggregator.store import SupervisionStore, VersionStore
from shared.contracts import REMINDERS, ReminderDue
from shared.runtime.db import make_engine
from shared.runtime.messaging import ensure_streams
from tools.natsserver import NatsServer
from tools.rebuild import drop_database, restore_reminders, sent_reminders, service_parts

pytestmark = [pytest.mark.faults, pytest.mark.nats]


async def table_names(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            return set(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))
    finally:
        await engine.dispose()


async def test_the_aggregators_tables_are_dropped_through_its_url(
    database_url: str, tmp_path: Path
) -> None:
    engine = make_engine(database_url)
    await VersionStore(engine).create()
    await SupervisionStore(engine).create()
    await engine.dispose()
    settings, consumers, tables = service_parts("aggregator", tmp_path)
    settings = settings.model_copy(update={"aggregator_database_url": database_url})
    assert {"aggregator_versions", "aggregator_reminders"} <= await table_names(database_url)
    lines: list[str] = []
    await drop_database("aggregator", settings, tables, lines.append)
    assert not {t for t in await table_names(database_url) if t.startswith("aggregator_")}
    assert {c.durable for c in consumers} >= {"aggregator", "aggregator-reviews"}


async def test_reminders_already_sent_are_restored_from_their_stream(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    nc = await nats.connect(nats_server.url)
    try:
        js = nc.jetstream()
        await ensure_streams(js, [REMINDERS], 1)
        now = datetime.now(UTC)
        event = ReminderDue(
            year=2026, tree="admin", node="510000", path=["CN", "510000"], threshold_days=3,
            deadline=now, sites=[], at=now,
        )  # fmt: skip
        await js.publish("nianbao.reminder.2026.admin.CN.510000", event.model_dump_json().encode())
        marks = await sent_reminders(js)
    finally:
        await nc.close()
    assert sorted(m["threshold_days"] for m in marks) == [3, 7]  # 7 was moot once 3 was sent
    settings, _consumers, _tables = service_parts("aggregator", tmp_path)
    await restore_reminders(settings, marks, lambda _line: None)
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'aggregator.db'}")
    try:
        assert await SupervisionStore(engine).reminded() == {
            (2026, "510000", 3),
            (2026, "510000", 7),
        }
    finally:
        await engine.dispose()

"""Composition root of the aggregator: settings, store, broker, consumer, handler."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from functools import cache

from faststream.nats import NatsBroker
from pydantic import BaseModel
from pydantic_settings import SettingsConfigDict

from services.aggregator.handlers import Aggregator
from services.aggregator.store import CountedVersion, VersionStore
from services.runtime import (
    load_registry,
    make_broker,
    prepare_topology,
    serve_until_stopped,
    setup_logging,
)
from shared.contracts import (
    PROGRESS,
    ROLLUPS,
    VERDICTS,
    IssueOut,
    ReportAggregated,
    ReportJudged,
    RollupUpdated,
)
from shared.db import make_engine
from shared.deadlines import DeadlinePolicy, national_deadline
from shared.filings import current_reporting_year
from shared.messaging import BatchStage, ConsumerSpec, DeadLetters, publish_all
from shared.settings import CommonSettings


class AggregatorSettings(CommonSettings):
    model_config = SettingsConfigDict(env_prefix="NIANBAO_", env_file=".env", extra="ignore")

    aggregator_database_url: str | None = None


CONSUMER = ConsumerSpec(
    durable="aggregator",
    stream=VERDICTS,
    filter_subjects=("nianbao.accepted.>", "nianbao.rejected.>"),
    description="aggregator: counts every verdict in the roll-ups",
)


def deadline_policies(settings: CommonSettings) -> Callable[[int], DeadlinePolicy]:
    """Deadline policy per year: the national default, with the overrides of the deadlines file."""
    overrides: dict[str, dict[str, str]] = {}
    if settings.deadlines_file is not None:
        overrides = json.loads(settings.deadlines_file.read_text(encoding="utf-8"))

    @cache
    def policy(year: int) -> DeadlinePolicy:
        given = overrides.get(str(year), {})
        return DeadlinePolicy(
            year=year,
            national=national_deadline(year),
            overrides={node: datetime.fromisoformat(at) for node, at in given.items()},
        )

    return policy


def as_verdict(row: CountedVersion) -> tuple[ReportJudged, str]:
    verdict = ReportJudged(
        receipt_id=row.receipt_id,
        content_hash=row.content_hash,
        form=row.form,
        form_version=row.form_version,
        year=row.year,
        code=row.code,
        version=row.version,
        received_at=row.received_at,
        judged_at=row.judged_at,
        report=row.report,
        issues=[IssueOut(**i) for i in row.issues],
    )
    return verdict, row.outcome


def build(settings: AggregatorSettings, broker: NatsBroker) -> tuple[Aggregator, VersionStore]:
    registry = load_registry(settings)
    url = settings.database_url_for("aggregator", settings.aggregator_database_url)
    store = VersionStore(make_engine(url))

    async def publish_rollups(items: Sequence[tuple[str, BaseModel, str]]) -> None:
        await publish_all(broker, ROLLUPS, items)

    async def publish_progress(items: Sequence[tuple[str, BaseModel, str]]) -> None:
        await publish_all(broker, PROGRESS, items)

    aggregator = Aggregator(
        registry, deadline_policies(settings), store.add, publish_rollups, publish_progress
    )
    broker.publisher("nianbao.rollup.{year}.{tree}.{path}", title="roll-up", schema=RollupUpdated)
    broker.publisher(
        "nianbao.aggregated.{form}.{code}", title="aggregated", schema=ReportAggregated
    )
    BatchStage(
        broker, CONSUMER, ReportJudged, aggregator.on_verdicts, DeadLetters(broker, "aggregator")
    )
    return aggregator, store


async def serve(settings: AggregatorSettings) -> None:
    broker = make_broker(settings, "aggregator")
    aggregator, store = build(settings, broker)

    async def start() -> None:
        await store.create()
        aggregator.load(as_verdict(row) for row in await store.all())
        await broker.connect()
        await prepare_topology(broker, settings, [CONSUMER])
        await aggregator.republish([current_reporting_year(datetime.now(UTC))])
        await broker.start()

    async def stop() -> None:
        await broker.stop()
        await store.engine.dispose()

    await serve_until_stopped(start, stop)


def main() -> None:
    settings = AggregatorSettings()
    setup_logging("aggregator", settings.log_level)
    asyncio.run(serve(settings))

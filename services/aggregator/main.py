"""Composition root of the aggregator: settings, stores, broker, consumers, reminder clock."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache

from faststream.nats import NatsBroker
from pydantic import BaseModel
from pydantic_settings import SettingsConfigDict

from services.aggregator.handlers import Aggregator
from services.aggregator.ports import Outlets, Ports, Publish, PutFigures
from services.aggregator.publication import PublicationCounting, PublicationStore
from services.aggregator.reminders import Reminders
from services.aggregator.store import Journal, SupervisionStore, VersionStore, as_verdict
from shared.contracts import (
    FIGURES_BUCKET,
    PROGRESS,
    REMINDERS,
    ROLLUPS,
    DeadlineSet,
    ReportJudged,
    ReviewRecorded,
    StreamSpec,
)
from shared.deadlines import DeadlinePolicy, national_deadline
from shared.filings import current_reporting_year
from shared.publication import PublicationChecked, PublicationDeclared, PublicationJudged
from shared.registry import Registry, registry_digest
from shared.runtime.db import make_engine
from shared.runtime.messaging import (
    BURST_LINGER_SECONDS,
    BatchStage,
    DeadLetters,
    jetstream,
    publish_all,
    publish_confirmed,
    stop_broker,
)
from shared.runtime.metrics import Health, count_published, with_health
from shared.runtime.registry_follow import LiveRegistry, live_registry
from shared.runtime.service import (
    declare_publications,
    freeze_startup_state,
    make_broker,
    prepare_topology,
    run_service,
    serve_until_stopped,
    setup_logging,
)
from shared.runtime.settings import CommonSettings
from shared.topology import AGGREGATOR

log = logging.getLogger(__name__)

#: the entry points: what tools (`nianbao run`, `rebuild`, the benchmark) may use
__all__ = [
    "CONSUMERS",
    "AggregatorSettings",
    "build",
    "main",
    "mark_reminders_sent",
    "serve",
    "stored_versions",
]


class AggregatorSettings(CommonSettings):
    model_config = SettingsConfigDict(env_prefix="NIANBAO_", env_file=".env", extra="ignore")

    aggregator_database_url: str | None = None
    #: how often the reminder clock looks for a threshold reached (seconds)
    reminder_interval_seconds: float = 60


CONSUMER = AGGREGATOR.consumer("aggregator")
REVIEW_CONSUMER = AGGREGATOR.consumer("aggregator-reviews")
DEADLINE_CONSUMER = AGGREGATOR.consumer("aggregator-deadlines")
DECLARATION_CONSUMER = AGGREGATOR.consumer("aggregator-declarations")
JUDGEMENT_CONSUMER = AGGREGATOR.consumer("aggregator-judgements")
CHECK_CONSUMER = AGGREGATOR.consumer("aggregator-checks")
CONSUMERS = [
    CONSUMER,
    REVIEW_CONSUMER,
    DEADLINE_CONSUMER,
    DECLARATION_CONSUMER,
    JUDGEMENT_CONSUMER,
    CHECK_CONSUMER,
]


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


@dataclass
class Aggregation:
    aggregator: Aggregator
    versions: VersionStore
    supervision: SupervisionStore
    journal: Journal
    publication: PublicationCounting
    live: LiveRegistry


def build(settings: AggregatorSettings, broker: NatsBroker) -> Aggregation:
    live = live_registry(settings)
    url = settings.database_url_for("aggregator", settings.aggregator_database_url)
    engine = make_engine(url)
    versions, supervision = VersionStore(engine), SupervisionStore(engine)

    def publisher_to(stream: StreamSpec) -> Publish:
        async def publish(items: Sequence[tuple[str, BaseModel, str]]) -> None:
            await publish_all(broker, stream, items)
            count_published(stream.name, items)

        return publish

    journal = Journal(engine)
    outlets = Outlets(
        rollups=publisher_to(ROLLUPS),
        progress=publisher_to(PROGRESS),
        reminders=publisher_to(REMINDERS),
        figures=figures_bucket(broker),
    )
    ports = Ports(
        versions=versions,
        supervision=supervision,
        reminders=supervision,
        journal=journal,
        outlets=outlets,
    )
    aggregator = Aggregator(live.registry, deadline_policies(settings), ports)

    async def switch(new: Registry) -> None:
        """An import: recount under it between two batches (the gate holds them back)."""
        digest = live.incoming[1] if live.incoming else registry_digest(new)
        cause = f"registry:{digest[:16]}"
        years = [current_reporting_year(datetime.now(UTC))]
        await aggregator.switch_registry(new, live.adopt, years, cause)

    live.switch = switch
    declare_publications(broker, AGGREGATOR)
    dead = DeadLetters(broker, "aggregator")
    # a burst is counted in batches: one roll-up event per node per linger, not per verdict
    BatchStage(
        broker,
        CONSUMER,
        ReportJudged,
        live.guarded(aggregator.on_verdicts),
        dead,
        batch_size=500,
        linger=BURST_LINGER_SECONDS,
    )
    on_reviews, on_deadlines = (
        live.guarded(aggregator.on_reviews),
        live.guarded(aggregator.on_deadlines),
    )
    BatchStage(broker, REVIEW_CONSUMER, ReviewRecorded, on_reviews, dead)
    BatchStage(broker, DEADLINE_CONSUMER, DeadlineSet, on_deadlines, dead)
    publication = PublicationCounting(
        aggregator.books, PublicationStore(engine), ports, aggregator.rollups
    )
    on_events = live.guarded(publication.on_events)
    BatchStage(broker, DECLARATION_CONSUMER, PublicationDeclared, on_events, dead)
    BatchStage(broker, JUDGEMENT_CONSUMER, PublicationJudged, on_events, dead)
    BatchStage(broker, CHECK_CONSUMER, PublicationChecked, on_events, dead)
    return Aggregation(aggregator, versions, supervision, journal, publication, live)


def figures_bucket(broker: NatsBroker) -> PutFigures:
    """Puts into the plausibility figures bucket (confirmed, a window at a time): a key's put
    is a publish to ``$KV.<bucket>.<key>``, as the bucket's own ``put`` sends it."""
    prefix = f"$KV.{FIGURES_BUCKET}."

    async def put(writes: Sequence[tuple[str, bytes]]) -> None:
        messages = [(prefix + key, value, None) for key, value in writes]
        await publish_confirmed(jetstream(broker), messages)

    return put


async def reminder_clock(reminders: Reminders, interval: float) -> None:
    while True:
        try:
            sent = await reminders.remind(datetime.now(UTC))
            if sent:
                log.info("sent %d reminders", sent)
        except Exception:
            log.exception("reminder pass failed; retrying")
        await asyncio.sleep(interval)


async def serve(settings: AggregatorSettings) -> None:
    broker = make_broker(settings, "aggregator")
    parts = build(settings, broker)
    aggregator = parts.aggregator
    clock: asyncio.Task[None] | None = None

    async def start() -> None:
        nonlocal clock
        await parts.versions.create()
        await parts.supervision.create()
        await parts.publication.store.create()
        async with parts.journal.exclusive():
            await parts.publication.load()
            synced = await parts.journal.last()
            aggregator.books.load(
                [as_verdict(row) for row in await parts.versions.all()],
                await parts.supervision.reviews(),
                await parts.supervision.deadlines(),
            )
            aggregator.catch_up.synced = synced
        await broker.connect()
        await prepare_topology(broker, settings, AGGREGATOR, CONSUMERS)
        async with parts.journal.exclusive():
            # another replica may have counted since this one loaded (it started first)
            published, _offices = await parts.publication.catch_up()
            await aggregator.republish([current_reporting_year(datetime.now(UTC))], published)
        freeze_startup_state()
        await broker.start()
        parts.live.start(broker, settings.registry_poll_seconds)
        interval = settings.reminder_interval_seconds
        clock = asyncio.create_task(reminder_clock(aggregator.reminders, interval))

    async def stop() -> None:
        if clock is not None:
            clock.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await clock
        await parts.live.stop()
        await stop_broker(broker)
        await parts.versions.engine.dispose()

    health = Health("aggregator", broker, CONSUMERS)
    await serve_until_stopped(*with_health(health, 8002, start, stop))


def main() -> None:
    settings = AggregatorSettings()
    setup_logging("aggregator", settings.log_level)
    run_service(serve(settings))


async def mark_reminders_sent(settings: AggregatorSettings, marks: list[dict[str, object]]) -> None:
    """Record reminder thresholds as already sent (a rebuild restores them from the stream)."""
    url = settings.database_url_for("aggregator", settings.aggregator_database_url)
    engine = make_engine(url)
    try:
        store = SupervisionStore(engine)
        await store.create()
        await store.mark_reminded(marks)
    finally:
        await engine.dispose()


async def stored_versions(database_url: str) -> list[ReportJudged]:
    """Every version the aggregator stored, as the verdicts they came from."""
    engine = make_engine(database_url)
    try:
        return [as_verdict(row) for row in await VersionStore(engine).all()]
    finally:
        await engine.dispose()

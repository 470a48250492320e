"""Composition root of the intake: settings, store, broker, consumers, HTTP app."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn
from fastapi import FastAPI
from faststream.nats import NatsBroker
from pydantic_settings import SettingsConfigDict

from services.intake.app import create_app
from services.intake.declarations import Declarations, DeclarationStore, recheck_answer
from services.intake.declarations_api import build_declarations_router
from services.intake.filing import Intake
from services.intake.progress import AggregatedSeen, ReceiptProgress, VerdictSeen
from services.intake.registry_api import build_registry_router
from services.intake.review import Reviews, review_messages
from services.intake.review_api import build_review_router
from services.intake.review_store import ReviewStore
from services.intake.store import IntakeStore
from services.intake.templates_api import build_templates_router
from services.intake.tokens import demo_tokens
from shared.contracts import (
    DEADLINES,
    DECLARATIONS,
    DECLARED,
    JUDGED,
    RECHECK,
    REVIEWS,
    SUBMISSIONS,
    DeadlineSet,
    PagesPublished,
    ReportSubmitted,
    ReviewRecorded,
    deadline_subject,
    submitted_subject,
)
from shared.publication import PublicationDeclared, PublicationJudged
from shared.runtime.db import make_engine
from shared.runtime.messaging import (
    BURST_LINGER_SECONDS,
    PUBLISH_TIMEOUT_SECONDS,
    BatchStage,
    DeadLetters,
    publish_all,
    stop_broker,
)
from shared.runtime.metrics import REPORTS_SUBMITTED, Health, HttpMetrics
from shared.runtime.service import (
    configured_registry,
    declare_publications,
    freeze_startup_state,
    make_broker,
    prepare_topology,
    registry_path,
    setup_logging,
)
from shared.runtime.settings import CommonSettings
from shared.topology import INTAKE

log = logging.getLogger(__name__)

#: the entry points: what tools (`nianbao run`, `deploy tokens`) may use
__all__ = ["CONSUMERS", "IntakeSettings", "build", "issue_tokens", "main"]


class IntakeSettings(CommonSettings):
    model_config = SettingsConfigDict(env_prefix="NIANBAO_", env_file=".env", extra="ignore")

    intake_host: str = "127.0.0.1"
    intake_port: int = 8000
    intake_database_url: str | None = None
    #: where callers reach the intake (status URLs in receipts)
    intake_public_url: str | None = None
    max_body_bytes: int = 256 * 1024


VERDICT_CONSUMER = INTAKE.consumer("intake-verdicts")
AGGREGATED_CONSUMER = INTAKE.consumer("intake-aggregated")
PUBLISHED_CONSUMER = INTAKE.consumer("intake-published")
CONSUMERS = [VERDICT_CONSUMER, AGGREGATED_CONSUMER, PUBLISHED_CONSUMER]


def build(settings: IntakeSettings, broker: NatsBroker) -> tuple[FastAPI, Intake]:
    registry = configured_registry(settings)
    url = settings.database_url_for("intake", settings.intake_database_url)
    store = IntakeStore(make_engine(url))
    base_url = settings.intake_public_url or f"http://{settings.intake_host}:{settings.intake_port}"
    declare_publications(broker, INTAKE)

    async def publish(event: ReportSubmitted) -> None:
        await broker.publish(
            event.model_dump_json(),
            submitted_subject(event.form, event.code),
            stream=SUBMISSIONS.name,
            headers={"Nats-Msg-Id": event.receipt_id, "content-type": "application/json"},
            timeout=PUBLISH_TIMEOUT_SECONDS,  # FastStream's 0.5 s default answers 503 under load
        )
        REPORTS_SUBMITTED.labels(event.form).inc()

    review_store = ReviewStore(store.engine)

    async def publish_review(event: ReviewRecorded) -> None:
        await publish_all(broker, REVIEWS, review_messages(registry, event))

    async def publish_deadline(event: DeadlineSet) -> None:
        msg_id = f"deadline:{event.year}:{event.node}:{event.at.isoformat()}"
        subject = deadline_subject(event.year, event.node)
        await publish_all(broker, DEADLINES, [(subject, event, msg_id)])

    reviews = Reviews(registry, store, review_store, publish_review, publish_deadline)
    declaration_store = DeclarationStore(store.engine)

    async def publish_declared(event: PublicationDeclared) -> None:
        subject = DECLARED.subject(event.kind, event.code)
        await publish_all(broker, DECLARATIONS, [(subject, event, event.declaration_id)])

    async def publish_judged(event: PublicationJudged) -> None:
        subject = JUDGED.subject(event.code)
        await publish_all(broker, DECLARATIONS, [(subject, event, event.judgement_id)])

    async def ask_recheck(year: int, node: str) -> dict[str, object]:
        reply = await broker.connection.request(RECHECK.subject(year, node), b"", timeout=5)
        return recheck_answer(reply.data)

    declarations = Declarations(
        registry, declaration_store, publish_declared, publish_judged, ask_recheck
    )
    intake = Intake(registry, store, publish, base_url, read_filing=reviews.filing_state)
    progress = ReceiptProgress(store)
    dead = DeadLetters(broker, "intake")
    # receipts follow a burst in batches (one transaction per linger, not per small fetch)
    linger = BURST_LINGER_SECONDS
    BatchStage(broker, VERDICT_CONSUMER, VerdictSeen, progress.on_verdicts, dead, linger=linger)
    BatchStage(
        broker, AGGREGATED_CONSUMER, AggregatedSeen, progress.on_aggregated, dead, linger=linger
    )
    BatchStage(
        broker, PUBLISHED_CONSUMER, PagesPublished, progress.on_published, dead, linger=linger
    )

    health = Health("intake", broker, CONSUMERS)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await store.create()
        await review_store.create()
        await declaration_store.create()
        await broker.connect()
        await prepare_topology(broker, settings, CONSUMERS)
        freeze_startup_state()
        await broker.start()
        flushed = await intake.flush_outbox()
        if flushed:
            log.warning("published %d submissions left in the outbox", flushed)
        health.start()
        yield
        await health.stop()
        await stop_broker(broker)
        await store.engine.dispose()

    app = create_app(intake, settings.max_body_bytes, lifespan=lifespan)
    app.include_router(build_review_router(intake, reviews, declarations))
    app.include_router(build_declarations_router(declarations))
    app.include_router(build_templates_router(intake))
    app.include_router(build_registry_router(intake, registry_path(settings)))
    app.include_router(health.router())
    app.add_middleware(HttpMetrics)
    return app, intake


def main() -> None:
    settings = IntakeSettings()
    setup_logging("intake", settings.log_level)
    broker = make_broker(settings, "intake")
    app, _intake = build(settings, broker)
    config = uvicorn.Config(
        app,
        host=settings.intake_host,
        port=settings.intake_port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=10,
    )
    asyncio.run(uvicorn.Server(config).serve())


async def issue_tokens(settings: IntakeSettings) -> dict[str, str]:
    """Issue a bearer token to every site and supervisory office of the registry and one to the
    operator; store their hashes. ``{code: token}`` (the operator's under ``operator``)."""
    issued = demo_tokens(configured_registry(settings))
    url = settings.database_url_for("intake", settings.intake_database_url)
    store = IntakeStore(make_engine(url))
    try:
        await store.create()
        await store.add_tokens(list(issued.values()))
    finally:
        await store.engine.dispose()
    return {code: token for code, (token, _kind, _code, _label) in issued.items()}

"""Composition root of the intake: settings, store, broker, consumers, HTTP app."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import uvicorn
from fastapi import FastAPI
from faststream.nats import NatsBroker
from pydantic_settings import SettingsConfigDict

from services.intake.app import create_app
from services.intake.console.app import build_console
from services.intake.console.context import Console
from services.intake.console.queries import ConsoleQueries
from services.intake.declarations import Declarations, DeclarationStore, recheck_answer
from services.intake.declarations_api import build_declarations_router
from services.intake.filing import Intake
from services.intake.outbox import Outbox
from services.intake.progress import AggregatedSeen, ReceiptProgress, VerdictSeen
from services.intake.registry_admin import RegistryAdmin
from services.intake.registry_api import build_registry_router
from services.intake.review import Reviews, review_messages
from services.intake.review_api import build_review_router
from services.intake.review_store import ReviewStore
from services.intake.store import IntakeStore, new_token
from services.intake.templates_api import build_templates_router
from services.intake.tokens import demo_tokens
from shared.contracts import (
    DEADLINES,
    DECLARATIONS,
    DECLARED,
    JUDGED,
    RECHECK,
    REGISTRY_CHANGES,
    REGISTRY_IMPORTED_SUBJECT,
    REVIEWS,
    SUBMISSIONS,
    DeadlineSet,
    PagesPublished,
    RegistryImported,
    ReminderDue,
    ReportSubmitted,
    ReviewRecorded,
    deadline_subject,
    submitted_subject,
)
from shared.publication import PublicationDeclared, PublicationJudged
from shared.runtime.db import make_engine
from shared.runtime.messaging import (
    BURST_LINGER_SECONDS,
    BatchStage,
    DeadLetters,
    jetstream,
    publish_all,
    publish_event,
    stop_broker,
)
from shared.runtime.metrics import REPORTS_SUBMITTED, Health, HttpMetrics, health_port, serve_health
from shared.runtime.registry_follow import last_import, live_registry
from shared.runtime.service import (
    QuietServer,
    configured_registry,
    declare_publications,
    freeze_startup_state,
    make_broker,
    prepare_topology,
    registry_path,
    run_service,
    setup_logging,
)
from shared.runtime.settings import CommonSettings
from shared.topology import INTAKE

log = logging.getLogger(__name__)

#: the entry points: what tools (`nianbao run`, `deploy tokens`) may use
__all__ = [
    "CONSUMERS",
    "IntakeSettings",
    "build",
    "issue_tokens",
    "main",
    "revoke_tokens",
    "rotate_token",
]


class IntakeSettings(CommonSettings):
    model_config = SettingsConfigDict(env_prefix="NIANBAO_", env_file=".env", extra="ignore")

    intake_host: str = "127.0.0.1"
    intake_port: int = 8000
    intake_database_url: str | None = None
    #: where callers reach the intake (status URLs in receipts)
    intake_public_url: str | None = None
    max_body_bytes: int = 256 * 1024


#: where the intake answers /healthz, /readyz and /metrics unless NIANBAO_HEALTH_PORT says
#: otherwise (0: nowhere): apart from the public API port, like every service's
HEALTH_PORT = 8004

VERDICT_CONSUMER = INTAKE.consumer("intake-verdicts")
AGGREGATED_CONSUMER = INTAKE.consumer("intake-aggregated")
PUBLISHED_CONSUMER = INTAKE.consumer("intake-published")
REMINDER_CONSUMER = INTAKE.consumer("intake-reminders")
CONSUMERS = [VERDICT_CONSUMER, AGGREGATED_CONSUMER, PUBLISHED_CONSUMER, REMINDER_CONSUMER]


def build(settings: IntakeSettings, broker: NatsBroker) -> tuple[FastAPI, Intake]:
    # the registry follows imports (this replica's or another's), switched between requests
    live = live_registry(settings)
    registry = live.registry
    url = settings.database_url_for("intake", settings.intake_database_url)
    store = IntakeStore(make_engine(url))
    base_url = settings.intake_public_url or f"http://{settings.intake_host}:{settings.intake_port}"
    declare_publications(broker, INTAKE)

    #: each form's submission counter (``labels()`` takes a lock and builds a key each call)
    submitted_counters: dict[str, Any] = {}

    async def publish(event: ReportSubmitted) -> None:
        # PUBLISH_TIMEOUT_SECONDS: FastStream's 0.5 s default answered 503 under load
        subject = submitted_subject(event.form, event.code)
        payload = event.model_dump_json().encode()
        await publish_event(jetstream(broker), SUBMISSIONS, subject, payload, event.receipt_id)
        counter = submitted_counters.get(event.form)
        if counter is None:
            counter = submitted_counters[event.form] = REPORTS_SUBMITTED.labels(event.form)
        counter.inc()

    review_store = ReviewStore(store.engine)

    async def publish_review(event: ReviewRecorded) -> None:
        await publish_all(broker, REVIEWS, review_messages(registry, event))

    async def publish_deadline(event: DeadlineSet) -> None:
        msg_id = f"deadline:{event.year}:{event.node}:{event.at.isoformat()}"
        subject = deadline_subject(event.year, event.node)
        await publish_all(broker, DEADLINES, [(subject, event, msg_id)])

    async def announce(event: RegistryImported) -> None:
        msg_id = f"registry:{event.digest}:{event.at.isoformat()}"
        await publish_all(broker, REGISTRY_CHANGES, [(REGISTRY_IMPORTED_SUBJECT, event, msg_id)])

    #: one outbox for every event the intake emits besides submissions (those ride their receipts)
    outbox = Outbox(store.engine)
    reviews = Reviews(registry, store, review_store, publish_review, publish_deadline, outbox)
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
        registry, declaration_store, outbox, publish_declared, publish_judged, ask_recheck
    )

    async def read_declarations(code: str, year: int) -> list[PublicationDeclared]:
        return [
            PublicationDeclared(**d.model_dump())
            for d in await declaration_store.declarations(code, year)
        ]

    intake = Intake(
        registry,
        store,
        publish,
        base_url,
        read_filing=reviews.filing_state,
        read_declarations=read_declarations,
    )
    console = Console(
        intake,
        reviews,
        ConsoleQueries(store.engine),
        settings.max_body_bytes,
        declarations=declarations,
    )
    progress = ReceiptProgress(store)
    dead = DeadLetters(broker, "intake")
    # receipts follow a burst in batches (one transaction per linger, not per small fetch)
    linger = BURST_LINGER_SECONDS
    guarded = live.guarded
    BatchStage(
        broker, VERDICT_CONSUMER, VerdictSeen, guarded(progress.on_verdicts), dead, linger=linger
    )
    BatchStage(
        broker,
        AGGREGATED_CONSUMER,
        AggregatedSeen,
        guarded(progress.on_aggregated),
        dead,
        linger=linger,
    )
    BatchStage(
        broker,
        PUBLISHED_CONSUMER,
        PagesPublished,
        guarded(progress.on_published),
        dead,
        linger=linger,
    )
    admin = RegistryAdmin(registry, registry_path(settings), announce)
    BatchStage(broker, REMINDER_CONSUMER, ReminderDue, guarded(console.queries.on_reminders), dead)

    health = Health("intake", broker, CONSUMERS)

    async def heal_announcement() -> None:
        """A registry saved but never announced (the intake stopped before NATS acknowledged):
        announce the file's registry now."""
        try:
            last = await last_import(broker)
            if registry_path(settings).exists() and (last is None or last[1].digest != live.digest):
                await admin.announce_current(live.registry)
        except Exception:  # the next import announces it; the intake serves meanwhile
            log.exception("could not announce the registry file's registry")

    health_host, health_at = health_port(HEALTH_PORT)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        server = await serve_health(health, health_host, health_at) if health_at else None
        if server is not None:
            log.info("health and metrics on http://%s:%d/metrics", health_host, health_at)
        try:
            async with running():
                yield
        finally:
            if server is not None:
                server.close()
                await server.wait_closed()

    @asynccontextmanager
    async def running() -> AsyncIterator[None]:
        await store.create()
        await review_store.create()
        await declaration_store.create()
        await console.create()
        await broker.connect()
        await prepare_topology(broker, settings, INTAKE, CONSUMERS)
        freeze_startup_state()
        await broker.start()
        flushed = await intake.flush_outbox()
        if flushed:
            log.warning("published %d submissions left in the outbox", flushed)
        resent = await outbox.resume()
        if resent:
            log.warning("published %d events left in the outbox", resent)
        await heal_announcement()
        live.start(broker, settings.registry_poll_seconds)
        health.start()
        yield
        await live.stop()
        await health.stop()
        await outbox.stop()
        await stop_broker(broker)
        await store.engine.dispose()

    app = create_app(intake, settings.max_body_bytes, lifespan=lifespan)
    app.include_router(build_review_router(intake, reviews, declarations))
    app.include_router(build_declarations_router(declarations))
    app.include_router(build_templates_router(intake))
    app.include_router(build_registry_router(admin))
    app.mount("/console", build_console(console))
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
    run_service(QuietServer(config).serve())


async def issue_tokens(
    settings: IntakeSettings, expires_at: datetime | None = None
) -> dict[str, str]:
    """Issue a bearer token to every site and supervisory office of the registry and one to the
    operator, valid until ``expires_at`` (None: until revoked); store their hashes.
    ``{code: token}`` (the operator's under ``operator``)."""
    issued = demo_tokens(configured_registry(settings))
    async with _token_store(settings) as store:
        await store.add_tokens(list(issued.values()), expires_at)
    return {code: token for code, (token, _kind, _code, _label) in issued.items()}


async def revoke_tokens(settings: IntakeSettings, code: str) -> int:
    """Revoke every token of a site or office (``operator``: the operator's); how many."""
    async with _token_store(settings) as store:
        return await store.revoke_tokens(code)


async def rotate_token(
    settings: IntakeSettings, code: str, expires_at: datetime | None = None
) -> str | None:
    """A new token for ``code``'s holder, its earlier ones revoked; None for an unknown code."""
    token = new_token()
    async with _token_store(settings) as store:
        return token if await store.rotate_token(code, token, expires_at) else None


@asynccontextmanager
async def _token_store(settings: IntakeSettings) -> AsyncIterator[IntakeStore]:
    url = settings.database_url_for("intake", settings.intake_database_url)
    store = IntakeStore(make_engine(url))
    try:
        await store.create()
        yield store
    finally:
        await store.engine.dispose()

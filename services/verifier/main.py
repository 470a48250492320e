"""Composition root of the verifier: settings, store, fetcher, broker, consumers, check loop,
re-check answers, HTTP port (health, metrics, evidence)."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import uvicorn
from fastapi import FastAPI
from faststream.nats import NatsBroker
from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.verifier.accepted import AcceptedSeen
from services.verifier.checks import Checker
from services.verifier.fetching import Fetcher, FetchPolicy, fixed_resolver, system_resolve
from services.verifier.http import create_app
from services.verifier.runs import Publish, Timing, Verifier
from services.verifier.store import VerifierStore
from shared.contracts import CHECKED, CHECKS, RECHECK
from shared.publication import PublicationChecked, PublicationDeclared, RecheckAnswered
from shared.registry import Registry
from shared.runtime.db import make_engine
from shared.runtime.messaging import (
    BURST_LINGER_SECONDS,
    BatchStage,
    DeadLetters,
    publish_all,
    stop_broker,
)
from shared.runtime.metrics import Health, count_published, health_port
from shared.runtime.registry_follow import live_registry
from shared.runtime.service import (
    QuietServer,
    declare_publications,
    freeze_startup_state,
    make_broker,
    prepare_topology,
    run_service,
    setup_logging,
)
from shared.runtime.settings import CommonSettings
from shared.topology import VERIFIER

log = logging.getLogger(__name__)

#: the entry points: what tools (`nianbao run`, the benchmark) may use
__all__ = ["CONSUMERS", "VerifierSettings", "build", "fetch_policy", "main", "standalone"]

ACCEPTED_CONSUMER = VERIFIER.consumer("verifier-accepted")
DECLARATIONS_CONSUMER = VERIFIER.consumer("verifier-declarations")
CONSUMERS = [ACCEPTED_CONSUMER, DECLARATIONS_CONSUMER]
DEFAULT_PORT = 8005


class VerifierSettings(CommonSettings):
    model_config = SettingsConfigDict(
        env_prefix="NIANBAO_", env_file=".env", extra="ignore", env_ignore_empty=True
    )

    verifier_database_url: str | None = None
    #: named in the User-Agent of every request, so a site's operator can reach us
    verifier_contact: str = "nianbao operator"
    #: networks allowed although private or loopback (JSON list of CIDRs): intranets, tests
    verifier_allow_networks: list[str] = Field(default_factory=list)
    #: host -> address, ``*.suffix`` and ``*`` allowed (JSON): for tests only; DNS otherwise
    verifier_resolve: dict[str, str] = Field(default_factory=dict)
    #: a CA bundle file for TLS verification (the system's when unset)
    verifier_ca_bundle: str | None = None
    verifier_host_pause_seconds: float = 1.0
    verifier_connect_timeout_seconds: float = 5.0
    verifier_total_timeout_seconds: float = 20.0
    verifier_max_page_bytes: int = 2 * 1024 * 1024
    verifier_max_redirects: int = 5
    #: checks in progress at once (each host still sees one request at a time)
    verifier_concurrency: int = 200
    #: between two checks of one publication before the national deadline
    verifier_interval_seconds: float = 86400
    #: first retry of an unreachable host (doubles up to the interval)
    verifier_backoff_seconds: float = 600
    #: a 专栏 is re-checked this long after a site below it declares (its coverage)
    verifier_column_settle_seconds: float = 300
    verifier_poll_seconds: float = 1.0
    pages_base_url: str = "http://127.0.0.1:8080"


def user_agent(contact: str) -> str:
    """``nianbao-verifier/1 (+annual report publication check; CONTACT)``, in ASCII (HTTP
    headers are; other characters of the contact become ``?``)."""
    safe = contact.encode("ascii", "replace").decode("ascii").replace("(", "").replace(")", "")
    return f"nianbao-verifier/1 (+annual report publication check; {safe})"


def fetch_policy(settings: VerifierSettings) -> FetchPolicy:
    return FetchPolicy(
        connect_timeout=settings.verifier_connect_timeout_seconds,
        total_timeout=settings.verifier_total_timeout_seconds,
        max_bytes=settings.verifier_max_page_bytes,
        max_redirects=settings.verifier_max_redirects,
        host_pause=settings.verifier_host_pause_seconds,
        user_agent=user_agent(settings.verifier_contact),
        verify=settings.verifier_ca_bundle or True,
        allowed_networks=tuple(
            ipaddress.ip_network(n, strict=False) for n in settings.verifier_allow_networks
        ),
    )


def _timing(settings: VerifierSettings) -> Timing:
    return Timing(
        interval=timedelta(seconds=settings.verifier_interval_seconds),
        backoff=timedelta(seconds=settings.verifier_backoff_seconds),
        column_settle=timedelta(seconds=settings.verifier_column_settle_seconds),
    )


async def standalone(
    settings: VerifierSettings, registry: Registry, publish: Publish
) -> tuple[Verifier, Callable[[], Awaitable[None]]]:
    """A verifier without a broker (the benchmark): its store created, events to ``publish``;
    and how to close it."""
    url = settings.database_url_for("verifier", settings.verifier_database_url)
    store = VerifierStore(make_engine(url))
    await store.create()
    resolve = fixed_resolver(settings.verifier_resolve) if settings.verifier_resolve else None
    fetcher = Fetcher(fetch_policy(settings), resolve or system_resolve)
    verifier = Verifier(
        registry,
        store,
        Checker(fetcher.get),
        publish,
        pages_base_url=settings.pages_base_url,
        timing=_timing(settings),
        concurrency=settings.verifier_concurrency,
        poll_seconds=settings.verifier_poll_seconds,
    )

    async def close() -> None:
        await fetcher.close()
        await store.engine.dispose()

    return verifier, close


def build(settings: VerifierSettings, broker: NatsBroker) -> tuple[FastAPI, Verifier]:
    # the registry follows imports, switched between batches (a check reads it once, at start)
    live = live_registry(settings)
    registry = live.registry
    url = settings.database_url_for("verifier", settings.verifier_database_url)
    store = VerifierStore(make_engine(url))
    resolve = (
        fixed_resolver(settings.verifier_resolve) if settings.verifier_resolve else system_resolve
    )
    fetcher = Fetcher(fetch_policy(settings), resolve)
    declare_publications(broker, VERIFIER)

    async def publish(event: PublicationChecked) -> None:
        items = [(CHECKED.subject(event.kind, event.code), event, event.check_id)]
        await publish_all(broker, CHECKS, items)
        count_published(CHECKS.name, items)

    verifier = Verifier(
        registry,
        store,
        Checker(fetcher.get),
        publish,
        pages_base_url=settings.pages_base_url,
        timing=_timing(settings),
        concurrency=settings.verifier_concurrency,
        poll_seconds=settings.verifier_poll_seconds,
    )
    dead = DeadLetters(broker, "verifier")
    on_accepted, on_declared = (
        live.guarded(verifier.on_accepted),
        live.guarded(verifier.on_declared),
    )
    # an accepted report is read along the few paths the verifier stores, not decoded whole;
    # a burst of them is gathered into batches (one transaction each)
    BatchStage(
        broker, ACCEPTED_CONSUMER, AcceptedSeen, on_accepted, dead, linger=BURST_LINGER_SECONDS
    )
    BatchStage(broker, DECLARATIONS_CONSUMER, PublicationDeclared, on_declared, dead)
    health = Health("verifier", broker, CONSUMERS)

    async def answer_recheck(msg: Any) -> None:
        tokens = msg.subject.split(".")
        try:
            answer = await verifier.recheck(int(tokens[2]), tokens[3])
        except (IndexError, ValueError) as exc:
            answer = {"started": False, "error": str(exc)}
        await msg.respond(RecheckAnswered.model_validate(answer).model_dump_json().encode())

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await store.create()
        await broker.connect()
        await prepare_topology(broker, settings, VERIFIER, CONSUMERS)
        freeze_startup_state()
        await broker.start()
        live.start(broker, settings.registry_poll_seconds)
        await broker.connection.subscribe(
            f"nianbao.{RECHECK.kind}.*.*", queue="verifier", cb=answer_recheck
        )
        republished = await verifier.republish()
        if republished:
            log.warning("published %d checks left unconfirmed", republished)
        loop = asyncio.create_task(verifier.run_forever(), name="verifier-checks")
        health.start()
        yield
        loop.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await loop
        await live.stop()
        await health.stop()
        await stop_broker(broker)
        await fetcher.close()
        await store.engine.dispose()

    return create_app(store, health, lifespan), verifier


def main() -> None:
    settings = VerifierSettings()
    setup_logging("verifier", settings.log_level)
    broker = make_broker(settings, "verifier")
    app, _verifier = build(settings, broker)
    host, port = health_port(DEFAULT_PORT)
    config = uvicorn.Config(
        app, host=host, port=port, log_config=None, access_log=False, timeout_graceful_shutdown=10
    )
    run_service(QuietServer(config).serve())

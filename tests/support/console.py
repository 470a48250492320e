"""The console without a broker for the route tests: a real token store and database, publishing
recorded in memory; a signed-in client; the CSRF token of a page."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx

from services.intake.app import create_app
from services.intake.console.app import build_console
from services.intake.console.context import Console
from services.intake.console.queries import ConsoleQueries
from services.intake.declarations import Declarations, DeclarationStore
from services.intake.filing import Intake
from services.intake.outbox import Outbox
from services.intake.review import Reviews
from services.intake.review_api import build_review_router
from services.intake.review_store import ReviewStore
from services.intake.store import IntakeStore
from shared.contracts import DeadlineSet, ReportSubmitted, ReviewRecorded
from shared.publication import PublicationDeclared, PublicationJudged
from shared.registry.demo import demo_registry
from shared.runtime.db import make_engine

#: holder code -> (token, kind)
HOLDERS = {
    "5109030001": ("nb_site_chuanshan", "site"),
    "5109040001": ("nb_site_anju", "site"),
    "510900": ("nb_office_suining", "office"),
    "510100": ("nb_office_chengdu", "office"),
    "510000": ("nb_office_sichuan", "office"),
}
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass
class Published:
    submitted: list[ReportSubmitted] = field(default_factory=list)
    reviews: list[ReviewRecorded] = field(default_factory=list)
    deadlines: list[DeadlineSet] = field(default_factory=list)
    declared: list[PublicationDeclared] = field(default_factory=list)
    judged: list[PublicationJudged] = field(default_factory=list)


@dataclass
class ConsoleRig:
    """The intake's app with the console mounted, and what it published."""

    app: httpx.ASGITransport
    intake: Intake
    reviews: Reviews
    console: Console
    published: Published
    declarations: Declarations

    def client(self, base_url: str = "http://test") -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=self.app, base_url=base_url)

    async def judge(self, receipt_id: str, outcome: str = "accepted") -> None:
        """What the validator's verdict does to a receipt (ReceiptProgress), done directly."""
        now = datetime.now(UTC)
        await self.intake.store.record(
            [{"rid": receipt_id, "outcome": outcome, "judged_at": now, "issues": []}]
        )


@asynccontextmanager
async def console_rig(tmp_path: Path, database_url: str | None = None) -> AsyncIterator[ConsoleRig]:
    registry = demo_registry()
    store = IntakeStore(make_engine(database_url or f"sqlite+aiosqlite:///{tmp_path / 'i.db'}"))
    await store.create()
    await store.add_tokens(
        [(token, kind, code, code) for code, (token, kind) in HOLDERS.items()]  # type: ignore[misc]
    )
    review_store = ReviewStore(store.engine)
    await review_store.create()
    published = Published()

    async def publish(event: ReportSubmitted) -> None:
        published.submitted.append(event)

    async def publish_review(event: ReviewRecorded) -> None:
        published.reviews.append(event)

    async def publish_deadline(event: DeadlineSet) -> None:
        published.deadlines.append(event)

    async def publish_declared(event: PublicationDeclared) -> None:
        published.declared.append(event)

    async def publish_judged(event: PublicationJudged) -> None:
        published.judged.append(event)

    async def no_recheck(_year: int, _node: str) -> dict[str, object]:
        raise AssertionError("no re-check is asked in the console's tests")

    reviews = Reviews(registry, store, review_store, publish_review, publish_deadline)
    intake = Intake(registry, store, publish, "http://test", read_filing=reviews.filing_state)
    declaration_store = DeclarationStore(store.engine)
    await declaration_store.create()
    outbox = Outbox(store.engine)
    declarations = Declarations(
        registry, declaration_store, outbox, publish_declared, publish_judged, no_recheck
    )
    console = Console(
        intake, reviews, ConsoleQueries(store.engine), 256 * 1024, declarations=declarations
    )
    await console.create()
    app = create_app(intake, 256 * 1024)
    app.include_router(build_review_router(intake, reviews))
    app.mount("/console", build_console(console))
    try:
        yield ConsoleRig(
            httpx.ASGITransport(app=app), intake, reviews, console, published, declarations
        )
    finally:
        await outbox.stop()
        await store.engine.dispose()


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "the page has no CSRF token"
    return found.group(1)


async def sign_in(client: httpx.AsyncClient, code: str) -> str:
    """Sign the client in as a holder of HOLDERS; returns the session's CSRF token."""
    page = await client.get("/console/sign-in")
    response = await client.post(
        "/console/sign-in", data={"csrf": csrf_of(page.text), "token": HOLDERS[code][0]}
    )
    assert response.status_code == 303, response.text
    home = await client.get("/console/home")
    assert home.status_code == 200
    return csrf_of(home.text)

"""The outbox of review and deadline events on a real database (PostgreSQL when reachable): an
action whose event gets no PubAck is kept with its event, and the next send publishes what was
kept first, in order, with the same identity."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from services.intake.errors import Unavailable
from services.intake.review import Reviews
from services.intake.review_store import ReviewStore
from services.intake.store import IntakeStore
from shared.access import Caller
from shared.contracts import DeadlineSet, ReviewRecorded
from shared.deadlines import national_deadline
from shared.registry.demo import demo_registry
from shared.runtime.db import make_engine

SITE = "5109030001"
YEAR = 2026
OPERATOR = Caller(kind="operator")


class Stream:
    """Records what reached it; refuses while ``down``."""

    def __init__(self) -> None:
        self.down = False
        self.got: list[ReviewRecorded | DeadlineSet] = []

    async def __call__(self, event: ReviewRecorded | DeadlineSet) -> None:
        if self.down:
            raise TimeoutError("nats: timeout")
        self.got.append(event)


@pytest.fixture
async def parts(database_url: str) -> AsyncIterator[tuple[Reviews, ReviewStore, Stream]]:
    store = IntakeStore(make_engine(database_url))
    await store.create()
    review_store = ReviewStore(store.engine)
    await review_store.create()
    stream = Stream()
    reviews = Reviews(demo_registry(), store, review_store, stream, stream)
    try:
        yield reviews, review_store, stream
    finally:
        await reviews.outbox.stop()
        await store.engine.dispose()


async def approve(reviews: Reviews) -> ReviewRecorded:
    """An approval recorded as the use case records it (the receipt checks are elsewhere)."""
    return await reviews._record(OPERATOR, "approve", SITE, "work-report", YEAR, None, "", [])


async def test_an_unacknowledged_action_is_kept_and_sent_first_next_time(
    parts: tuple[Reviews, ReviewStore, Stream],
) -> None:
    reviews, store, stream = parts
    stream.down = True
    with pytest.raises(Unavailable):
        await approve(reviews)
    kept = await store.of_filing(SITE, "work-report", YEAR)
    assert [a.action for a in kept] == ["approve"]  # not deleted on 503
    assert await reviews.is_locked(SITE, "work-report", YEAR)
    assert len(await reviews.outbox.pending()) == 1

    stream.down = False
    unlocked = await reviews.unlock(OPERATOR, SITE, "work-report", YEAR, "更正")
    assert [e.review_id for e in stream.got] == [kept[0].review_id, unlocked.review_id]
    assert stream.got[0] == ReviewRecorded(**kept[0].model_dump())  # the same event again
    assert await reviews.outbox.pending() == []


async def test_an_unacknowledged_deadline_stays_set_and_is_sent_at_resume(
    parts: tuple[Reviews, ReviewStore, Stream],
) -> None:
    reviews, store, stream = parts
    deadline = national_deadline(YEAR) - timedelta(days=2)
    if deadline <= datetime.now(UTC):
        pytest.skip("no internal deadline can be set for this year any more")
    stream.down = True
    with pytest.raises(Unavailable):
        await reviews.set_deadline(OPERATOR, YEAR, "510000", deadline)
    stored = await store.deadline(YEAR, "510000")
    assert stored is not None and stored.deadline == deadline
    stream.down = False
    assert await reviews.outbox.resume() == 1
    assert [(e.node, e.deadline) for e in stream.got if isinstance(e, DeadlineSet)] == [
        ("510000", deadline)
    ]
    assert await reviews.outbox.pending() == []

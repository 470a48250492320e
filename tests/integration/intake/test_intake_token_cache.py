"""The intake's token cache against a database: lookups are kept a few seconds, never past a
token's expiry; a token added through the store works at once, even right after being refused."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from services.intake import store as store_module
from services.intake.auth import authenticate
from services.intake.errors import Unauthenticated
from services.intake.store import IntakeStore, Token, hash_token
from shared.access import Caller
from shared.runtime.db import make_engine, sql_table

SITE = "5109030001"


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[IntakeStore]:
    store = IntakeStore(make_engine(f"sqlite+aiosqlite:///{tmp_path / 'intake.db'}"))
    await store.create()
    try:
        yield store
    finally:
        await store.engine.dispose()


async def add_expiring(store: IntakeStore, token: str, expires_at: datetime) -> None:
    await store.add_tokens([(token, "site", SITE, "船山区")])
    table = sql_table(Token)
    async with store.engine.begin() as conn:
        await conn.execute(
            update(table)
            .where(table.c.token_hash == hash_token(token))
            .values(expires_at=expires_at)
        )


async def test_a_cached_token_is_refused_once_past_its_expiry(store: IntakeStore) -> None:
    now = datetime.now(UTC)
    await add_expiring(store, "nb_expiring", now + timedelta(minutes=5))
    assert await store.caller("nb_expiring", now) == Caller(kind="site", code=SITE, label="船山区")
    table = sql_table(Token)
    async with store.engine.begin() as conn:  # gone from the database: the cache answers alone
        await conn.execute(table.delete())
    assert await store.caller("nb_expiring", now + timedelta(minutes=4)) is not None
    assert await store.caller("nb_expiring", now + timedelta(minutes=5)) is None
    assert await store.caller("nb_expiring", now + timedelta(hours=1)) is None


async def test_an_expired_token_is_refused_by_the_intake(store: IntakeStore) -> None:
    await add_expiring(store, "nb_expired", datetime.now(UTC) - timedelta(seconds=1))
    for _attempt in range(2):  # refused when looked up, and again from the cache
        with pytest.raises(Unauthenticated):
            await authenticate(store, "nb_expired")


async def test_a_token_added_after_being_refused_works_at_once(store: IntakeStore) -> None:
    with pytest.raises(Unauthenticated):  # and "unknown" is now cached
        await authenticate(store, "nb_new")
    await store.add_tokens([("nb_new", "site", SITE, "船山区")])
    assert (await authenticate(store, "nb_new")).code == SITE


async def test_a_revoked_token_stops_working_within_the_cache_time(
    store: IntakeStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    await store.add_tokens([("nb_revoked", "site", SITE, "船山区")])
    now = datetime.now(UTC)
    assert await store.caller("nb_revoked", now) is not None
    table = sql_table(Token)
    async with store.engine.begin() as conn:
        await conn.execute(update(table).values(revoked=True))
    assert await store.caller("nb_revoked", now) is not None  # still cached
    monkeypatch.setattr(store_module, "TOKEN_CACHE_SECONDS", 0.0)  # the cache time has passed
    assert await store.caller("nb_revoked", now) is None


async def test_concurrent_lookups_each_get_their_own_holder(store: IntakeStore) -> None:
    """Lookups of concurrent requests go to the database together; each gets its own answer."""
    tokens = [(f"nb_site_{i}", "site", f"code{i}", f"site {i}") for i in range(40)]
    await store.add_tokens(tokens)
    await add_expiring(store, "nb_late", datetime.now(UTC) - timedelta(minutes=1))
    asked = [t for t, *_rest in tokens] + ["nb_unknown", "nb_late", "nb_site_3"]
    callers = await asyncio.gather(*(store.caller(t, datetime.now(UTC)) for t in asked))
    codes = [c.code if c else None for c in callers]
    assert codes == [f"code{i}" for i in range(40)] + [None, None, "code3"]

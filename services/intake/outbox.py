"""The intake's event outbox: an event is stored with its record in one transaction and leaves
the outbox on its PubAck. Review actions, deadlines, publication declarations and judgements go
out through it, oldest first, with the same message ids when sent again: at once, by a retry in
the background after a failure, before the next event, and at start."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Column, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlmodel import Field, SQLModel

from shared.runtime.db import JsonDocument, create_schema, sql_table

log = logging.getLogger(__name__)

#: seconds between attempts to send what the outbox kept after a publish failed (the last repeats)
RETRY_SECONDS = (1.0, 2.0, 5.0, 15.0, 30.0)


class PendingEvent(SQLModel, table=True):
    """An event stored with its record and not yet acknowledged by JetStream: sent in ``seq``
    order, deleted after its PubAck."""

    __tablename__ = "intake_event_outbox"

    seq: int | None = Field(default=None, primary_key=True)
    #: which sender publishes it: "review", "deadline", "declared", "judged"
    kind: str
    event: dict[str, Any] = Field(sa_column=Column(JsonDocument, nullable=False))


async def queue(conn: AsyncConnection, kind: str, event: BaseModel) -> None:
    """Put an event in the outbox within the caller's transaction (the one storing its record)."""
    values = {"kind": kind, "event": event.model_dump(mode="json")}
    await conn.execute(sql_table(PendingEvent).insert().values(**values))


class Sender:
    """How one kind of event is read back from the outbox and published."""

    def __init__(self, model: type[BaseModel], publish: Callable[[Any], Awaitable[None]]) -> None:
        self.model = model
        self.publish = publish


class Outbox:
    """One outbox per intake process, shared by every use case that emits events: one sender at
    a time, so events leave in the order they were stored."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.senders: dict[str, Sender] = {}
        self._sending = asyncio.Lock()
        self._retry: asyncio.Task[None] | None = None

    def register(
        self, kind: str, model: type[BaseModel], publish: Callable[[Any], Awaitable[None]]
    ) -> None:
        self.senders[kind] = Sender(model, publish)

    async def create(self) -> None:
        await create_schema(self.engine, [PendingEvent])

    async def pending(self) -> list[PendingEvent]:
        """The outbox, oldest first."""
        table = sql_table(PendingEvent)
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(table).order_by(table.c.seq))
            return [PendingEvent.model_validate(dict(r._mapping)) for r in rows]

    async def _sent(self, seq: int) -> None:
        table = sql_table(PendingEvent)
        async with self.engine.begin() as conn:
            await conn.execute(table.delete().where(table.c.seq == seq))

    async def flush(self) -> int:
        """Publish every event of the outbox, oldest first; how many were sent. Raises on the
        first that gets no PubAck (it and those after it stay)."""
        async with self._sending:
            pending = await self.pending()
            for row in pending:
                sender = self.senders[row.kind]
                await sender.publish(sender.model.model_validate(row.event))
                assert row.seq is not None
                await self._sent(row.seq)
            return len(pending)

    async def send(self) -> None:
        """Send the outbox (the newest event last), or keep it, retry in the background and
        raise what the stream answered."""
        try:
            await self.flush()
        except Exception:
            self._retry_later()
            raise

    def _retry_later(self) -> None:
        if self._retry is None or self._retry.done():
            self._retry = asyncio.create_task(self._retry_until_sent(), name="intake-outbox")

    async def _retry_until_sent(self) -> None:
        for attempt in itertools.count():
            await asyncio.sleep(RETRY_SECONDS[min(attempt, len(RETRY_SECONDS) - 1)])
            try:
                sent = await self.flush()
            except Exception as exc:
                log.warning("event outbox not sent yet: %r", exc)
                continue
            log.info("event outbox sent: %d events", sent)
            return

    async def resume(self) -> int:
        """At start: send what the outbox kept (a crash or a failed publish before the stop);
        retried in the background when the stream does not acknowledge yet."""
        try:
            return await self.flush()
        except Exception as exc:
            log.warning("event outbox not sent at start, retrying: %r", exc)
            self._retry_later()
            return 0

    async def stop(self) -> None:
        """Stop retrying (what is left is sent at the next start)."""
        if self._retry is not None:
            self._retry.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._retry

"""Group commit: concurrent requests share one database round trip instead of one each."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

#: the most items one flush takes; the rest wait for the next flush
MAX_BATCH = 256


def never(_exc: Exception) -> bool:
    return False


class Batcher(Generic[T, R]):
    """``await submit(item)`` returns once a flush containing the item has succeeded, with what
    that flush returned (for a read: every item's answer, to pick one's own from), or raises what
    it raised. A flush takes everything submitted so far (up to ``max_batch``), so the items that
    arrive while one flush runs go together in the next: batches grow with the load and a lone
    item waits for no timer. A flush is one call of ``flush`` (one transaction): it succeeds or
    fails for all of its items, unless ``by_item(exc)`` says the failure may be one item's
    (a row the database refuses): then each item is flushed again alone, and only the items that
    fail alone fail, so no request fails because of another request's row."""

    def __init__(
        self,
        flush: Callable[[list[T]], Awaitable[R]],
        max_batch: int = MAX_BATCH,
        by_item: Callable[[Exception], bool] = never,
    ) -> None:
        self._flush = flush
        self._max_batch = max_batch
        self._by_item = by_item
        self._waiting: list[tuple[T, asyncio.Future[R]]] = []
        #: the task flushing until nothing waits; None while idle
        self._flusher: asyncio.Task[None] | None = None

    async def submit(self, item: T) -> R:
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush_waiting())
        return await future

    async def _flush_waiting(self) -> None:
        batch: list[tuple[T, asyncio.Future[R]]] = []
        try:
            while self._waiting:
                batch = self._waiting[: self._max_batch]
                del self._waiting[: self._max_batch]
                await self._flush_batch(batch)
                batch = []
        finally:
            self._flusher = None
            for _item, future in batch + self._waiting:  # cancelled (shutdown): nobody hangs
                future.cancel()
            self._waiting.clear()

    async def _flush_batch(self, batch: list[tuple[T, asyncio.Future[R]]]) -> None:
        try:
            result = await self._flush([item for item, _future in batch])
        except Exception as exc:
            if len(batch) > 1 and self._by_item(exc):
                for one in batch:
                    await self._flush_batch([one])
                return
            for _item, future in batch:
                if not future.done():
                    future.set_exception(exc)
        else:
            for _item, future in batch:
                if not future.done():  # its submitter was cancelled meanwhile
                    future.set_result(result)

"""The intake's group commit helper: concurrent submissions share one flush, a failed flush fails
all of its items and none of the next flush's."""

from __future__ import annotations

import asyncio

import pytest

from services.intake.batching import Batcher


class Flushes:
    """A flush that records its batches, fails those holding ``poison``, and can be held."""

    def __init__(self, poison: object = None) -> None:
        self.batches: list[list[object]] = []
        self.poison = poison
        self.release = asyncio.Event()
        self.release.set()

    async def __call__(self, items: list[object]) -> str:
        self.batches.append(items)
        await self.release.wait()
        if self.poison in items:
            raise RuntimeError(f"cannot store {self.poison}")
        return f"batch {len(self.batches)}"


async def test_submissions_that_arrive_together_are_flushed_together() -> None:
    flushes = Flushes()
    batcher = Batcher(flushes)
    results = await asyncio.gather(*(batcher.submit(i) for i in range(5)))
    assert flushes.batches == [[0, 1, 2, 3, 4]]
    assert results == ["batch 1"] * 5  # each submitter gets what its flush returned


async def test_what_arrives_during_a_flush_goes_in_the_next_one() -> None:
    flushes = Flushes()
    flushes.release.clear()
    batcher = Batcher(flushes)
    first = asyncio.ensure_future(batcher.submit("a"))
    await asyncio.sleep(0.01)  # the flush of "a" runs (held)
    later = [asyncio.ensure_future(batcher.submit(x)) for x in ("b", "c")]
    await asyncio.sleep(0.01)
    flushes.release.set()
    assert await first == "batch 1" and await asyncio.gather(*later) == ["batch 2"] * 2
    assert flushes.batches == [["a"], ["b", "c"]]


async def test_a_failed_flush_fails_each_of_its_items_and_no_other() -> None:
    flushes = Flushes(poison="bad")
    flushes.release.clear()
    batcher = Batcher(flushes)
    first = asyncio.ensure_future(batcher.submit("ok-1"))
    await asyncio.sleep(0.01)
    doomed = [asyncio.ensure_future(batcher.submit(x)) for x in ("ok-2", "bad", "ok-3")]
    await asyncio.sleep(0.01)
    flushes.release.set()
    assert await first == "batch 1"
    outcomes = await asyncio.gather(*doomed, return_exceptions=True)
    assert all(isinstance(o, RuntimeError) and "bad" in str(o) for o in outcomes)
    assert await batcher.submit("ok-4") == "batch 3"  # the batcher goes on


async def test_a_flush_takes_at_most_max_batch_items() -> None:
    flushes = Flushes()
    batcher = Batcher(flushes, max_batch=3)
    await asyncio.gather(*(batcher.submit(i) for i in range(7)))
    assert flushes.batches == [[0, 1, 2], [3, 4, 5], [6]]


async def test_a_cancelled_submitter_leaves_the_others_served() -> None:
    flushes = Flushes()
    flushes.release.clear()
    batcher = Batcher(flushes)
    gone = asyncio.ensure_future(batcher.submit("gone"))
    staying = asyncio.ensure_future(batcher.submit("staying"))
    await asyncio.sleep(0.01)
    gone.cancel()
    flushes.release.set()
    assert await staying == "batch 1"
    with pytest.raises(asyncio.CancelledError):
        await gone
    assert flushes.batches == [["gone", "staying"]]  # its item was flushed all the same


async def test_a_flush_failing_for_one_item_is_retried_item_by_item() -> None:
    flushes = Flushes(poison="bad")
    flushes.release.clear()
    batcher = Batcher(flushes, by_item=lambda exc: "cannot store" in str(exc))
    first = asyncio.ensure_future(batcher.submit("ok-1"))
    await asyncio.sleep(0.01)
    rest = [asyncio.ensure_future(batcher.submit(x)) for x in ("ok-2", "bad", "ok-3")]
    await asyncio.sleep(0.01)
    flushes.release.set()
    assert await first == "batch 1"
    ok_2, bad, ok_3 = await asyncio.gather(*rest, return_exceptions=True)
    assert (ok_2, ok_3) == ("batch 3", "batch 5")  # each flushed alone, after the failed batch
    assert isinstance(bad, RuntimeError) and "bad" in str(bad)
    assert flushes.batches == [["ok-1"], ["ok-2", "bad", "ok-3"], ["ok-2"], ["bad"], ["ok-3"]]


async def test_a_failure_that_is_not_one_items_fails_the_batch_without_retries() -> None:
    flushes = Flushes(poison="bad")
    batcher = Batcher(flushes, by_item=lambda exc: False)
    outcomes = await asyncio.gather(
        *(batcher.submit(x) for x in ("ok", "bad")), return_exceptions=True
    )
    assert all(isinstance(o, RuntimeError) for o in outcomes)
    assert flushes.batches == [["ok", "bad"]]

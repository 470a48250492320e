"""Roll-up events are built and sent a chunk at a time: every node's at once (the aggregator's
start, an import) held ~38 MiB of events at national scale."""

from __future__ import annotations

from collections.abc import Sequence

from services.aggregator.events import ROLLUP_CHUNK, publish_rollups
from services.aggregator.ports import Message
from shared.contracts import RollupUpdated
from shared.forms import WORK_REPORT, count_paths, load_form, yes_no_paths
from shared.registry.national import national_registry
from shared.rollup import full_rollups


async def test_every_rollup_is_sent_once_in_order_a_chunk_at_a_time() -> None:
    registry = national_registry(300)
    form = load_form(WORK_REPORT)
    rollups = list(full_rollups(registry, 2026, {}, count_paths(form), yes_no_paths(form)).values())
    assert len(rollups) > 2 * ROLLUP_CHUNK
    calls: list[Sequence[Message]] = []

    async def publish(items: Sequence[Message]) -> None:
        calls.append(items)

    await publish_rollups(publish, rollups)
    assert [len(c) for c in calls[:-1]] == [ROLLUP_CHUNK] * (len(calls) - 1)
    assert 0 < len(calls[-1]) <= ROLLUP_CHUNK
    sent = [event for call in calls for _subject, event, _id in call]
    assert all(isinstance(event, RollupUpdated) for event in sent)
    assert [(e.year, e.node) for e in sent] == [(r.year, r.node) for r in rollups]


async def test_nothing_to_send_sends_nothing() -> None:
    calls: list[Sequence[Message]] = []

    async def publish(items: Sequence[Message]) -> None:
        calls.append(items)

    await publish_rollups(publish, [])
    assert calls == []

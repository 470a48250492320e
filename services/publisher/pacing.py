"""Burst pacing: while events pour in, costly node pages wait and yield the CPU to the pipeline."""

from __future__ import annotations

import asyncio
import time

from shared.runtime.messaging import Arrivals

#: while events arrived this recently, node pages sleep BURST_YIELD × their render time after
#: each one: they take at most a twentieth of a core from the pipeline during a burst (they are
#: rendered in full once it is over)
BURST_QUIET_SECONDS = 1.0
BURST_YIELD = 19.0
#: while events trickle in (fewer than BURST_EVENTS a second) they sleep this × their render
#: time: half a core at most, the pipeline keeps its turn on the event loop
TRICKLE_YIELD = 1.0
#: a burst: at least this many events within BURST_QUIET_SECONDS (a few corrections are not)
BURST_EVENTS = 100
#: a page that took longer than this to render waits PACE_FACTOR × that time (at most
#: PACE_LIMIT_SECONDS) before it is rendered again: its changes coalesce under a burst
COSTLY_SECONDS = 0.05
PACE_FACTOR = 8
PACE_LIMIT_SECONDS = 30.0
#: how often a yielding page looks whether the burst is over
YIELD_STEP_SECONDS = 0.05


class BurstPacer:
    """How fast events arrive, and when a costly page may be rendered again."""

    def __init__(self) -> None:
        #: when the last aggregated or roll-up event arrived (node pages yield during bursts)
        self.last_event = 0.0
        #: (arrival, events) of recent batches: how fast events come
        self.arrivals = Arrivals(BURST_QUIET_SECONDS)
        #: earliest monotonic time a costly page may be rendered again (coalescing under bursts)
        self.not_before: dict[str, float] = {}

    def note_events(self, count: int) -> None:
        self.last_event = time.monotonic()
        self.arrivals.note(count)

    def bursting(self) -> bool:
        return self.arrivals.recent() >= BURST_EVENTS

    def quiet(self) -> bool:
        """No event for BURST_QUIET_SECONDS: whatever a page shows now is likely final."""
        return time.monotonic() - self.last_event >= BURST_QUIET_SECONDS

    def due(self, key: str, now: float) -> bool:
        """A paced page waits for its time only while events still arrive: once the system is
        quiet nothing is left to coalesce, and its render is the final one."""
        return self.not_before.get(key, 0) <= now or self.quiet()

    def pace(self, key: str, spent: float) -> None:
        """A page that took ``spent`` seconds: when costly, it waits before its next render."""
        if spent > COSTLY_SECONDS:
            self.not_before[key] = time.monotonic() + min(PACE_LIMIT_SECONDS, PACE_FACTOR * spent)

    async def yield_after(self, spent: float) -> None:
        """After a page that took ``spent`` seconds, leave the CPU to a burst for a while; a
        trickle of events (a burst's tail, a few corrections) gets a short pause instead, so
        node pages catch up at once after a burst."""
        await self.yield_to_burst(spent * (BURST_YIELD if self.bursting() else TRICKLE_YIELD))

    async def yield_to_burst(self, seconds: float) -> None:
        """Sleep up to ``seconds``, but only while events keep arriving."""
        until = time.monotonic() + seconds
        for _ in range(int(seconds / YIELD_STEP_SECONDS) + 1):
            now = time.monotonic()
            if now >= until or now - self.last_event >= BURST_QUIET_SECONDS:
                return
            await asyncio.sleep(YIELD_STEP_SECONDS)

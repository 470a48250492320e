"""What the system says, as it says it: published, verdict and roll-up events, timestamped.

A plain NATS subscription sees every message the services publish to JetStream, at the moment it
is published, without adding a consumer to the streams. Bodies are decoded only where needed:
``published`` (small), and the national roll-up; verdicts are told apart by subject and carry
their receipt in the ``Nats-Msg-Id`` header; other roll-ups only have their time recorded.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import nats
from nats.aio.client import Client
from nats.aio.msg import Msg

from shared.contracts import PREFIX, rollup_subject
from shared.registry import NATIONAL

#: the count path amendments change (services.cases.natural_person and its total)
TRACKED_SUM = "services.cases.total"


@dataclass(frozen=True)
class NationalSeen:
    at: float
    reported: int
    expected: int
    tracked_sum: int


@dataclass
class EventWatch:
    """Subscriptions for one benchmark run; every time is ``time.monotonic()``."""

    year: int
    client: Client | None = None
    published: dict[str, float] = field(default_factory=dict)
    published_codes: dict[str, float] = field(default_factory=dict)
    accepted: dict[str, float] = field(default_factory=dict)
    rejected: dict[str, float] = field(default_factory=dict)
    rollup_last: dict[str, float] = field(default_factory=dict)
    rollup_messages: int = 0
    national: list[NationalSeen] = field(default_factory=list)

    @property
    def national_subject(self) -> str:
        return rollup_subject(self.year, "admin", [NATIONAL])

    async def start(self, nats_url: str) -> None:
        self.client = await nats.connect(nats_url, name="nianbao-bench")
        for subject, handler in (
            (f"{PREFIX}.published.>", self._published),
            (f"{PREFIX}.accepted.>", self._accepted),
            (f"{PREFIX}.rejected.>", self._rejected),
            (f"{PREFIX}.rollup.{self.year}.>", self._rollup),
        ):
            await self.client.subscribe(
                subject, cb=handler, pending_msgs_limit=4_000_000, pending_bytes_limit=2**31
            )
        await self.client.flush()

    async def stop(self) -> None:
        if self.client is not None:
            await self.client.drain()

    async def _published(self, msg: Msg) -> None:
        now = time.monotonic()
        body: dict[str, Any] = json.loads(msg.data)
        receipt = body.get("receipt_id")
        if receipt:
            self.published.setdefault(receipt, now)
        self.published_codes[body["code"]] = now

    async def _accepted(self, msg: Msg) -> None:
        self.accepted.setdefault(_receipt_of(msg), time.monotonic())

    async def _rejected(self, msg: Msg) -> None:
        self.rejected.setdefault(_receipt_of(msg), time.monotonic())

    async def _rollup(self, msg: Msg) -> None:
        now = time.monotonic()
        self.rollup_messages += 1
        self.rollup_last[msg.subject] = now
        if msg.subject == self.national_subject:
            tally = json.loads(msg.data)["rollup"]["tally"]
            self.national.append(
                NationalSeen(
                    at=now,
                    reported=int(tally["reported"]),
                    expected=int(tally["expected"]),
                    tracked_sum=int(tally["sums"].get(TRACKED_SUM, 0)),
                )
            )

    def national_since(self, since: float, test: Callable[[NationalSeen], bool]) -> float | None:
        """When the national roll-up first met ``test`` after ``since``, if it has."""
        hits = [s.at for s in self.national if s.at >= since and test(s)]
        return min(hits) if hits else None


def _receipt_of(msg: Msg) -> str:
    msg_id = (msg.headers or {}).get("Nats-Msg-Id", "")
    return msg_id.removeprefix("verdict:")


async def wait_for(condition: Callable[[], Any], within: float, interval: float = 0.01) -> Any:
    """Poll ``condition`` until it is truthy (event times are taken when events arrive, so the
    polling interval does not enter any measurement); ``None`` at the deadline."""
    deadline = time.monotonic() + within
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            return None
        await asyncio.sleep(interval)

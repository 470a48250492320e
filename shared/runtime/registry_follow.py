"""A running service follows registry imports: it switches to a new registry between batches.

The registry file stays the source of truth (and what a service reads at start). After an import
the intake publishes ``RegistryImported`` to ``NIANBAO_REGISTRY``; every process of every service
reads that stream's last message by direct get (each replica on its own, no durable), and when it
names a registry other than the one in use, loads the file and switches: it waits until no batch
is being handled, holds new ones back, and hands the new registry to the service's switch (which
calls ``LiveRegistry.adopt`` at its own consistent point and recomputes what depends on it).

A process reads that last message when it starts following, when a plain subscription to the
subject tells it an import was announced, and every ``RECHECK_SECONDS`` (an announcement sent
while its connection was down reaches no subscription); while an announced registry is not in
its file yet, every ``interval`` seconds. Nothing runs while nothing changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

from faststream.nats import NatsBroker
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js.errors import NotFoundError

from shared.contracts import RegistryImported
from shared.registry import Registry, RegistryError, registry_digest
from shared.runtime.service import configured_registry
from shared.runtime.settings import CommonSettings
from shared.topology import REGISTRY_FOLLOWED

log = logging.getLogger(__name__)

T = TypeVar("T")
#: a service's switch to a new registry (it calls ``LiveRegistry.adopt`` itself)
Switch = Callable[[Registry], Awaitable[None]]
#: times an import is looked at while the file holds another registry, before it is ignored
MAX_MISSES = 10
#: how often a process reads the last import when no announcement woke it
RECHECK_SECONDS = 60.0


class BatchGate:
    """Batches run side by side; a switch waits until none runs and holds new ones back."""

    def __init__(self) -> None:
        self._condition = asyncio.Condition()
        self._active = 0
        self._switching = False

    @asynccontextmanager
    async def batch(self) -> AsyncIterator[None]:
        async with self._condition:
            await self._condition.wait_for(lambda: not self._switching)
            self._active += 1
        try:
            yield
        finally:
            async with self._condition:
                self._active -= 1
                self._condition.notify_all()

    @asynccontextmanager
    async def switch(self) -> AsyncIterator[None]:
        async with self._condition:
            await self._condition.wait_for(lambda: not self._switching)
            self._switching = True
            await self._condition.wait_for(lambda: self._active == 0)
        try:
            yield
        finally:
            async with self._condition:
                self._switching = False
                self._condition.notify_all()


class LiveRegistry:
    """The registry a service process uses, switched when an import is announced.

    ``registry`` is one object for the life of the process: every part of the service holds it,
    and ``adopt`` changes it in place (one assignment), so all parts switch together.
    """

    def __init__(
        self,
        registry: Registry,
        load: Callable[[], Registry],
        switch: Switch | None = None,
    ) -> None:
        # its own object (a loader may hand out a shared one, e.g. the cached demo registry)
        self.registry = Registry(registry.nodes.values(), registry.sites.values())
        self.digest = registry_digest(registry)
        self.load = load
        self.switch = switch or self._adopt_only
        self.gate = BatchGate()
        #: the stream sequence of the last import looked at
        self.seen = 0
        self._task: asyncio.Task[None] | None = None
        self._subscription: Subscription | None = None
        #: set by the subscription when an import is announced
        self._announced = asyncio.Event()
        self._missed, self._misses = 0, 0
        #: the registry being switched to and its digest (computed once, off the event loop)
        self.incoming: tuple[Registry, str] | None = None

    async def _adopt_only(self, new: Registry) -> None:
        self.adopt(new)

    def adopt(self, new: Registry) -> Registry:
        """Use ``new`` from now on; the registry as it was."""
        before = self.registry.adopt(new)
        known = self.incoming is not None and self.incoming[0] is new
        self.digest = self.incoming[1] if self.incoming and known else registry_digest(new)
        return before

    def guarded(self, handler: Callable[[T], Awaitable[None]]) -> Callable[[T], Awaitable[None]]:
        """The handler, run as a batch of the gate: never while the registry switches."""

        async def guarded_handler(batch: T) -> None:
            async with self.gate.batch():
                await handler(batch)

        return guarded_handler

    async def check(self, broker: NatsBroker) -> bool:
        """Read the last import; switch when it names another registry. Whether it switched."""
        last = await last_import(broker)
        if last is None:
            return False  # no import yet: the file read at start is the registry
        seq, event = last
        if seq <= self.seen:
            return False
        if event.digest == self.digest:
            self.seen = seq
            return False
        try:
            new = await asyncio.to_thread(self.load)
        except (RegistryError, OSError) as exc:
            self._miss(seq, f"the file cannot be read: {exc}")
            return False
        digest = await asyncio.to_thread(registry_digest, new)
        if digest == self.digest:
            self._miss(seq, "the file does not hold it")
            return False
        self.incoming = (new, digest)
        try:
            async with self.gate.switch():
                await self.switch(new)
        finally:
            self.incoming = None
        if digest == event.digest:
            self.seen = seq
        log.info(
            "registry switched: %d sites, %d nodes (import %s, digest %s)",
            len(new.sites),
            len(new.nodes),
            seq,
            digest[:12],
        )
        return True

    def _miss(self, seq: int, why: str) -> None:
        """The announced registry is not the file's (yet): look again, a few times."""
        self._misses = self._misses + 1 if self._missed == seq else 1
        self._missed = seq
        if self._misses >= MAX_MISSES:
            log.warning("registry import %d ignored after %d looks: %s", seq, self._misses, why)
            self.seen = seq

    async def follow(self, broker: NatsBroker, interval: float) -> None:
        """Look at the last import now, then whenever one is announced (at least every
        ``RECHECK_SECONDS``; every ``interval`` seconds while an announced registry is not in
        the file yet), until cancelled."""
        while True:
            self._announced.clear()
            try:
                await self.check(broker)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("following the registry failed; retrying")
                await asyncio.sleep(interval)
                continue
            waiting_for_file = self._missed > self.seen
            with contextlib.suppress(TimeoutError):
                within = interval if waiting_for_file else RECHECK_SECONDS
                await asyncio.wait_for(self._announced.wait(), within)

    async def _on_announced(self, _msg: Msg) -> None:
        self._announced.set()

    def start(self, broker: NatsBroker, interval: float) -> None:
        self._task = asyncio.create_task(self._subscribe_and_follow(broker, interval))

    async def _subscribe_and_follow(self, broker: NatsBroker, interval: float) -> None:
        # subscribed before the first look: an import announced in between wakes the loop
        subject = REGISTRY_FOLLOWED.subject
        self._subscription = await broker.connection.subscribe(subject, cb=self._on_announced)
        await self.follow(broker, interval)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._subscription is not None:
            with contextlib.suppress(Exception):  # the connection may be closing or closed
                await self._subscription.unsubscribe()
            self._subscription = None


async def last_import(broker: NatsBroker) -> tuple[int, RegistryImported] | None:
    """The last registry import announced (its stream sequence), or None."""
    js = broker.connection.jetstream()
    followed = REGISTRY_FOLLOWED
    try:
        msg = await js.get_last_msg(followed.stream.name, followed.subject, direct=True)
    except NotFoundError:
        return None
    return msg.seq or 0, RegistryImported.model_validate_json(msg.data or b"")


def live_registry(settings: CommonSettings, switch: Switch | None = None) -> LiveRegistry:
    """The configured registry, followed: the file is read again at each announced import."""

    def load() -> Registry:
        return configured_registry(settings)

    return LiveRegistry(load(), load, switch)

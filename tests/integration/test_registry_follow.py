"""Following registry imports on a real nats-server: a process switches between batches, to what
the file holds, when the last import names another registry."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from faststream.nats import NatsBroker

from shared.contracts import (
    REGISTRY_CHANGES,
    REGISTRY_IMPORTED_SUBJECT,
    STREAMS,
    RegistryImported,
)
from shared.registry import Registry, registry_digest
from shared.registry.demo import demo_registry
from shared.runtime.messaging import ensure_streams, publish_all, stop_broker
from shared.runtime.registry_files import dump_registry, load_registry
from shared.runtime.registry_follow import MAX_MISSES, BatchGate, LiveRegistry
from tests.support.waiting import eventually
from tools.natsserver import NatsServer

CLOSED = "5109030001"


def closed_registry() -> Registry:
    demo = demo_registry()
    sites = dict(demo.sites)
    sites[CLOSED] = sites[CLOSED].model_copy(update={"active_to": 2020, "ended_by": "closed"})
    return Registry(demo.nodes.values(), sites.values())


@pytest.fixture
async def broker(nats_server: NatsServer) -> AsyncIterator[NatsBroker]:
    broker = NatsBroker(nats_server.url)
    await broker.connect()
    await ensure_streams(broker.connection.jetstream(), STREAMS, 1)
    try:
        yield broker
    finally:
        await stop_broker(broker)


async def announce(broker: NatsBroker, digest: str) -> None:
    event = RegistryImported(
        digest=digest,
        sites=0,
        nodes=0,
        sites_changed=[],
        nodes_changed=[],
        imported_by="operator",
        at=datetime.now(UTC),
    )
    item = (REGISTRY_IMPORTED_SUBJECT, event, f"registry:{digest}:{event.at.isoformat()}")
    await publish_all(broker, REGISTRY_CHANGES, [item])


async def test_a_switch_waits_for_the_batches_in_flight_and_holds_new_ones_back() -> None:
    gate = BatchGate()
    order: list[str] = []
    first_in, release = asyncio.Event(), asyncio.Event()

    async def batch(name: str, wait: asyncio.Event | None = None) -> None:
        async with gate.batch():
            order.append(f"{name} starts")
            first_in.set()
            if wait is not None:
                await wait.wait()
            order.append(f"{name} ends")

    async def switch() -> None:
        async with gate.switch():
            order.append("switch")

    running = asyncio.create_task(batch("first", release))
    await first_in.wait()
    switching = asyncio.create_task(switch())
    await asyncio.sleep(0)  # the switch now waits for the first batch
    later = asyncio.create_task(batch("second"))
    await asyncio.sleep(0.05)
    assert order == ["first starts"]  # neither the switch nor a new batch ran meanwhile
    release.set()
    await asyncio.gather(running, switching, later)
    assert order == ["first starts", "first ends", "switch", "second starts", "second ends"]


async def test_a_process_switches_to_the_registry_an_import_names(
    broker: NatsBroker, tmp_path: Path
) -> None:
    path = tmp_path / "registry.json"
    switched: list[int] = []

    def load() -> Registry:
        return load_registry(path) if path.exists() else demo_registry()

    live = LiveRegistry(load(), load)
    held = live.registry  # as every part of a service holds it

    async def switch(new: Registry) -> None:
        switched.append(len(new.sites))
        live.adopt(new)

    live.switch = switch
    assert not await live.check(broker)  # no import yet: the start-up registry stays

    # an import announced before the file holds it (another host's view): not switched to
    # until the file does; an import naming the registry in use changes nothing
    new = closed_registry()
    await announce(broker, registry_digest(new))
    assert not await live.check(broker)
    assert held.sites[CLOSED].active_to is None
    dump_registry(new, path)
    assert await live.check(broker)
    assert held.sites[CLOSED].active_to == 2020 and live.digest == registry_digest(new)
    assert not await live.check(broker) and switched == [len(new.sites)]

    # an import whose registry the file never holds is given up after a few looks
    looked_at = live.seen
    await announce(broker, "0" * 64)
    for _ in range(MAX_MISSES - 1):
        assert not await live.check(broker)
    assert live.seen == looked_at
    assert not await live.check(broker)
    assert live.seen > looked_at and switched == [len(new.sites)]

    # a file that cannot be read is looked at again, never half-used
    path.write_text("{not json", encoding="utf-8")
    await announce(broker, registry_digest(demo_registry()))
    assert not await live.check(broker)
    assert held.sites[CLOSED].active_to == 2020

    # followed in the background, within the poll interval
    dump_registry(demo_registry(), path)
    await announce(broker, registry_digest(demo_registry()))
    live.start(broker, 0.05)
    try:

        async def back_to_demo() -> bool:
            return held.sites[CLOSED].active_to is None

        await eventually(back_to_demo, within=10)
    finally:
        await live.stop()


async def test_a_following_process_is_woken_by_the_announcement_and_reads_nothing_meanwhile(
    broker: NatsBroker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Idle, a process does not read the stream (the last import is read once at start); an
    import announced later reaches it at once through its subscription, not by a poll; an
    announcement the file does not hold yet is looked at again every ``interval``."""
    path = tmp_path / "registry.json"

    def load() -> Registry:
        return load_registry(path) if path.exists() else demo_registry()

    live = LiveRegistry(load(), load)
    held = live.registry
    looks: list[float] = []
    check = live.check

    async def counted(broker: NatsBroker) -> bool:
        looks.append(asyncio.get_running_loop().time())
        return await check(broker)

    monkeypatch.setattr(live, "check", counted)
    live.start(broker, 0.2)
    try:
        await eventually(lambda: _async(len(looks) == 1), within=5)
        await asyncio.sleep(1.0)
        assert len(looks) == 1  # nothing announced: nothing read

        # announced before the file holds it: looked at every interval until it does
        new = closed_registry()
        await announce(broker, registry_digest(new))
        await eventually(lambda: _async(len(looks) >= 4), within=5)
        assert held.sites[CLOSED].active_to is None
        dump_registry(new, path)

        async def switched() -> bool:
            return held.sites[CLOSED].active_to == 2020

        await eventually(switched, within=5)
        settled = len(looks)
        await asyncio.sleep(1.0)
        assert len(looks) == settled  # switched: quiet again

        # a later import wakes it at once (no poll: the recheck is a minute away)
        dump_registry(demo_registry(), path)
        await announce(broker, registry_digest(demo_registry()))

        async def back_to_demo() -> bool:
            return held.sites[CLOSED].active_to is None

        await eventually(back_to_demo, within=5)
    finally:
        await live.stop()


async def _async(value: bool) -> bool:
    return value

"""Every service runs its main coroutine on uvloop's event loop (``run_service``)."""

from __future__ import annotations

import asyncio

import uvloop

from shared.runtime.service import run_service


def test_a_service_runs_on_uvloop_to_its_end() -> None:
    seen: list[object] = []

    async def main() -> None:
        await asyncio.sleep(0)
        seen.append(asyncio.get_running_loop())

    run_service(main())
    assert len(seen) == 1 and isinstance(seen[0], uvloop.Loop)

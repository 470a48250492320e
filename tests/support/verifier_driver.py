"""A verifier process for the fault run: the service's own check loop (its store on disk, the
fleet's hosts resolved to 127.0.0.1), publishing each event as a JSON line appended to a file
(the stream; the file, like JetStream's deduplication window, may see an event twice after a
crash, under the same check id).

Run: ``python -m tests.support.verifier_driver FLEET_SPEC.json REGISTRY.json DB_URL EVENTS``.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from services.verifier.main import VerifierSettings, standalone
from shared.publication import PublicationChecked
from shared.runtime.registry_files import load_registry


async def main(registry_file: str, database_url: str, events_file: str) -> None:
    registry = load_registry(Path(registry_file))
    settings = VerifierSettings(
        verifier_database_url=database_url,
        verifier_resolve={"*": "127.0.0.1"},
        verifier_allow_networks=["127.0.0.0/8"],
        verifier_host_pause_seconds=0.05,
        verifier_total_timeout_seconds=3,
        verifier_backoff_seconds=0.5,
        verifier_concurrency=16,
        verifier_poll_seconds=0.1,
    )
    out = open(events_file, "a", encoding="utf-8")  # noqa: SIM115, ASYNC230

    async def publish(event: PublicationChecked) -> None:
        out.write(event.model_dump_json() + "\n")
        out.flush()
        os.fsync(out.fileno())

    verifier, _close = await standalone(settings, registry, publish)
    await verifier.republish()
    await verifier.run_forever()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))

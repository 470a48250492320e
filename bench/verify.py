"""`nianbao bench-verify`: a full national publication check against local fake sites.

Every site of the national registry (14,474 by default) gets a homepage on the local fleet
(bench/fleet.py, one process, every host resolved to 127.0.0.1) answering after a delay (0.2 s);
each site's report is accepted and its URL declared; the verifier then checks them all, politely
(one request at a time per host, the configured pause between two). Reported: the time to a
full national check, requests per second, peak memory, the states, and the most requests any
host saw at once (must be 1).
"""

from __future__ import annotations

import asyncio
import json
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer

from bench.fleet import CONTROL_HOST, bench_hash
from services.verifier.main import VerifierSettings, standalone
from shared.contracts import ReportAccepted
from shared.publication import PublicationChecked, PublicationDeclared
from shared.registry import Registry
from shared.registry.national import FULL_SCALE, national_registry
from shared.runtime.messaging import Envelope

YEAR = 2026


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def fleet_registry(sites: int, port: int) -> Registry:
    national = national_registry(sites)
    return Registry(
        national.nodes.values(),
        [
            s.model_copy(update={"homepage_url": f"http://s{s.code}.bench.test:{port}/"})
            for s in national.sites.values()
        ],
    )


def accepted(code: str) -> ReportAccepted:
    now = datetime.now(UTC)
    return ReportAccepted(
        receipt_id=f"bench-{code}",
        content_hash=bench_hash(code),
        form="work-report",
        form_version="2018",
        year=YEAR,
        code=code,
        version=1,
        received_at=now,
        judged_at=now,
        report={"site": {"site_code": code}},
        issues=[],
    )


def declared(code: str, port: int) -> PublicationDeclared:
    return PublicationDeclared(
        declaration_id=f"bench-{code}",
        kind="report",
        code=code,
        year=YEAR,
        url=f"http://s{code}.bench.test:{port}/nb/{YEAR}.html",
        declared_by=code,
        at=datetime.now(UTC),
    )


def fleet_stats(port: int) -> dict[str, Any]:
    response = httpx.get(
        f"http://127.0.0.1:{port}/__fleet/stats", headers={"Host": CONTROL_HOST}, timeout=30
    )
    return dict(response.json())


async def measure(
    sites: int, delay: float, concurrency: int, pause: float, workdir: Path
) -> dict[str, Any]:
    port = free_port()
    spec = workdir / "fleet.json"
    spec.write_text("{}", encoding="utf-8")
    log = (workdir / "fleet.log").open("ab")
    fleet = subprocess.Popen(  # noqa: ASYNC220 - started once, before anything is measured
        [sys.executable, "-m", "bench.fleet", str(spec), str(port), "--delay", str(delay)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        for _ in range(200):
            try:
                fleet_stats(port)
                break
            except httpx.HTTPError:
                await asyncio.sleep(0.05)
        registry = fleet_registry(sites, port)
        settings = VerifierSettings(
            data_dir=workdir,
            verifier_resolve={"*": "127.0.0.1"},
            verifier_allow_networks=["127.0.0.0/8"],
            verifier_host_pause_seconds=pause,
            verifier_concurrency=concurrency,
        )
        latest: dict[str, str] = {}
        checks = 0

        async def publish(event: PublicationChecked) -> None:
            nonlocal checks
            checks += 1
            latest[event.code] = event.state

        verifier, close = await standalone(settings, registry, publish)
        codes = sorted(registry.sites)
        for start in range(0, len(codes), 1000):
            chunk = codes[start : start + 1000]
            await verifier.on_accepted([Envelope(None, accepted(c)) for c in chunk])  # type: ignore[arg-type]
            await verifier.on_declared([Envelope(None, declared(c, port)) for c in chunk])  # type: ignore[arg-type]
        started = time.monotonic()
        while len(latest) < len(codes):
            await verifier.run_due()
            await asyncio.sleep(0.2)
        await verifier.drain()
        seconds = time.monotonic() - started
        stats = fleet_stats(port)
        await close()
    finally:
        fleet.terminate()
        fleet.wait(10)
    requests = sum(stats["requests"].values())
    return {
        "sites": len(codes),
        "delay_seconds": delay,
        "host_pause_seconds": pause,
        "concurrency": concurrency,
        "seconds_to_full_check": round(seconds, 1),
        "requests": requests,
        "requests_per_second": round(requests / seconds, 1),
        "checks": checks,
        "checks_per_second": round(checks / seconds, 1),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "max_requests_at_once_on_one_host": max(stats["max_in_flight"].values()),
        #: each site's latest state (an unreachable site is retried after the backoff)
        "states": dict(Counter(latest.values())),
    }


def bench_verify(
    sites: Annotated[int, typer.Option(help="sites of the national registry")] = FULL_SCALE,
    delay: Annotated[float, typer.Option(help="each fake site answers after this (s)")] = 0.2,
    concurrency: Annotated[int, typer.Option(help="checks in progress at once")] = 500,
    pause: Annotated[float, typer.Option(help="pause between two requests to a host (s)")] = 1.0,
    out: Annotated[Path | None, typer.Option(help="write the figures here (JSON)")] = None,
) -> None:
    """Verify every site's publication against local fake sites; print the figures."""
    with tempfile.TemporaryDirectory(prefix="nianbao-bench-verify-") as tmp:
        figures = asyncio.run(measure(sites, delay, concurrency, pause, Path(tmp)))
    text = json.dumps(figures, ensure_ascii=False, indent=1)
    typer.echo(text)
    if out is not None:
        out.write_text(text + "\n", encoding="utf-8")
    if (
        figures["max_requests_at_once_on_one_host"] > 1
        or figures["states"].get("verified", 0) != (figures["sites"])
    ):
        raise typer.Exit(1)

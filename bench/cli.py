"""The `nianbao bench` command: options, one run or a comparison, the table and the JSON."""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import Coroutine
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

T = TypeVar("T")
DEFAULT_ORACLE_URL = "postgresql://postgres@127.0.0.1:5432/test"


async def stoppable(run: Coroutine[Any, Any, T]) -> T:
    """Run ``run`` so that SIGTERM cancels it: its clean-up stops the system it started (a
    plain kill would leave the services and nats-server running, orphaned)."""
    loop = asyncio.get_running_loop()
    task = asyncio.ensure_future(run)
    try:
        loop.add_signal_handler(signal.SIGTERM, task.cancel)
    except (NotImplementedError, RuntimeError):  # not on this platform or thread
        return await task
    try:
        return await task
    finally:
        loop.remove_signal_handler(signal.SIGTERM)


def parse_sizes(text: str) -> list[int]:
    """``1000,14474,50000`` → the sizes, smallest first."""
    try:
        return sorted({int(part.replace("_", "")) for part in text.split(",") if part.strip()})
    except ValueError:
        raise typer.BadParameter(f"--compare takes sizes such as 1000,14474: {text!r}") from None


def bench(
    sites: Annotated[int, typer.Option(help="sites in the national registry (≤ 100,000)")] = 14_474,
    compare: Annotated[
        str | None,
        typer.Option(
            help="sizes, e.g. 1000,14474,50000: one run each (a system started for each), "
            "every figure side by side with its flatness (per site relative to the first size)"
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="seed of the registry (and of the reports)")] = 0,
    processes: Annotated[int, typer.Option(help="load-generating processes")] = 2,
    concurrency: Annotated[
        int, typer.Option(help="open connections, all processes (with --rate: opened ahead)")
    ] = 64,
    rate: Annotated[
        float | None,
        typer.Option(
            help="open loop: requests per second, all processes, on a fixed schedule (request i "
            "due at start + i/rate), latency counted from when each was due (default: closed "
            "loop, each connection sends when its previous request is answered)"
        ),
    ] = None,
    max_connections: Annotated[
        int, typer.Option(help="with --rate: the most connections open at once, all processes")
    ] = 512,
    amendments: Annotated[int, typer.Option(help="corrections timed after the burst")] = 50,
    json_out: Annotated[Path | None, typer.Option("--json", help="write the report here")] = None,
    data_dir: Annotated[
        Path | None, typer.Option(help="an empty dir for the system (default: a temporary one)")
    ] = None,
    keep: Annotated[bool, typer.Option(help="keep the temporary data dir")] = False,
    registry: Annotated[
        Path | None, typer.Option(help="the registry of a running system (with --url)")
    ] = None,
    url: Annotated[str | None, typer.Option(help="intake of a running system")] = None,
    nats_url: Annotated[str | None, typer.Option(help="NATS of a running system")] = None,
    tokens: Annotated[Path | None, typer.Option(help="{code: token} of a running system")] = None,
    oracle_url: Annotated[
        str, typer.Option(help="PostgreSQL for the roll-up check ('' = SQLite)")
    ] = DEFAULT_ORACLE_URL,
    anchors: Annotated[
        bool, typer.Option(help="measure the transport and recompute anchors")
    ] = True,
    idle_seconds: Annotated[
        float,
        typer.Option(help="quiet window after the burst for each process's idle CPU (0 = none)"),
    ] = 60,
    timeout: Annotated[float, typer.Option(help="give up waiting after this many seconds")] = 900,
) -> None:
    """Benchmark the end-of-January burst: a national registry, a report per site over HTTP,
    intake and end-to-end rates, roll-up and amendment latencies, CPU per report against a
    floor anchor, idle CPU, memory, and the roll-up check against SQL (exit 1 when it fails)."""
    from bench.compare import comparison, comparison_table
    from bench.report import table
    from bench.run import Options, run_bench

    sizes = parse_sizes(compare) if compare else [sites]
    if not all(1 <= size <= 100_000 for size in sizes):
        raise typer.BadParameter("sites must be between 1 and 100,000")
    if compare and (len(sizes) < 2 or url is not None or registry is not None):
        raise typer.BadParameter("--compare takes two sizes or more and starts its own systems")
    if idle_seconds < 0:
        raise typer.BadParameter("--idle-seconds must be 0 or more")
    if rate is not None and not 0 < rate <= 10_000:
        raise typer.BadParameter("--rate takes requests per second, more than 0 and ≤ 10,000")
    if max_connections < max(1, processes):
        raise typer.BadParameter("--max-connections must be at least one per process")
    results: list[dict[str, Any]] = []
    for size in sizes:
        options = Options(
            sites=size,
            seed=seed,
            processes=processes,
            concurrency=concurrency,
            rate=rate,
            max_connections=max_connections,
            amendments=amendments,
            data_dir=None if data_dir is None or compare else data_dir,
            keep=keep,
            registry_file=registry,
            url=url,
            nats_url=nats_url,
            tokens_file=tokens,
            oracle_url=oracle_url or None,
            timeout=timeout,
            anchors=anchors,
            idle_seconds=idle_seconds,
        )
        typer.echo(f"— {registry or f'{size} sites'} —", err=True)
        try:
            result = asyncio.run(stoppable(run_bench(options)))
        except asyncio.CancelledError:
            typer.echo("stopped (SIGTERM): the system under test was stopped", err=True)
            raise typer.Exit(143) from None
        typer.echo(table(result))
        results.append(result)
    record: dict[str, Any] = results[0] if len(results) == 1 else {"runs": results}
    if len(results) > 1:
        record["comparison"] = comparison(results)
        typer.echo(comparison_table(record["comparison"]))
    if json_out is not None:
        json_out.write_text(json.dumps(record, ensure_ascii=False, indent=2) + "\n", "utf-8")
        typer.echo(f"wrote {json_out}")
    if not all(r["rollup_check"]["ok"] for r in results):
        raise typer.Exit(1)

"""`nianbao rebuild`: the aggregator's store and the published pages rebuilt from the streams.

Stop the aggregator and the publisher first; this command stops nothing. It checks that the
streams are reachable, then drops the services' databases (the SQLite files under the data dir,
or their tables when a database URL is set) and empties the pages directory, and deletes their
durable consumers, which read from the start (``DeliverPolicy.ALL``) once recreated. Start the
two services again: the aggregator replays every verdict, review and deadline, and every
publication fact (declarations and offices' judgements from ``NIANBAO_DECLARATIONS``, the
verifier's checks from ``NIANBAO_CHECKS``, into ``aggregator_publication``), and republishes
every roll-up; the publisher replays the progress and roll-up streams and renders every page.
Checks older than ``NIANBAO_CHECKS``' retention (400 days) are not replayed.

The reminders the aggregator already sent are restored from ``NIANBAO_REMINDERS``, so none is
sent twice after a rebuild.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import Callable, Sequence
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy import Table

from shared.contracts import REMINDERS, ReminderDue
from shared.reminders import skipped_thresholds
from shared.runtime.settings import CommonSettings
from shared.topology import ConsumerSpec


class Target(StrEnum):
    aggregator = "aggregator"
    publisher = "publisher"
    all = "all"


Echo = Callable[[str], None]


def service_parts(
    service: str, data_dir: Path | None
) -> tuple[Any, list[ConsumerSpec], list[Table]]:
    """(settings, durable consumers, tables) of the aggregator or the publisher: every table
    its store declares (named ``<service>_…``)."""
    from sqlmodel import SQLModel

    overrides: dict[str, Any] = {} if data_dir is None else {"data_dir": data_dir}
    if service == "aggregator":
        from services.aggregator.main import CONSUMERS, AggregatorSettings

        settings: Any = AggregatorSettings(**overrides)
        consumers = list(CONSUMERS)
    else:
        from services.publisher.main import CONSUMERS as PUBLISHER_CONSUMERS
        from services.publisher.main import PublisherSettings

        settings = PublisherSettings(**overrides)
        consumers = list(PUBLISHER_CONSUMERS)
    tables = [t for name, t in SQLModel.metadata.tables.items() if name.startswith(f"{service}_")]
    return settings, consumers, tables


def database_url(service: str, settings: Any) -> str | None:
    """The URL set for the service, or None for its default SQLite file under the data dir."""
    configured: str | None = getattr(settings, f"{service}_database_url")
    return configured or None


async def drop_database(service: str, settings: Any, tables: Sequence[Table], echo: Echo) -> None:
    url = database_url(service, settings)
    if url is None:
        path = Path(settings.data_dir) / f"{service}.db"
        for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            if file.exists():
                file.unlink()
                echo(f"{service}: deleted {file}")
        return
    from sqlalchemy.engine import Connection
    from sqlmodel import SQLModel

    from shared.runtime.db import make_engine

    def drop(sync: Connection) -> None:
        SQLModel.metadata.drop_all(sync, tables=list(tables), checkfirst=True)

    engine = make_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(drop)
    finally:
        await engine.dispose()
    echo(f"{service}: dropped tables {', '.join(t.name for t in tables)}")


def empty_pages(pages_dir: Path, echo: Echo) -> None:
    """Everything under the pages directory (the directory itself may be a mounted volume)."""
    if not pages_dir.exists():
        return
    removed = 0
    for child in pages_dir.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()
        removed += 1
    echo(f"publisher: emptied {pages_dir} ({removed} entries)")


async def sent_reminders(js: Any) -> list[dict[str, int | str]]:
    """What the reminders stream says was sent: each threshold, and the ones it made moot."""
    from nats.js.errors import NotFoundError

    try:
        info = await js.stream_info(REMINDERS.name)
    except NotFoundError:
        return []
    marks: dict[tuple[int, str, int], dict[str, int | str]] = {}
    if not info.state.messages:
        return []
    for seq in range(info.state.first_seq, info.state.last_seq + 1):
        try:
            msg = await js.get_msg(REMINDERS.name, seq)
        except NotFoundError:
            continue
        event = ReminderDue.model_validate_json(msg.data or b"{}")
        for threshold in (event.threshold_days, *skipped_thresholds(event.threshold_days)):
            key = (event.year, event.node, threshold)
            marks[key] = {"year": event.year, "node": event.node, "threshold_days": threshold}
    return list(marks.values())


async def restore_reminders(settings: Any, marks: list[dict[str, Any]], echo: Echo) -> None:
    if not marks:
        return
    from services.aggregator.main import mark_reminders_sent

    await mark_reminders_sent(settings, marks)
    echo(f"aggregator: {len(marks)} reminder thresholds restored from {REMINDERS.name}")


async def rebuild_services(
    services: Sequence[str], data_dir: Path | None, pages_dir: Path | None, echo: Echo
) -> None:
    import nats
    from nats.js.errors import NotFoundError

    common = CommonSettings()  # only NATS is read from it
    options: dict[str, Any] = {"connect_timeout": 5, "allow_reconnect": False}
    if common.nats_user and common.nats_password:
        options.update(user=common.nats_user, password=common.nats_password.get_secret_value())
    servers = [url.strip() for url in common.nats_url.split(",") if url.strip()]
    client = await nats.connect(servers, **options)
    try:
        js = client.jetstream()
        parts = {service: service_parts(service, data_dir) for service in services}
        for _settings, consumers, _tables in parts.values():
            for spec in consumers:  # nothing is touched when the streams cannot be read
                await js.stream_info(spec.stream.name)
        reminders = await sent_reminders(js) if "aggregator" in parts else []
        for service, (settings, consumers, tables) in parts.items():
            await drop_database(service, settings, tables, echo)
            if service == "publisher":
                pages = pages_dir or (
                    settings.pages_dir
                    if "pages_dir" in settings.model_fields_set
                    else Path(settings.data_dir) / "pages"
                )
                empty_pages(Path(pages), echo)
            for spec in consumers:
                try:
                    await js.delete_consumer(spec.stream.name, spec.durable)
                    echo(f"{service}: deleted consumer {spec.stream.name}/{spec.durable}")
                except NotFoundError:
                    echo(f"{service}: consumer {spec.stream.name}/{spec.durable} was absent")
            if service == "aggregator":
                await restore_reminders(settings, reminders, echo)
    finally:
        await client.close()


def rebuild(
    service: Annotated[
        Target, typer.Option(help="what to rebuild: aggregator, publisher, or all")
    ] = Target.all,
    data_dir: Annotated[
        Path | None,
        typer.Option(help="data dir of the SQLite files and pages (default NIANBAO_DATA_DIR)"),
    ] = None,
    pages_dir: Annotated[
        Path | None,
        typer.Option(help="pages directory (default NIANBAO_PAGES_DIR, else <data dir>/pages)"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the steps as JSON")] = False,
) -> None:
    """Rebuild the aggregator's store and the pages from the streams. STOP the aggregator and
    the publisher first; then run this, then start them again: they replay the streams from the
    start. Uses the services' settings (NIANBAO_NATS_URL/_USER/_PASSWORD, *_DATABASE_URL)."""
    services = ["aggregator", "publisher"] if service is Target.all else [service.value]
    steps: list[str] = []

    def echo(line: str) -> None:
        steps.append(line)
        if not as_json:
            typer.echo(line)

    from nats.errors import Error as NatsError

    try:
        asyncio.run(rebuild_services(services, data_dir, pages_dir, echo))
    except (OSError, TimeoutError, NatsError) as exc:
        typer.echo(f"stopped: NATS or a database is unreachable: {exc!r}", err=True)
        raise typer.Exit(2) from exc
    if as_json:
        typer.echo(json.dumps({"services": services, "steps": steps}, ensure_ascii=False))
    else:
        typer.echo(f"done: now start {' and '.join(services)}; they replay the streams")

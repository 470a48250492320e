"""`nianbao dlq`: list and inspect the dead-letter stream, re-drive an entry to its subject."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any, TypeVar

import nats
import typer
from nats.js import JetStreamContext
from nats.js import api as js_api
from nats.js.errors import NotFoundError
from pydantic import BaseModel, ConfigDict, ValidationError

from shared.contracts import (
    DEAD_LETTERS,
    PREFIX,
    TOKEN_RE,
    DeadLettered,
    dead_letter_subject,
)

T = TypeVar("T")

#: headers the server interprets on publish; a re-drive must not carry the original ones
_PUBLISH_CONTROL = ("nats-msg-id", "nats-expected-")
REDRIVEN_FROM = "Nianbao-Redriven-From"


class NoSuchEntry(LookupError):
    """No dead-letter entry at that sequence."""


class DeadLetterEntry(BaseModel):
    """One entry of NIANBAO_DLQ: its sequence there and the letter (None if it is not one)."""

    model_config = ConfigDict(frozen=True)

    seq: int
    dlq_subject: str
    stored_at: datetime | None
    letter: DeadLettered | None
    raw: str = ""

    @property
    def body(self) -> bytes:
        return base64.b64decode(self.letter.body_b64) if self.letter else b""

    def summary(self) -> dict[str, Any]:
        letter = self.letter
        return {
            "seq": self.seq,
            "stage": letter.stage if letter else self.dlq_subject.rsplit(".", 1)[-1],
            "subject": letter.subject if letter else None,
            "stream": letter.stream if letter else None,
            "stream_seq": letter.stream_seq if letter else None,
            "deliveries": letter.deliveries if letter else None,
            "reason": letter.reason if letter else "not a DeadLettered message",
            "at": (letter.at if letter else self.stored_at),
        }


def _entry(raw: js_api.RawStreamMsg) -> DeadLetterEntry:
    data = raw.data or b""
    try:
        letter: DeadLettered | None = DeadLettered.model_validate_json(data)
    except ValidationError:
        letter = None
    return DeadLetterEntry(
        seq=int(raw.seq or 0),
        dlq_subject=raw.subject or "",
        stored_at=raw.time,
        letter=letter,
        raw="" if letter else data.decode("utf-8", "replace"),
    )


async def list_entries(js: JetStreamContext, stage: str | None = None) -> list[DeadLetterEntry]:
    """Every entry, oldest first, optionally of one stage only."""
    subject = dead_letter_subject(stage) if stage else f"{PREFIX}.dlq.>"
    entries: list[DeadLetterEntry] = []
    seq = 1
    while True:
        try:
            raw = await js.get_msg(DEAD_LETTERS.name, seq=seq, subject=subject, next=True)
        except NotFoundError:
            return entries
        entries.append(_entry(raw))
        seq = int(raw.seq or seq) + 1


async def get_entry(js: JetStreamContext, seq: int) -> DeadLetterEntry:
    try:
        return _entry(await js.get_msg(DEAD_LETTERS.name, seq=seq))
    except NotFoundError as exc:
        raise NoSuchEntry(f"no dead letter at sequence {seq} in {DEAD_LETTERS.name}") from exc


def redrive_headers(letter: DeadLettered, seq: int) -> dict[str, str]:
    """The original headers with a new message id (else the server's dedupe would drop it)."""
    headers = {
        key: value
        for key, value in letter.headers.items()
        if not key.lower().startswith(_PUBLISH_CONTROL)
    }
    headers["Nats-Msg-Id"] = f"redrive:{seq}:{uuid.uuid4().hex}"
    headers[REDRIVEN_FROM] = f"{DEAD_LETTERS.name}:{seq}"
    return headers


async def redrive(js: JetStreamContext, seq: int, delete: bool = False) -> js_api.PubAck:
    """Publish the original body and headers to the original subject (confirmed)."""
    entry = await get_entry(js, seq)
    if entry.letter is None:
        raise NoSuchEntry(f"entry {seq} is not a dead letter: nothing to re-drive")
    ack = await js.publish(
        entry.letter.subject, entry.body, headers=redrive_headers(entry.letter, seq)
    )
    if delete:
        await js.delete_msg(DEAD_LETTERS.name, seq)
    return ack


# ---------------------------------------------------------------- command line

app = typer.Typer(
    help="Dead letters (NIANBAO_DLQ): list, show, re-drive what no handler could take.",
    no_args_is_help=True,
)
NatsUrl = Annotated[
    str | None,
    typer.Option("--nats-url", help="NATS server (default: NIANBAO_NATS_URL or the settings)"),
]


async def _quiet(_error: Exception) -> None:
    """The connection error is reported once, by _run; no traceback per attempt."""


def _run(nats_url: str | None, action: Callable[[JetStreamContext], Awaitable[T]]) -> T:
    if nats_url is None:
        from shared.runtime.settings import CommonSettings

        nats_url = CommonSettings().nats_url

    async def go() -> T:
        try:
            nc = await nats.connect(
                nats_url,
                connect_timeout=5,
                allow_reconnect=False,
                max_reconnect_attempts=1,
                reconnect_time_wait=0.2,
                error_cb=_quiet,
            )
        except Exception as exc:
            typer.echo(f"cannot reach NATS at {nats_url}: {exc}", err=True)
            raise typer.Exit(2) from exc
        try:
            return await action(nc.jetstream())
        except NoSuchEntry as exc:
            typer.echo(str(exc), err=True)
            raise typer.Exit(1) from exc
        finally:
            await nc.close()

    return asyncio.run(go())


def _one_line(text: str, width: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


@app.command("list")
def list_command(
    stage: Annotated[
        str | None, typer.Option(help="only this stage (validator, aggregator, ...)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
    nats_url: NatsUrl = None,
) -> None:
    """List dead letters: sequence, stage, subject, deliveries, reason, time."""
    if stage is not None and not TOKEN_RE.fullmatch(stage):
        raise typer.BadParameter(f"not a stage name: {stage!r}", param_hint="--stage")
    entries = _run(nats_url, lambda js: list_entries(js, stage))
    rows = [e.summary() for e in entries]
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2, default=str))
        return
    if not rows:
        typer.echo("no dead letters 无死信")
        return
    typer.echo(f"{'SEQ':>6}  {'STAGE':<11} {'SUBJECT':<44} {'DELIV':>5}  {'TIME':<20} REASON")
    for row in rows:
        at = row["at"].strftime("%Y-%m-%d %H:%M:%S") if row["at"] else "-"
        typer.echo(
            f"{row['seq']:>6}  {row['stage']:<11} {row['subject'] or '-':<44} "
            f"{row['deliveries'] if row['deliveries'] is not None else '-':>5}  {at:<20} "
            f"{_one_line(row['reason'], 100)}"
        )


@app.command()
def show(
    seq: Annotated[int, typer.Argument(help="sequence of the entry in NIANBAO_DLQ")],
    nats_url: NatsUrl = None,
) -> None:
    """Show one dead letter with its headers and its body (decoded when it is text)."""
    entry = _run(nats_url, lambda js: get_entry(js, seq))
    for key, value in entry.summary().items():
        typer.echo(f"{key:<11} {value if value is not None else '-'}")
    if entry.letter is None:
        typer.echo(f"raw         {entry.raw}")
        return
    for key, value in entry.letter.headers.items():
        typer.echo(f"header      {key}: {value}")
    body = entry.body
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        typer.echo(f"body        ({len(body)} bytes, not text; base64)")
        typer.echo(entry.letter.body_b64)
        return
    with contextlib.suppress(ValueError):
        text = json.dumps(json.loads(text), ensure_ascii=False, indent=2)
    typer.echo(f"body        ({len(body)} bytes)")
    typer.echo(text)


@app.command("redrive")
def redrive_command(
    seq: Annotated[int, typer.Argument(help="sequence of the entry in NIANBAO_DLQ")],
    delete: Annotated[
        bool, typer.Option("--delete", help="delete the entry once the stream has it")
    ] = False,
    nats_url: NatsUrl = None,
) -> None:
    """Re-publish the original body and headers to the original subject (new Nats-Msg-Id)."""
    ack = _run(nats_url, lambda js: redrive(js, seq, delete))
    typer.echo(
        json.dumps(
            {
                "redriven": seq,
                "stream": ack.stream,
                "seq": ack.seq,
                "duplicate": bool(ack.duplicate),
                "deleted": delete,
            },
            ensure_ascii=False,
        )
    )

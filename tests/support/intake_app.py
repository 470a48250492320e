"""The intake's HTTP app in this process, on a test database and the demo registry, its tokens
issued, without a broker connection (routes that answer before publishing need none), and a raw
ASGI call that counts how many body bytes the app pulled."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from faststream.nats import NatsBroker

from services.intake.main import IntakeSettings, build
from services.intake.review_store import ReviewStore
from services.intake.tokens import demo_tokens

#: a broker address nothing listens on: the app is never connected
NOWHERE = "nats://127.0.0.1:1"


@dataclass
class InProcessIntake:
    app: FastAPI
    tokens: dict[str, str]


@asynccontextmanager
async def intake_app(database_url: str, data_dir: Path) -> AsyncIterator[InProcessIntake]:
    """The app as `nianbao serve intake` builds it (its lifespan not run: no broker)."""
    settings = IntakeSettings(data_dir=data_dir, intake_database_url=database_url, nats_url=NOWHERE)
    app, intake = build(settings, NatsBroker(NOWHERE))
    await intake.store.create()
    await ReviewStore(intake.store.engine).create()
    issued = demo_tokens(intake.registry)
    await intake.store.add_tokens(list(issued.values()))
    try:
        yield InProcessIntake(app, {code: token for code, (token, *_rest) in issued.items()})
    finally:
        await intake.store.engine.dispose()


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    #: body bytes the app pulled from the client
    read: int


async def call(
    app: FastAPI,
    method: str,
    path: str,
    headers: Mapping[str, str] | None = None,
    *,
    body_chunks: int = 0,
    chunk: bytes = b"x" * 65536,
    query: str = "",
) -> Answer:
    """One request straight into the ASGI app: the body is ``body_chunks`` chunks (no
    Content-Length unless given in ``headers``), handed over only as the app asks for them."""
    read = 0
    sent = 0
    ended = False

    async def receive() -> dict[str, Any]:
        nonlocal read, sent, ended
        if ended:
            return {"type": "http.disconnect"}
        if sent >= body_chunks:
            ended = True
            return {"type": "http.request", "body": b"", "more_body": False}
        sent += 1
        read += len(chunk)
        return {"type": "http.request", "body": chunk, "more_body": True}

    status = 0
    answer_headers: dict[str, str] = {}
    parts: list[bytes] = []

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
            answer_headers.update(
                {k.decode("latin-1"): v.decode("latin-1") for k, v in message["headers"]}
            )
        elif message["type"] == "http.response.body":
            parts.append(message.get("body", b""))

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }
    await app(scope, receive, send)
    return Answer(status, answer_headers, b"".join(parts), read)

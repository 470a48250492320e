"""`nianbao subscribe`: a supervisor follows its subtree live over plain NATS subjects.

First the current roll-up of every node in the subtree (the last message per subject of
NIANBAO_ROLLUPS, read by direct get), then roll-up changes, review actions and reminders as they
happen. With production credentials an office may read only its own subtree (deploy/).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import nats
from nats.aio.msg import Msg
from nats.js.errors import NotFoundError

from shared.contracts import ROLLUPS, rollup_subject, subtree_subjects
from shared.registry import Registry


@dataclass(frozen=True)
class Subtree:
    """The subjects of one node's subtree for a year."""

    node: str
    year: int
    tree: str
    path: list[str]

    @classmethod
    def of(cls, registry: Registry, node: str, year: int) -> Subtree:
        if node not in registry.nodes:
            raise KeyError(f"no node {node} in the registry")
        return cls(node, year, registry.nodes[node].tree.value, registry.path(node))

    def subjects(self, kind: str) -> list[str]:
        subjects = subtree_subjects(kind, self.year, self.tree, self.path)
        return subjects[1:] if kind == "review" else subjects


def describe(msg: Msg) -> dict[str, Any]:
    """One line's worth of an event: its kind, node and the figures a supervisor looks at."""
    kind = msg.subject.split(".")[1]
    body = json.loads(msg.data)
    line: dict[str, Any] = {"kind": kind, "subject": msg.subject}
    if kind == "rollup":
        tally = body["rollup"]["tally"]
        line.update(
            node=body["node"],
            name=body["rollup"].get("name"),
            expected=tally["expected"],
            reported=tally["reported"],
            on_time=tally["on_time"],
            late=tally["late"],
            missing=tally["missing"],
            returned=tally["returned"],
            completeness_pct=body["rollup"]["completeness_pct"],
        )
    elif kind == "review":
        line.update(
            action=body["action"],
            code=body["code"],
            office=body["office"],
            reason=body["reason"],
            receipt_id=body["receipt_id"],
        )
    elif kind == "reminder":
        line.update(
            node=body["node"],
            threshold_days=body["threshold_days"],
            deadline=body["deadline"],
            sites=[s["code"] for s in body["sites"]],
        )
    return line


async def current_rollups(nc: Any, subtree: Subtree, registry: Registry) -> list[Msg]:
    """The last roll-up of every node in the subtree, by direct get (what an office may read)."""
    js = nc.jetstream()
    found = []
    for node in registry.descendants(subtree.node):
        subject = rollup_subject(subtree.year, subtree.tree, registry.path(node))
        try:
            raw = await js.get_last_msg(ROLLUPS.name, subject, direct=True)
        except NotFoundError:
            continue
        found.append(SimpleNamespace(subject=raw.subject, data=raw.data))
    return found  # type: ignore[return-value]


async def follow(
    nats_url: str,
    subtree: Subtree,
    registry: Registry,
    emit: Callable[[dict[str, Any]], None],
    seconds: float | None = None,
    limit: int | None = None,
    connect_options: dict[str, Any] | None = None,
) -> int:
    """Print current roll-ups, then live events, until ``seconds`` pass or ``limit`` events."""
    nc = await nats.connect(nats_url, **(connect_options or {}))
    seen = 0
    done = asyncio.Event()

    def take(msg: Msg) -> None:
        nonlocal seen
        emit(describe(msg))
        seen += 1
        if limit is not None and seen >= limit:
            done.set()

    try:
        live = [
            await nc.subscribe(subject, cb=_async(take))
            for kind in ("rollup", "review", "reminder")
            for subject in subtree.subjects(kind)
        ]
        for msg in await current_rollups(nc, subtree, registry):
            take(msg)
        deadline = None if seconds is None else time.monotonic() + seconds
        while not done.is_set():
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                break
            try:
                await asyncio.wait_for(done.wait(), timeout=remaining)
            except TimeoutError:
                break
        for sub in live:
            await sub.unsubscribe()
    finally:
        await nc.drain()
    return seen


def _async(callback: Callable[[Msg], None]) -> Callable[[Msg], Any]:
    async def handler(msg: Msg) -> None:
        callback(msg)

    return handler

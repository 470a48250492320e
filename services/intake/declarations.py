"""Publication declarations (where a site or office published), offices' judgements, re-checks."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Column, select
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import AutoString, Field, SQLModel

from services.intake.errors import Conflict, Invalid, NotAllowed, NotFound, Unavailable
from services.intake.outbox import Outbox, PendingEvent, queue
from shared.access import Caller, may_read, may_review, oversees
from shared.publication import (
    BadUrl,
    PublicationDeclared,
    PublicationJudged,
    PublicationKind,
    check_declared_url,
    may_declare,
)
from shared.registry import Registry
from shared.runtime.db import UtcDateTime, create_schema, sql_table

log = logging.getLogger(__name__)


class Declaration(SQLModel, table=True):
    """One declaration: a site's or office's URL for a year; a changed URL is a new row."""

    __tablename__ = "intake_declarations"

    declaration_id: str = Field(primary_key=True)
    kind: str = Field(sa_column=Column(AutoString, nullable=False))
    code: str = Field(index=True)
    year: int
    url: str
    declared_by: str
    at: datetime = Field(sa_column=Column(UtcDateTime, nullable=False))


class Judgement(SQLModel, table=True):
    """An office's own judgement of a site's publication: audited like a return."""

    __tablename__ = "intake_publication_judgements"

    judgement_id: str = Field(primary_key=True)
    code: str = Field(index=True)
    year: int
    verdict: str
    reason: str
    office: str
    at: datetime = Field(sa_column=Column(UtcDateTime, nullable=False))


class DeclarationStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def create(self) -> None:
        await create_schema(self.engine, [Declaration, Judgement, PendingEvent])

    async def add(
        self, row: Declaration | Judgement, event: PublicationDeclared | PublicationJudged
    ) -> None:
        """Store the row and its event in the outbox, in one transaction."""
        kind = "declared" if isinstance(row, Declaration) else "judged"
        async with self.engine.begin() as conn:
            await conn.execute(sql_table(type(row)).insert().values(**row.model_dump()))
            await queue(conn, kind, event)

    async def declarations(self, code: str, year: int) -> list[Declaration]:
        table = sql_table(Declaration)
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(table)
                .where(table.c.code == code, table.c.year == year)
                .order_by(table.c.at, table.c.declaration_id)
            )
            return [Declaration.model_validate(dict(r._mapping)) for r in rows]

    async def judgements(self, code: str, year: int) -> list[Judgement]:
        table = sql_table(Judgement)
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(table)
                .where(table.c.code == code, table.c.year == year)
                .order_by(table.c.at, table.c.judgement_id)
            )
            return [Judgement.model_validate(dict(r._mapping)) for r in rows]


PublishDeclared = Callable[[PublicationDeclared], Awaitable[None]]
PublishJudged = Callable[[PublicationJudged], Awaitable[None]]
#: asks the verifier to re-check a node's subtree: its JSON answer
AskRecheck = Callable[[int, str], Awaitable[dict[str, Any]]]


def _actor(caller: Caller) -> str:
    return caller.code if caller.kind in ("office", "site") and caller.code else "operator"


class Declarations:
    """The use cases: declare, judge, read the history, ask for a re-check. Each declaration
    and judgement is stored with its event in the intake's outbox, in one transaction: once
    answered 2xx, its event is published, at once or, when the stream does not acknowledge, by
    the outbox's retries and at the next start (services.intake.outbox)."""

    def __init__(
        self,
        registry: Registry,
        store: DeclarationStore,
        outbox: Outbox,
        publish_declared: PublishDeclared,
        publish_judged: PublishJudged,
        ask_recheck: AskRecheck,
    ) -> None:
        self.registry = registry
        self.store = store
        self.outbox = outbox
        outbox.register("declared", PublicationDeclared, publish_declared)
        outbox.register("judged", PublicationJudged, publish_judged)
        self.ask_recheck = ask_recheck

    async def _record(
        self, row: Declaration | Judgement, event: PublicationDeclared | PublicationJudged
    ) -> None:
        """Store the row with its event, then send the outbox; a failed send keeps the event
        for the retries (the action is recorded: the caller need not repeat it)."""
        await self.store.add(row, event)
        try:
            await self.outbox.send()
        except Exception as exc:
            log.warning("publication event kept in the outbox, sent later: %r", exc)

    async def declare(
        self, caller: Caller, kind: PublicationKind, code: str, year: int, url: str
    ) -> tuple[PublicationDeclared, bool]:
        """The declaration in force and whether it is new (the same URL again changes
        nothing)."""
        if not may_declare(caller, self.registry, kind, code):
            raise NotAllowed(
                "网站只能声明本网站的报表网址；省级和部门监管单位只能声明本单位的目录和专栏网址",
                "a site declares only its own report; a province or department office only its "
                "own catalogue and column",
            )
        try:
            check_declared_url(url)
        except BadUrl as exc:
            raise Invalid.field(
                "invalid_url", "declared_url", "url", f"网址无效：{exc.message_zh}", exc.message_en
            ) from exc
        history = [d for d in await self.store.declarations(code, year) if d.kind == kind]
        if history and history[-1].url == url:
            return PublicationDeclared(**history[-1].model_dump()), False
        row = Declaration(
            declaration_id=uuid.uuid4().hex,
            kind=kind,
            code=code,
            year=year,
            url=url,
            declared_by=_actor(caller),
            at=datetime.now(UTC),
        )
        event = PublicationDeclared(**row.model_dump())
        await self._record(row, event)
        return event, True

    async def judge(
        self, caller: Caller, code: str, year: int, verdict: str, reason: str
    ) -> PublicationJudged:
        if code not in self.registry.sites or not may_read(caller, self.registry, code):
            raise NotFound("未找到该网站", "no such site")
        if not may_review(caller, self.registry, code):
            raise NotAllowed(
                "只有上级监管单位可以认定网站的公开情况",
                "only a supervisory office above the site may judge its publication",
            )
        row = Judgement(
            judgement_id=uuid.uuid4().hex,
            code=code,
            year=year,
            verdict=verdict,
            reason=reason,
            office=_actor(caller),
            at=datetime.now(UTC),
        )
        event = PublicationJudged(**row.model_dump())
        await self._record(row, event)
        return event

    async def history(
        self, caller: Caller, code: str, year: int
    ) -> tuple[list[PublicationDeclared], list[PublicationJudged]]:
        known = code in self.registry.sites or code in self.registry.nodes
        if not known or not may_read(caller, self.registry, code):
            raise NotFound("未找到该网站或单位", "no such site or office")
        declared = [
            PublicationDeclared(**d.model_dump()) for d in await self.store.declarations(code, year)
        ]
        judged = [
            PublicationJudged(**j.model_dump()) for j in await self.store.judgements(code, year)
        ]
        return declared, judged

    async def recheck(self, caller: Caller, node: str, year: int) -> dict[str, Any]:
        """Ask the verifier to re-check the node's subtree now; Conflict while one runs."""
        if node not in self.registry.nodes:
            raise NotFound("未找到该单位", "no such node")
        office = caller.kind == "office" and caller.code is not None
        if caller.kind != "operator" and not (
            office and oversees(self.registry, str(caller.code), node)
        ):
            raise NotAllowed(
                "只有该单位或其上级监管单位可以要求重新核验",
                "only the node's office or one above it may ask for a re-check",
            )
        try:
            answer = await self.ask_recheck(year, node)
        except Exception as exc:
            raise Unavailable(
                "核验服务暂不可用，请稍后重试", f"the verifier did not answer: {exc!r}"
            ) from exc
        if not answer.get("started"):
            raise Conflict(
                "该单位的重新核验正在进行，请等待其结束",
                f"a re-check of {answer.get('running')} is running since {answer.get('since')}",
                error="recheck_running",
            )
        return answer


def recheck_answer(body: bytes) -> dict[str, Any]:
    answer = json.loads(body)
    if not isinstance(answer, dict):
        raise ValueError("the verifier's answer is not an object")
    return answer

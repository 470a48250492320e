"""Review by supervisory offices: return (退回), approve (lock), unlock, internal deadlines."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel

from services.intake.batching import Batcher
from services.intake.errors import Conflict, Invalid, Locked, NotAllowed, NotFound, Unavailable
from services.intake.filing import FilingState
from services.intake.outbox import Outbox
from services.intake.review_store import (
    FilingHead,
    FilingKey,
    InternalDeadline,
    ReviewAction,
    ReviewStore,
    as_review,
)
from services.intake.store import IntakeStore, Receipt
from shared.access import Caller, may_read, may_review, may_set_deadline, may_unlock
from shared.contracts import DeadlineSet, ReviewRecorded, review_subject
from shared.deadlines import internal_deadline_problem, national_deadline
from shared.filings import Action, standing
from shared.forms import WORK_REPORT
from shared.registry import Registry

PublishReview = Callable[[ReviewRecorded], Awaitable[None]]


@dataclass(frozen=True)
class Filing:
    """A filing's versions and every review action on it, oldest first, and whether locked."""

    versions: list[Receipt]
    reviews: list[ReviewAction]
    locked: bool


def review_messages(registry: Registry, event: ReviewRecorded) -> list[tuple[str, BaseModel, str]]:
    """One message per tree the site sits in, under its node, so offices see their subtree."""
    out: list[tuple[str, BaseModel, str]] = []
    for node in registry.sites[event.code].nodes():
        tree = registry.nodes[node].tree
        subject = review_subject(event.year, tree, registry.path(node), event.code)
        out.append((subject, event, f"review:{event.review_id}:{tree}"))
    return out


PublishDeadline = Callable[[DeadlineSet], Awaitable[None]]


def kept(exc: Exception) -> Unavailable:
    return Unavailable(
        "消息服务暂未确认，操作已记录并将自动重发；请勿重复操作",
        "the stream did not acknowledge; the action is recorded and will be sent again "
        f"(do not repeat it): {exc!r}",
    )


class Reviews:
    """The review use cases. Each action is stored with its event in an outbox, in one
    transaction; the event is published and leaves the outbox on its PubAck. Without a PubAck
    (which may be lost after the stream stored the message) the action stays, the caller gets
    503, and the outbox is sent again, oldest first, with the same message ids: by a retry in
    the background, before the next action's event, and at start (services.intake.outbox)."""

    def __init__(
        self,
        registry: Registry,
        receipts: IntakeStore,
        store: ReviewStore,
        publish_review: PublishReview,
        publish_deadline: PublishDeadline,
        outbox: Outbox | None = None,
    ) -> None:
        self.registry = registry
        self.receipts = receipts
        self.store = store
        #: shared with the other use cases that emit events (declarations), when given
        self.outbox = outbox or Outbox(store.engine)
        self.outbox.register("review", ReviewRecorded, publish_review)
        self.outbox.register("deadline", DeadlineSet, publish_deadline)
        #: the filings of concurrent reports, read together
        self._heads: Batcher[FilingKey, dict[FilingKey, FilingHead]] = Batcher(store.heads)

    async def _send(self) -> None:
        """Send the outbox (the new event last), or keep it, retry later and raise 503."""
        try:
            await self.outbox.send()
        except Exception as exc:
            raise kept(exc) from exc

    async def is_locked(self, code: str, form: str, year: int) -> bool:
        actions = await self.store.of_filing(code, form, year)
        return standing([], national_deadline(year), [as_review(a) for a in actions]).locked

    async def filing_state(self, code: str, form: str, year: int) -> FilingState:
        """The latest version and the lock, for a new version: read with the filings of the
        concurrent reports, and the review actions only for a filing that has some (most have
        none)."""
        key = (code, form, year)
        head = (await self._heads.submit(key))[key]
        locked = head.reviewed and await self.is_locked(code, form, year)
        return FilingState(head.latest, locked)

    async def act_on_receipt(
        self,
        caller: Caller,
        receipt_id: str,
        action: Literal["return", "approve"],
        reason: str,
        paths: list[str],
    ) -> ReviewRecorded:
        receipt = await self.receipts.get(receipt_id)
        if receipt is None or not may_read(caller, self.registry, receipt.code):
            raise NotFound("未找到该回执", "no such receipt")
        if receipt.form != WORK_REPORT or not may_review(caller, self.registry, receipt.code):
            raise NotAllowed(
                "只有上级监管单位可以退回或审核网站的工作年度报表",
                "only a supervisory office above the site may return or approve its work report",
            )
        if receipt.outcome != "accepted":
            raise Conflict(
                "只能退回或审核已通过校验的报表",
                "only an accepted report can be returned or approved",
                error="not_accepted",
            )
        latest = await self.receipts.latest(receipt.code, receipt.form, receipt.year)
        if latest is not None and latest.version != receipt.version:
            raise Conflict(
                f"该版本已被第 {latest.version} 版取代，请对最新版本操作",
                f"version {receipt.version} was superseded by version {latest.version}",
                error="superseded",
            )
        locked = await self.is_locked(receipt.code, receipt.form, receipt.year)
        if locked:
            raise Locked(
                "该报表已审核锁定，如需退回请先解除锁定",
                "the report is approved and locked; unlock it first",
            )
        return await self._record(
            caller, action, receipt.code, receipt.form, receipt.year, receipt_id, reason, paths
        )

    async def unlock(
        self, caller: Caller, code: str, form: str, year: int, reason: str
    ) -> ReviewRecorded:
        # authorise before revealing anything of the filing: a caller who may not review the
        # site is refused (403) whatever the lock's state; only then may it learn that state
        # (409 not_locked)
        if form != WORK_REPORT or not may_review(caller, self.registry, code):
            raise NotAllowed(
                "只有审核单位或其上级单位可以解除锁定",
                "only the approving office or one above it may unlock",
            )
        actions = await self.store.of_filing(code, form, year)
        approvals = [a for a in actions if a.action == "approve"]
        if not approvals or not await self.is_locked(code, form, year):
            raise Conflict("该报表未被锁定", "the filing is not locked", error="not_locked")
        if not may_unlock(caller, self.registry, code, approvals[-1].office):
            raise NotAllowed(
                "只有审核单位或其上级单位可以解除锁定",
                "only the approving office or one above it may unlock",
            )
        return await self._record(caller, "unlock", code, form, year, None, reason, [])

    async def _record(
        self,
        caller: Caller,
        action: Action,
        code: str,
        form: str,
        year: int,
        receipt_id: str | None,
        reason: str,
        paths: list[str],
    ) -> ReviewRecorded:
        row = ReviewAction(
            review_id=uuid.uuid4().hex,
            action=action,
            receipt_id=receipt_id,
            code=code,
            form=form,
            year=year,
            office=caller.code if caller.kind == "office" and caller.code else "operator",
            reason=reason,
            paths=paths,
            at=datetime.now(UTC),
        )
        event = ReviewRecorded(**row.model_dump())
        await self.store.add(row, event)
        await self._send()
        return event

    async def history(self, caller: Caller, code: str, form: str, year: int) -> list[ReviewAction]:
        if not may_read(caller, self.registry, code):
            raise NotFound("未找到该报表", "no such filing")
        return await self.store.of_filing(code, form, year)

    async def filing(self, caller: Caller, code: str, form: str, year: int) -> Filing:
        """A filing's versions, its review actions and its lock, for a caller who may read it."""
        actions = await self.history(caller, code, form, year)
        versions = await self.receipts.history(code, form, year)
        return Filing(versions, actions, await self.is_locked(code, form, year))

    async def set_deadline(
        self, caller: Caller, year: int, node: str, deadline: datetime
    ) -> DeadlineSet:
        if not may_set_deadline(caller, self.registry, node):
            raise NotAllowed(
                "只有省级或部门监管单位可以为其所辖网站设定内部截止时间",
                "only the province or department office may set its internal deadline",
            )
        now = datetime.now(UTC)
        problem = internal_deadline_problem(year, deadline, now)
        if problem is not None:
            raise Invalid.field("invalid_deadline", "deadline.window", "deadline", *problem)
        setter = caller.code if caller.kind == "office" and caller.code else "operator"
        row = InternalDeadline(year=year, node=node, deadline=deadline, set_by=setter, at=now)
        event = DeadlineSet(**row.model_dump())
        await self.store.set_deadline(row, event)
        await self._send()
        return event

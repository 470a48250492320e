"""Filing a report: parse, check the caller, version, store in the outbox, publish, receipt."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from services.intake.batching import Batcher
from services.intake.errors import Conflict, Invalid, Locked, NotAllowed, NotFound, Unavailable
from services.intake.schemas import ReceiptOut, StageReached
from services.intake.store import IntakeStore, Receipt, row_conflict, row_refused
from shared.access import Caller, may_file, may_read
from shared.contracts import IssueOut, ReportSubmitted, content_hash
from shared.forms import WORK_REPORT, UnknownForm, load_form, parse_report, report_code
from shared.publication import PublicationDeclared
from shared.registry import Registry

Publish = Callable[[ReportSubmitted], Awaitable[None]]


@dataclass(frozen=True)
class FilingState:
    """What filing a new version needs to know: the latest version so far, and the lock."""

    latest: Receipt | None
    #: approved by a supervisory office and not unlocked since: no new version
    locked: bool = False


#: (code, form, year) → the filing's state
ReadFiling = Callable[[str, str, int], Awaitable[FilingState]]
#: (code, year) → the declarations, oldest first
ReadDeclarations = Callable[[str, int], Awaitable[list[PublicationDeclared]]]


def to_receipt(row: Receipt, base_url: str, duplicate: bool = False) -> ReceiptOut:
    stages = [StageReached(stage="submitted", at=row.received_at)]
    if row.judged_at is not None and row.outcome is not None:
        stages.append(StageReached(stage=row.outcome, at=row.judged_at))
    if row.aggregated_at is not None:
        stages.append(StageReached(stage="aggregated", at=row.aggregated_at))
    if row.published_at is not None:
        stages.append(StageReached(stage="published", at=row.published_at))
    issues = [IssueOut(**i) for i in row.issues or []]
    return ReceiptOut(
        receipt_id=row.receipt_id,
        code=row.code,
        form=row.form,
        form_version=row.form_version,
        year=row.year,
        version=row.version,
        content_hash=row.content_hash,
        received_at=row.received_at,
        status_url=f"{base_url}/v1/receipts/{row.receipt_id}",
        stage=stages[-1].stage,
        stages=stages,
        duplicate=duplicate,
        outcome=row.outcome,
        errors=[i for i in issues if i.severity == "error"],
        warnings=[i for i in issues if i.severity == "warning"],
        standing=row.standing,
        urls=row.urls or [],
    )


class Intake:
    """Takes reports from authenticated callers; a 202 only after JetStream's PubAck."""

    def __init__(
        self,
        registry: Registry,
        store: IntakeStore,
        publish: Publish,
        base_url: str,
        read_filing: ReadFiling | None = None,
        read_declarations: ReadDeclarations | None = None,
    ) -> None:
        self.registry = registry
        self.store = store
        self.publish = publish
        self.base_url = base_url
        #: without reviews (tests, tools) a filing is never locked
        self.read_filing = read_filing or self._latest_unreviewed
        #: where the site declared its work report published (公开声明), shown on its receipts
        self.read_declarations = read_declarations
        #: per filing: its lock and how many requests hold or wait for it (dropped at zero, so
        #: the map holds the filings in flight, not every filing ever seen)
        self._locks: dict[tuple[str, str, int], tuple[asyncio.Lock, list[int]]] = {}
        #: a publish failed since the last flush: rows may wait in the outbox
        self._outbox_pending = False
        # group commit: concurrent requests store their rows, and later mark them in the
        # stream, in one transaction per batch; a row the database refuses fails only its own
        # request (the batch is retried row by row)
        self._inserts: Batcher[Receipt, None] = Batcher(store.insert_all, by_item=row_refused)
        self._marks: Batcher[str, None] = Batcher(store.mark_all_in_stream, by_item=row_refused)

    async def _latest_unreviewed(self, code: str, form: str, year: int) -> FilingState:
        return FilingState(await self.store.latest(code, form, year))

    async def file(self, caller: Caller, raw: Any) -> tuple[ReceiptOut, bool]:
        """File one report; returns the receipt and whether it is a new version."""
        parsed = parse_report(raw)
        if parsed.report is None:
            issues = [IssueOut(**i.model_dump()) for i in parsed.issues]
            raise Invalid(
                "报表格式不符合要求，请按字段修改后重新提交",
                "the report does not match its form; see the field issues",
                issues,
                error="invalid_report",
            )
        report = parsed.report
        form, year = str(report["form"]), int(report["year"])
        code = report_code(report) or ""
        known = code in self.registry.sites or code in self.registry.nodes
        if not known:
            raise Invalid.field(
                "unknown_code",
                "registry.unknown_code",
                load_form(form, str(report["form_version"])).code_field,
                f"标识码 {code} 不在网站登记名录中",
                f"code {code} is not in the registry",
            )
        if not may_file(caller, self.registry, form, code):
            raise NotAllowed(
                f"当前令牌无权报送 {code} 的{form_label(form)}",
                f"this token may not file the {form} of {code}",
            )
        digest = content_hash(report)
        key = (code, form, year)
        async with self._filing_lock(key):
            filing = await self.read_filing(code, form, year)
            if filing.locked:
                raise Locked(
                    "该报表已由监管单位审核锁定，不能再提交新版本；如需修改，请联系审核单位解除锁定",
                    "the filing was approved and locked by its supervisory office; "
                    "ask it to unlock",
                )
            latest = filing.latest
            if latest is not None and latest.content_hash == digest:
                if not latest.in_stream:  # a retry after a 503 or a crash: the same message id
                    await self._publish_or_keep(latest)
                return to_receipt(latest, self.base_url, duplicate=True), False
            row = Receipt(
                receipt_id=uuid.uuid4().hex,
                code=code,
                form=form,
                form_version=str(report["form_version"]),
                year=year,
                version=(latest.version + 1) if latest else 1,
                content_hash=digest,
                received_at=datetime.now(UTC),
                submitted_by=f"{caller.kind}:{caller.code}",
                report=report,
            )
            await self._store(row)  # in the outbox (in_stream false) until the PubAck
            await self._publish_or_keep(row)
            row.in_stream = True
        if self._outbox_pending:
            await self._drain_outbox()
        return to_receipt(row, self.base_url), True

    async def _store(self, row: Receipt) -> None:
        """Insert a new version; Conflict when another intake stored this version first, Invalid
        when the database refuses this very row (the wire model should have refused its content
        first: this is the last line, never a 500)."""
        try:
            await self._inserts.submit(row)
        except Exception as exc:
            if row_conflict(exc):
                raise Conflict(
                    "同一报表的另一版本正在提交，请稍后重试",
                    "another version of this filing was stored at the same time: retry",
                    error="concurrent_version",
                ) from exc
            if not row_refused(exc):
                raise
            raise Invalid(
                "报表含有数据库无法保存的内容，未予保存；请检查各文本字段",
                "the database refused to store this report (see the text fields); "
                "nothing was stored",
                error="unstorable_report",
            ) from exc

    @asynccontextmanager
    async def _filing_lock(self, key: tuple[str, str, int]) -> AsyncIterator[None]:
        """One request at a time per filing: versions stay gapless and unique."""
        lock, users = self._locks.setdefault(key, (asyncio.Lock(), [0]))
        users[0] += 1
        try:
            async with lock:
                yield
        finally:
            users[0] -= 1
            if users[0] == 0:
                del self._locks[key]

    async def _publish_or_keep(self, row: Receipt) -> None:
        """Publish, or keep the row in the outbox and raise Unavailable. A lost PubAck does not
        mean a lost message: the stream may hold it already, so the row stays and the same
        message id goes out again (the client's retry of the same body, the next filing, or the
        next start); deleting it would leave a judged version without a receipt and let the
        retry file the same content again under a new receipt."""
        try:
            await self._publish(row)
        except Exception as exc:
            self._outbox_pending = True
            raise Unavailable(
                "消息服务暂未确认，报表已暂存并将自动重发；请稍后用相同内容重试（不会重复计入）",
                "the stream did not acknowledge; the report is kept and will be sent again: "
                f"retry the same body later (same receipt, never counted twice): {exc!r}",
            ) from exc

    async def _drain_outbox(self) -> None:
        """After a 503, the first successful publish sends what the outbox kept."""
        self._outbox_pending = False
        try:
            await self.flush_outbox()
        except Exception:
            self._outbox_pending = True

    async def _publish(self, row: Receipt) -> None:
        await self.publish(
            ReportSubmitted(
                receipt_id=row.receipt_id,
                content_hash=row.content_hash,
                form=row.form,
                form_version=row.form_version,
                year=row.year,
                code=row.code,
                version=row.version,
                received_at=row.received_at,
                submitted_by=row.submitted_by,
                report=row.report,
            )
        )
        await self._marks.submit(row.receipt_id)

    async def flush_outbox(self) -> int:
        """Publish what was stored but never acknowledged (a crash between insert and PubAck)."""
        pending = await self.store.outbox()
        for row in pending:
            await self._publish(row)
        return len(pending)

    async def receipt(self, caller: Caller, receipt_id: str) -> ReceiptOut:
        row = await self.store.get(receipt_id)
        if row is None or not may_read(caller, self.registry, row.code):
            raise NotFound("未找到该回执", "no such receipt")
        receipt = to_receipt(row, self.base_url)
        if self.read_declarations is not None and row.form == WORK_REPORT:
            declared = await self.read_declarations(row.code, row.year)
            receipt.declarations = [d for d in declared if d.kind == "report"]
        return receipt


def form_label(form: str) -> str:
    """A form's title (政府网站工作年度报表), as its definition gives it."""
    try:
        return load_form(form).title
    except UnknownForm:
        return form

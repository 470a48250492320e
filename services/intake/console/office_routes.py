"""The console's review screens: the office's queue, a filing's screen and its review actions,
the internal deadline. Every action is the API's use case (services.intake.review)."""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response
from pydantic import ValidationError

from services.intake.console.context import Console
from services.intake.console.publication import publication_history
from services.intake.console.queue import (
    FILTERS,
    SORTS,
    QueueQuery,
    filing_line,
    node_deadline,
    queue_page,
    site_lines,
)
from services.intake.console.reportview import changed_rows, report_rows
from services.intake.console.web import Visit, read_form, redirect, render, visitor
from services.intake.edge import CODE, FORM
from services.intake.errors import Invalid, NotAllowed, NotFound
from services.intake.review_api import NoteRequest, ReturnRequest
from shared.access import Caller, may_review, may_unlock, oversees
from shared.contracts import IssueOut
from shared.deadlines import BEIJING_TIME, deadline_for
from shared.filings import current_reporting_year
from shared.forms import WORK_REPORT, load_form
from shared.registry.model import LEVEL_LABELS

Code = Annotated[str, Path(pattern=CODE)]
Form = Annotated[str, Path(pattern=FORM)]
Year = Annotated[int, Path(ge=2000, le=2100)]
ACTION_LABELS = {"return": "退回", "approve": "审核通过（锁定）", "unlock": "解除锁定"}
#: a review form is small: a reason, a few field paths, the tokens
REVIEW_LIMIT = 16 * 1024


def invalid_request(exc: ValidationError) -> Invalid:
    issues = [
        IssueOut(
            rule_id=f"request.{err['type']}",
            severity="error",
            paths=[".".join(str(p) for p in err["loc"])],
            message_zh="退回原因须为 1 至 500 字" if err["loc"][:1] == ("reason",) else "字段无效",
            message_en=str(err["msg"]),
        )
        for err in exc.errors(include_url=False)
    ]
    return Invalid(issues[0].message_zh, "invalid review request", issues, error="invalid_request")


def office_of(caller: Caller) -> str:
    if caller.kind != "office" or not caller.code:
        raise NotAllowed("审核队列仅供监管单位使用", "the queue is for supervisory offices")
    return caller.code


def office_router(console: Console) -> APIRouter:
    router = APIRouter()
    intake, reviews = console.intake, console.reviews
    registry = intake.registry

    async def signed_in(request: Request) -> Visit:
        return await visitor(request, console.sessions, intake.store)

    @router.get("/queue")
    async def queue(
        request: Request,
        year: Annotated[int | None, Query(ge=2000, le=2100)] = None,
        node: Annotated[str | None, Query(pattern=CODE)] = None,
        status: Annotated[str, Query(pattern="^(" + "|".join(FILTERS) + ")?$")] = "",
        site_type: Annotated[str, Query(alias="type", pattern="^(portal|department)?$")] = "",
        sort: Annotated[str, Query(pattern="^(" + "|".join(SORTS) + ")$")] = "code",
        desc: Annotated[bool, Query()] = False,
        page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    ) -> Response:
        visit = await signed_in(request)
        office = office_of(visit.caller)
        year = year or current_reporting_year(datetime.now(UTC))
        node = node or office
        if node not in registry.nodes or not oversees(registry, office, node):
            raise NotFound("未找到该节点", "no such node below this office")
        codes = registry.sites_under(node, year)
        receipts = await console.queries.receipts(WORK_REPORT, year)
        actions = await console.queries.reviews(WORK_REPORT, year)
        policy = await console.queries.deadlines(year)
        lines = site_lines(registry, codes, year, receipts, actions, policy)
        query = QueueQuery(node, status, site_type, sort, desc, page)
        nodes = [
            (n, registry.nodes[n].name, len(registry.path(n)) - len(registry.path(office)))
            for n in registry.descendants(office)
        ]
        return render(
            request,
            "queue.html",
            visit.session,
            caller=visit.caller,
            year=year,
            query=query,
            result=queue_page(lines, query),
            filters=FILTERS,
            sorts=SORTS,
            nodes=nodes,
            node_name=registry.nodes[node].name,
            level=LEVEL_LABELS.get(registry.nodes[office].level, ""),
        )

    @router.get("/filings/{code}/{form}/{year}")
    async def filing_screen(
        request: Request, code: Code, form: Form, year: Year, problem: str = ""
    ) -> Response:
        visit = await signed_in(request)
        return await filing_page(request, visit, code, form, year)

    async def filing_page(
        request: Request,
        visit: Visit,
        code: str,
        form: str,
        year: int,
        problem: str = "",
        status: int = 200,
    ) -> Response:
        caller = visit.caller
        filing = await reviews.filing(caller, code, form, year)  # NotFound unless may_read
        if not filing.versions:
            raise NotFound("该报表尚无任何版本", "no version of this filing")
        defn = load_form(form)
        latest = filing.versions[-1]
        accepted = [v for v in filing.versions if v.outcome == "accepted"]
        shown = accepted[-1] if accepted else latest
        approvals = [a for a in filing.reviews if a.action == "approve"]
        may_act = (
            form == WORK_REPORT
            and may_review(caller, registry, code)
            and latest.outcome == "accepted"
            and not filing.locked
        )
        may_lift = (
            filing.locked
            and bool(approvals)
            and may_unlock(caller, registry, code, approvals[-1].office)
        )
        name = registry.sites[code].name if code in registry.sites else registry.nodes[code].name
        fields = [(row.path, row.label) for row in report_rows(defn, None)]
        policy = await console.queries.deadlines(year)
        deadline = (
            deadline_for(policy, registry, code)
            if code in registry.sites
            else node_deadline(policy, registry, code)
        )
        line = filing_line(code, name, year, filing.versions, filing.reviews, deadline)
        publication = await publication_history(console.declarations, caller, code, year)
        return render(
            request,
            "filing.html",
            visit.session,
            status,
            caller,
            code=code,
            form=form,
            year=year,
            name=name,
            title=defn.title,
            filing=filing,
            line=line,
            latest=latest,
            shown=shown,
            rows=report_rows(defn, shown.report),
            changes=changed_rows(defn, filing.versions),
            may_act=may_act,
            may_lift=may_lift,
            fields=fields,
            field_labels=dict(fields),
            office_names={
                n: registry.nodes[n].name
                for n in {a.office for a in filing.reviews}
                if n in registry.nodes
            },
            action_labels=ACTION_LABELS,
            problem=problem,
            publication=publication,
        )

    async def confirmed(request: Request, visit: Visit) -> tuple[bool, dict[str, list[str]]]:
        posted = await read_form(request, visit.session, REVIEW_LIMIT)
        fields: dict[str, list[str]] = {}
        for key, value in posted.multi_items():
            if isinstance(value, str):  # no NUL: no database keeps it in a text column
                fields.setdefault(key, []).append(value.replace("\x00", ""))
        return fields.get("confirm", [""])[-1] == "yes", fields

    def one(fields: dict[str, list[str]], name: str) -> str:
        return fields.get(name, [""])[-1]

    @router.post("/filings/{code}/{form}/{year}/{action}")
    async def act(
        request: Request,
        code: Code,
        form: Form,
        year: Year,
        action: Annotated[str, Path(pattern="^(return|approve|unlock)$")],
    ) -> Response:
        visit = await signed_in(request)
        ok, fields = await confirmed(request, visit)
        if not ok:
            problem = f"请勾选确认后再{ACTION_LABELS[action]}"
            return await filing_page(request, visit, code, form, year, problem, 422)
        try:
            if action == "return":
                body = ReturnRequest(reason=one(fields, "reason"), paths=fields.get("paths", []))
                event = await reviews.act_on_receipt(
                    visit.caller, one(fields, "receipt_id"), "return", body.reason, body.paths
                )
            elif action == "approve":
                note = NoteRequest(reason=one(fields, "reason"))
                event = await reviews.act_on_receipt(
                    visit.caller, one(fields, "receipt_id"), "approve", note.reason, []
                )
            else:
                note = NoteRequest(reason=one(fields, "reason"))
                event = await reviews.unlock(visit.caller, code, form, year, note.reason)
        except ValidationError as exc:
            raise invalid_request(exc) from None
        visit.session.flash.append(f"已{ACTION_LABELS[action]}。")
        return redirect(request, f"/filings/{event.code}/{event.form}/{event.year}")

    @router.post("/deadline")
    async def set_deadline(request: Request) -> Response:
        visit = await signed_in(request)
        ok, fields = await confirmed(request, visit)
        office = office_of(visit.caller)
        year_text, day = one(fields, "year"), one(fields, "date")
        try:
            year = int(year_text)
            date = datetime.strptime(day, "%Y-%m-%d").date()
        except ValueError:
            raise Invalid.field(
                "invalid_deadline", "console.deadline", "date", "请填写有效日期", "not a date"
            ) from None
        if not ok:
            raise Invalid.field(
                "not_confirmed", "console.confirm", "confirm", "请勾选确认", "not confirmed"
            )
        deadline = datetime.combine(date, time(23, 59, 59), tzinfo=BEIJING_TIME)
        await reviews.set_deadline(visit.caller, year, office, deadline)
        visit.session.flash.append(f"内部截止时间已设为 {deadline:%Y-%m-%d %H:%M:%S}（北京时间）。")
        return redirect(request, "/home")

    return router

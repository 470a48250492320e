"""The console's filing screens: home, the form on screen, uploads, templates, receipts."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse, Response
from starlette.datastructures import UploadFile

from services.intake.console.context import Console
from services.intake.console.formview import build_view, flat_values, posted_values, raw_report
from services.intake.console.publication import publication_history
from services.intake.console.queue import FilingLine, filing_line, node_deadline
from services.intake.console.web import Visit, as_lists, read_form, redirect, render, visitor
from services.intake.edge import CODE, FORM, decode_json
from services.intake.errors import IntakeError, Invalid, NotAllowed, UnsupportedMediaType
from services.intake.problems import status_of
from services.intake.schemas import ReceiptOut
from services.intake.workbooks import Templates, file_workbook, header_values, with_cells
from shared.access import Caller, may_file
from shared.contracts import IssueOut
from shared.deadlines import deadline_for
from shared.excel import (
    RECORDS_ROWS,
    XLSX_MEDIA_TYPE,
    FilledWorkbook,
    WorkbookError,
    read_workbook,
)
from shared.filings import current_reporting_year
from shared.forms import (
    SUPERVISION_REPORT,
    WORK_REPORT,
    FormDefinition,
    UnknownForm,
    check_report,
    load_form,
)
from shared.publication import STATE_LABELS
from shared.registry import Level

log = logging.getLogger(__name__)

Form = Annotated[str, Path(pattern=FORM)]
Year = Annotated[int, Path(ge=2000, le=2100)]
ReceiptId = Annotated[str, Path(pattern=CODE)]
#: stages after which a receipt no longer moves
FINAL_STAGES = ("published", "rejected")


def own_forms(console: Console, caller: Caller) -> list[str]:
    """The forms the caller files itself: a site its work report, a province or department
    office its supervision report."""
    code = caller.code or ""
    return [
        f
        for f in (WORK_REPORT, SUPERVISION_REPORT)
        if may_file(caller, console.intake.registry, f, code)
    ]


def definition(form: str) -> FormDefinition:
    try:
        return load_form(form)
    except UnknownForm as exc:  # pragma: no cover - the path pattern admits known forms only
        raise NotAllowed("未知表单", str(exc)) from exc


def return_issues(line: FilingLine | None) -> list[IssueOut]:
    """The office's return as issues beside the fields it named (or at the top without any)."""
    if line is None or line.standing.returned is None:
        return []
    review = next(
        (r for r in reversed(line.reviews) if r.review_id == line.standing.returned.review_id),
        None,
    )
    paths = review.paths if review else []
    reason = line.standing.returned.reason
    return [
        IssueOut(
            rule_id="review.return",
            severity="warning",
            paths=list(paths),
            message_zh=f"审核单位退回：{reason}",
            message_en=f"returned by the supervisory office: {reason}",
        )
    ]


async def readable_workbook(data: bytes) -> FilledWorkbook | None:
    """The uploaded workbook read, or None when it cannot be (filing then says why)."""
    try:
        return await asyncio.to_thread(read_workbook, data)
    except WorkbookError:
        return None


def audit_filed(receipt: ReceiptOut) -> None:
    """The log line the API writes for each filing, marked as made at the console."""
    where = {"receipt_id": receipt.receipt_id, "code": receipt.code, "via": "console"}
    log.info("filed", extra=where)


def site_router(console: Console) -> APIRouter:
    router = APIRouter()
    intake = console.intake
    registry = intake.registry
    #: the API's templates (same rendering and cache), prefilled for the signed-in holder
    templates = Templates(registry)

    async def signed_in(request: Request) -> Visit:
        return await visitor(request, console.sessions, intake.store)

    async def own_lines(caller: Caller, form: str) -> list[FilingLine]:
        """The caller's own filings of a form, newest year first, this year's even if empty."""
        code = caller.code or ""
        receipts = (await console.queries.receipts(form, codes=[code])).get(code, [])
        reviews = await console.queries.reviews(form, codes=[code])
        years = {r.year for r in receipts} | {current_reporting_year(datetime.now(UTC))}
        lines = []
        for year in sorted(years, reverse=True):
            policy = await console.queries.deadlines(year)
            deadline = (
                deadline_for(policy, registry, code)
                if code in registry.sites
                else node_deadline(policy, registry, code)
            )
            name = (
                registry.sites[code].name if code in registry.sites else registry.nodes[code].name
            )
            versions = [r for r in receipts if r.year == year]
            lines.append(
                filing_line(code, name, year, versions, reviews.get((code, year), []), deadline)
            )
        return lines

    async def own_line(caller: Caller, form: str, year: int) -> FilingLine | None:
        return next((x for x in await own_lines(caller, form) if x.year == year), None)

    @router.get("/home")
    async def home(request: Request) -> Response:
        visit = await signed_in(request)
        caller = visit.caller
        filings = {form: await own_lines(caller, form) for form in own_forms(console, caller)}
        node = registry.nodes.get(caller.code or "") if caller.kind == "office" else None
        deadline_node = node is not None and node.level in (Level.PROVINCE, Level.DEPARTMENT)
        year = current_reporting_year(datetime.now(UTC))
        policy = await console.queries.deadlines(year)
        return render(
            request,
            "home.html",
            visit.session,
            caller=caller,
            filings=filings,
            titles={f: load_form(f).title for f in filings},
            node=node,
            year=year,
            may_set_deadline=deadline_node,
            internal_deadline=policy.overrides.get(caller.code or ""),
            reminders=await console.queries.reminders(node.code) if node else [],
            state_labels=STATE_LABELS,
            node_deadline=node_deadline(policy, registry, node.code) if node else None,
            name=registry.sites[caller.code].name
            if caller.code in registry.sites
            else (node.name if node else caller.label),
        )

    async def form_page(
        request: Request,
        visit: Visit,
        form: str,
        year: int,
        values: dict[str, Any] | None = None,
        issues: list[IssueOut] | None = None,
        status: int = 200,
        checked: bool = False,
    ) -> Response:
        caller = visit.caller
        code = caller.code or ""
        if not may_file(caller, registry, form, code):
            raise NotAllowed(
                "当前账号无权填报该报表", f"this sign-in may not file the {form} of {code}"
            )
        defn = definition(form)
        draft = await console.queries.draft(code, form, year)
        line = await own_line(caller, form, year)
        if values is None:
            if draft is not None:
                values = draft.values
            else:
                latest = await intake.store.latest(code, form, year)
                report = (
                    latest.report
                    if latest
                    else {"year": year, **header_values(defn, registry, caller)}
                )
                values = flat_values(defn, report)
        shown = [*(issues or []), *return_issues(line)]
        view = build_view(defn, values, shown)
        return render(
            request,
            "form.html",
            visit.session,
            status,
            caller,
            view=view,
            year=year,
            form=form,
            draft=draft,
            line=line,
            locked=await console.reviews.is_locked(code, form, year),
            checked=checked,
            errors=view.issues("error"),
            warnings=view.issues("warning"),
        )

    @router.get("/file/{form}/{year}")
    async def form_screen(request: Request, form: Form, year: Year) -> Response:
        visit = await signed_in(request)
        return await form_page(request, visit, form, year)

    @router.post("/file/{form}/{year}")
    async def form_post(request: Request, form: Form, year: Year) -> Response:
        visit = await signed_in(request)
        posted = await read_form(request, visit.session, console.max_body_bytes)
        caller, code = visit.caller, visit.caller.code or ""
        if not may_file(caller, registry, form, code):
            raise NotAllowed("当前账号无权填报该报表", f"may not file the {form} of {code}")
        defn = definition(form)
        values = posted_values(defn, as_lists(posted))
        intent = posted.get("intent")
        if intent == "save":
            await console.queries.save_draft(code, form, year, values, f"{caller.kind}:{code}")
            visit.session.flash.append("草稿已保存，可随时回到本页继续填写。")
            return redirect(request, f"/file/{form}/{year}")
        raw = raw_report(defn, year, values)
        result = check_report(raw, registry)
        issues = [IssueOut(**i.model_dump()) for i in result.issues]
        if intent != "file" or not result.accepted:
            status = 422 if not result.accepted else 200
            return await form_page(request, visit, form, year, values, issues, status, True)
        try:
            receipt, _new = await intake.file(caller, raw)
        except Invalid as exc:
            return await form_page(request, visit, form, year, values, exc.issues, 422, True)
        audit_filed(receipt)
        await console.queries.drop_draft(code, form, year)
        return redirect(request, f"/receipts/{receipt.receipt_id}")

    def precheck(
        raw: Any, filled: FilledWorkbook | None
    ) -> tuple[dict[str, Any], list[IssueOut], int, bool] | None:
        """An uploaded report judged as the form on screen is (the validator's rules) before
        it is filed: with errors, its values and issues (naming their cells in a workbook) for
        the form page; None when it may be filed as it is (or is no report of a known form,
        which filing then refuses with its own reason)."""
        if not isinstance(raw, dict) or raw.get("form") not in (WORK_REPORT, SUPERVISION_REPORT):
            return None
        result = check_report(raw, registry)
        if result.accepted:
            return None
        issues = [IssueOut(**i.model_dump()) for i in result.issues]
        if filled is not None:
            issues = with_cells(Invalid("", "", issues), filled).issues
        values = flat_values(load_form(str(raw["form"])), raw)
        return values, issues, 422, True

    @router.post("/upload/{form}/{year}")
    async def upload(request: Request, form: Form, year: Year) -> Response:
        visit = await signed_in(request)
        posted = await read_form(request, visit.session, console.max_body_bytes)
        upload = posted.get("report")
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise Invalid.field(
                "no_file", "console.no_file", "report", "请选择要上传的文件", "no file"
            )
        data = await upload.read(console.max_body_bytes + 1)
        name = upload.filename.lower()
        try:
            if name.endswith(".xlsx") or upload.content_type == XLSX_MEDIA_TYPE:
                filled = await readable_workbook(data)
                if filled is not None and (refused := precheck(filled.report, filled)):
                    return await form_page(request, visit, form, year, *refused)
                receipt = await file_workbook(intake, visit.caller, data)
            elif name.endswith(".json"):
                raw = decode_json(data)
                if refused := precheck(raw, None):
                    return await form_page(request, visit, form, year, *refused)
                receipt, _new = await intake.file(visit.caller, raw)
            else:
                raise UnsupportedMediaType(
                    "请上传 Excel 模板（.xlsx）或 JSON 文件（.json）",
                    f"{upload.filename} is neither .xlsx nor .json",
                )
        except IntakeError as exc:
            return render(
                request,
                "upload_refused.html",
                visit.session,
                status_of(exc),
                visit.caller,
                error=exc,
                form=form,
                year=year,
                errors=[i for i in exc.issues if i.severity == "error"],
                warnings=[i for i in exc.issues if i.severity == "warning"],
            )
        audit_filed(receipt)
        return redirect(request, f"/receipts/{receipt.receipt_id}")

    @router.get("/template/{form}/{year}")
    async def template(request: Request, form: Form, year: Year) -> Response:
        visit = await signed_in(request)
        workbook = await templates.get(form, year, RECORDS_ROWS, visit.caller)
        return Response(
            workbook.data,
            media_type=XLSX_MEDIA_TYPE,
            headers={
                "Content-Disposition": f'attachment; filename="{workbook.filename}"',
                "Cache-Control": "private, no-store",
            },
        )

    @router.get("/receipts/{receipt_id}")
    async def receipt_page(request: Request, receipt_id: ReceiptId) -> Response:
        visit = await signed_in(request)
        receipt = await intake.receipt(visit.caller, receipt_id)
        publication = await publication_history(
            console.declarations, visit.caller, receipt.code, receipt.year
        )
        return render(
            request,
            "receipt.html",
            visit.session,
            caller=visit.caller,
            receipt=receipt,
            final=receipt.stage in FINAL_STAGES,
            title=load_form(receipt.form).title,
            publication=publication,
        )

    @router.get("/receipts/{receipt_id}/stage")
    async def receipt_stage(request: Request, receipt_id: ReceiptId) -> Response:
        visit = await signed_in(request)
        receipt = await intake.receipt(visit.caller, receipt_id)
        return JSONResponse(
            {"stage": receipt.stage, "final": receipt.stage in FINAL_STAGES},
            headers={"Cache-Control": "no-store"},
        )

    return router

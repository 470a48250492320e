"""Routes for supervisory offices: return, approve, unlock, a filing's history, deadlines."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, TypeVar

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, ConfigDict, Field

from services.intake.auth import Authenticated
from services.intake.declarations import Declarations
from services.intake.edge import CODE, FORM, json_body, read_model, required
from services.intake.filing import Intake, to_receipt
from services.intake.review import Reviews
from services.intake.schemas import ReceiptOut
from shared.contracts import DeadlineSet, ReviewRecorded
from shared.publication import PublicationDeclared
from shared.text import SafeStr


class ReturnRequest(BaseModel):
    """退回: why, and optionally which fields to correct."""

    model_config = ConfigDict(extra="forbid")

    reason: SafeStr = Field(min_length=1, max_length=500, description="退回原因")
    paths: list[Annotated[str, Field(pattern=r"^[a-z0-9_.]{1,100}$")]] = Field(
        default_factory=list, max_length=100, description="需修改的字段路径"
    )


class NoteRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: SafeStr = Field(default="", max_length=500)


class DeadlineRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    deadline: datetime = Field(description="ISO 8601 with offset, e.g. 2027-01-29T23:59:59+08:00")


Model = TypeVar("Model", bound=BaseModel)


class FilingOut(BaseModel):
    """A filing's versions and every review action on it, oldest first."""

    code: str
    form: str
    year: int
    locked: bool
    versions: list[ReceiptOut]
    reviews: list[ReviewRecorded]
    #: where the site or office declared it published (公开声明), oldest first
    declarations: list[PublicationDeclared] = []


Code = Annotated[str, Path(pattern=CODE)]
#: the largest body of a review or deadline request (a reason of 500 characters, escaped, and
#: 100 field paths fit many times over)
REVIEW_BODY_BYTES = 32 * 1024


Form = Annotated[str, Path(pattern=FORM)]
Year = Annotated[int, Path(ge=2000, le=2100)]


def build_review_router(
    intake: Intake, reviews: Reviews, declarations: Declarations | None = None
) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["review"])

    @router.post(
        "/receipts/{receipt_id}/return",
        status_code=202,
        response_model=ReviewRecorded,
        summary="Return a report for correction (退回)",
        openapi_extra=json_body(ReturnRequest),
    )
    async def return_report(
        receipt_id: Code, request: Request, caller: Authenticated
    ) -> ReviewRecorded:
        body = required(await read_model(request, ReturnRequest, REVIEW_BODY_BYTES))
        return await reviews.act_on_receipt(caller, receipt_id, "return", body.reason, body.paths)

    @router.post(
        "/receipts/{receipt_id}/approve",
        status_code=202,
        response_model=ReviewRecorded,
        summary="Approve a report, locking it (审核通过并锁定)",
        openapi_extra=json_body(NoteRequest, required=False),
    )
    async def approve_report(
        receipt_id: Code, request: Request, caller: Authenticated
    ) -> ReviewRecorded:
        body = await read_model(request, NoteRequest, REVIEW_BODY_BYTES)
        reason = body.reason if body else ""
        return await reviews.act_on_receipt(caller, receipt_id, "approve", reason, [])

    @router.post(
        "/filings/{code}/{form}/{year}/unlock",
        status_code=202,
        response_model=ReviewRecorded,
        summary="Unlock an approved filing (解除锁定)",
        openapi_extra=json_body(NoteRequest, required=False),
    )
    async def unlock_filing(
        code: Code, form: Form, year: Year, request: Request, caller: Authenticated
    ) -> ReviewRecorded:
        body = await read_model(request, NoteRequest, REVIEW_BODY_BYTES)
        return await reviews.unlock(caller, code, form, year, body.reason if body else "")

    @router.get(
        "/filings/{code}/{form}/{year}",
        response_model=FilingOut,
        summary="A filing's versions and review history (版本与审核记录)",
    )
    async def filing_history(
        code: Code, form: Form, year: Year, caller: Authenticated
    ) -> FilingOut:
        filing = await reviews.filing(caller, code, form, year)
        declared = (await declarations.history(caller, code, year))[0] if declarations else []
        return FilingOut(
            code=code,
            form=form,
            year=year,
            locked=filing.locked,
            versions=[to_receipt(v, intake.base_url) for v in filing.versions],
            reviews=[ReviewRecorded(**a.model_dump()) for a in filing.reviews],
            declarations=declared,
        )

    @router.put(
        "/deadlines/{year}/{node}",
        status_code=202,
        response_model=DeadlineSet,
        summary="Set an internal deadline for the sites below a province or department",
        openapi_extra=json_body(DeadlineRequest),
    )
    async def set_deadline(
        year: Year, node: Code, request: Request, caller: Authenticated
    ) -> DeadlineSet:
        body = required(await read_model(request, DeadlineRequest, REVIEW_BODY_BYTES))
        return await reviews.set_deadline(caller, year, node, body.deadline)

    return router

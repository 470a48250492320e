"""Routes for filing: a report (JSON or a filled workbook), its receipt, public registry entries."""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response

from services.intake.auth import Authenticated
from services.intake.directory import node_entry, site_entry
from services.intake.edge import CODE, decode_json, read_limited
from services.intake.errors import UnsupportedMediaType
from services.intake.filing import Intake
from services.intake.problems import ERRORS
from services.intake.schemas import NodeOut, ReceiptOut, SiteOut
from services.intake.workbooks import file_workbook
from shared.excel import XLSX_MEDIA_TYPE
from shared.forms import json_schema, list_forms, load_form

log = logging.getLogger(__name__)


def report_body_schema() -> dict[str, Any]:
    schemas = [json_schema(load_form(form, version)) for form, version in list_forms()]
    return {
        "required": True,
        "content": {
            "application/json": {"schema": {"oneOf": schemas}},
            XLSX_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}},
        },
    }


def accepted(receipt: ReceiptOut) -> Response:
    """The 202 with its receipt, serialised once by pydantic (no dict, no json.dumps)."""
    return Response(receipt.model_dump_json(), status_code=202, media_type="application/json")


def build_filing_router(intake: Intake, max_body_bytes: int) -> APIRouter:
    router = APIRouter(prefix="/v1")
    registry = intake.registry

    @router.post(
        "/reports",
        status_code=202,
        response_model=ReceiptOut,
        responses=ERRORS,
        summary="File a report (报送报表)",
        openapi_extra={"requestBody": report_body_schema()},
    )
    async def file_report(request: Request, caller: Authenticated) -> Response:
        """Returns 202 with a receipt only once the submission is stored in JetStream."""
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type == XLSX_MEDIA_TYPE:
            receipt = await file_workbook(
                intake, caller, await read_limited(request, max_body_bytes)
            )
        elif content_type == "application/json":
            raw = decode_json(await read_limited(request, max_body_bytes))
            receipt, _new = await intake.file(caller, raw)
        else:
            raise UnsupportedMediaType(
                "请以 application/json 或 Excel 模板（.xlsx）提交报表",
                f"content type {content_type or '(none)'} is neither application/json "
                f"nor {XLSX_MEDIA_TYPE}",
            )
        log.info("filed", extra={"receipt_id": receipt.receipt_id, "code": receipt.code})
        return accepted(receipt)

    @router.get(
        "/receipts/{receipt_id}",
        response_model=ReceiptOut,
        responses=ERRORS,
        summary="A receipt and its stages (回执)",
    )
    async def get_receipt(
        receipt_id: Annotated[str, Path(pattern=CODE)], caller: Authenticated
    ) -> ReceiptOut:
        return await intake.receipt(caller, receipt_id)

    @router.get(
        "/sites/{code}",
        response_model=SiteOut,
        responses=ERRORS,
        summary="A site's public registry entry (网站登记信息)",
    )
    async def get_site(code: Annotated[str, Path(pattern=CODE)]) -> SiteOut:
        return site_entry(registry, code)

    @router.get(
        "/nodes/{code}",
        response_model=NodeOut,
        responses=ERRORS,
        summary="A node of either tree with its children (行政区划或部门系统节点)",
    )
    async def get_node(code: Annotated[str, Path(pattern=CODE)]) -> NodeOut:
        return node_entry(registry, code)

    return router

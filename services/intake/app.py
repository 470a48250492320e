"""The intake's HTTP routes: thin, each decodes, calls a use case, answers."""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Header, Path, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response

from services.intake.docs import install_docs
from services.intake.filing import Intake, decode_json
from services.intake.schemas import ApiError, NodeOut, Problem, ReceiptOut, SiteOut
from services.intake.workbooks import file_workbook
from shared.contracts import IssueOut
from shared.excel import XLSX_MEDIA_TYPE
from shared.forms import json_schema, list_forms, load_form
from shared.registry import Registry
from shared.registry.model import LEVEL_LABELS, SITE_TYPE_LABELS

log = logging.getLogger(__name__)
CODE = r"^[A-Za-z0-9_-]{1,64}$"
ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": Problem, "description": text}
    for status, text in {
        400: "malformed body (not JSON, not UTF-8)",
        401: "missing, wrong or expired token",
        403: "the token may not do this",
        404: "not found",
        413: "body over the size limit",
        415: "neither application/json nor an xlsx workbook",
        422: "the report does not match its form, or the code is not registered",
        503: "the stream did not acknowledge: the report is kept and re-sent; retry the same body",
    }.items()
}


def report_body_schema() -> dict[str, Any]:
    schemas = [json_schema(load_form(form, version)) for form, version in list_forms()]
    return {
        "required": True,
        "content": {
            "application/json": {"schema": {"oneOf": schemas}},
            XLSX_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}},
        },
    }


async def read_limited(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large(limit)
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > limit:
            raise too_large(limit)
    return bytes(body)


def too_large(limit: int) -> ApiError:
    return ApiError(
        413,
        "too_large",
        f"请求体超过 {limit // 1024} KiB 上限",
        f"body exceeds the {limit} byte limit",
    )


def accepted(receipt: ReceiptOut) -> Response:
    """The 202 with its receipt, serialised once by pydantic (no dict, no json.dumps)."""
    return Response(receipt.model_dump_json(), status_code=202, media_type="application/json")


def site_out(registry: Registry, code: str) -> SiteOut:
    site = registry.sites[code]
    return SiteOut(
        code=site.code,
        name=site.name,
        homepage_url=site.homepage_url,
        type=site.type.value,
        type_label=SITE_TYPE_LABELS[site.type],
        sponsor=site.sponsor,
        active_from=site.active_from,
        active_to=site.active_to,
        nodes=[
            {"code": n, "name": registry.nodes[n].name, "tree": registry.nodes[n].tree.value}
            for n in registry.site_ancestors(code)
        ],
    )


def node_out(registry: Registry, code: str) -> NodeOut:
    node = registry.nodes[code]
    return NodeOut(
        code=node.code,
        name=node.name,
        level=node.level.value,
        level_label=LEVEL_LABELS[node.level],
        tree=node.tree.value,
        parent=node.parent,
        path=registry.path(code),
        children=[
            {"code": c, "name": registry.nodes[c].name, "level": registry.nodes[c].level.value}
            for c in registry.children(code)
        ],
        sites=[{"code": s, "name": registry.sites[s].name} for s in registry.direct_sites(code)],
    )


def build_router(intake: Intake, max_body_bytes: int) -> APIRouter:
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
    async def file_report(
        request: Request, authorization: Annotated[str | None, Header()] = None
    ) -> Response:
        """Returns 202 with a receipt only once the submission is stored in JetStream."""
        caller = await intake.authenticate(authorization)
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type == XLSX_MEDIA_TYPE:
            body = await read_limited(request, max_body_bytes)
            receipt = await file_workbook(intake, caller, body)
            log.info("filed", extra={"receipt_id": receipt.receipt_id, "code": receipt.code})
            return accepted(receipt)
        if content_type != "application/json":
            raise ApiError(
                415,
                "unsupported_media_type",
                "请以 application/json 或 Excel 模板（.xlsx）提交报表",
                f"content type {content_type or '(none)'} is neither application/json "
                f"nor {XLSX_MEDIA_TYPE}",
            )
        raw = decode_json(await read_limited(request, max_body_bytes))
        receipt, _new = await intake.file(caller, raw)
        log.info("filed", extra={"receipt_id": receipt.receipt_id, "code": receipt.code})
        return accepted(receipt)

    @router.get(
        "/receipts/{receipt_id}",
        response_model=ReceiptOut,
        responses=ERRORS,
        summary="A receipt and its stages (回执)",
    )
    async def get_receipt(
        receipt_id: Annotated[str, Path(pattern=CODE)],
        authorization: Annotated[str | None, Header()] = None,
    ) -> ReceiptOut:
        caller = await intake.authenticate(authorization)
        return await intake.receipt(caller, receipt_id)

    @router.get(
        "/sites/{code}",
        response_model=SiteOut,
        responses=ERRORS,
        summary="A site's public registry entry (网站登记信息)",
    )
    async def get_site(code: Annotated[str, Path(pattern=CODE)]) -> SiteOut:
        if code not in registry.sites:
            raise ApiError(404, "not_found", f"网站 {code} 不在登记名录中", f"no site {code}")
        return site_out(registry, code)

    @router.get(
        "/nodes/{code}",
        response_model=NodeOut,
        responses=ERRORS,
        summary="A node of either tree with its children (行政区划或部门系统节点)",
    )
    async def get_node(code: Annotated[str, Path(pattern=CODE)]) -> NodeOut:
        if code not in registry.nodes:
            raise ApiError(404, "not_found", f"节点 {code} 不存在", f"no node {code}")
        return node_out(registry, code)

    return router


def create_app(intake: Intake, max_body_bytes: int, lifespan: Any = None) -> FastAPI:
    app = FastAPI(
        title="nianbao intake",
        summary="政府网站年度报表 — 报送接口 (report intake API)",
        version="1",
        lifespan=lifespan,
        docs_url=None,  # FastAPI's own pages load from a CDN: install_docs serves them offline
        redoc_url=None,
        # the intake exports Prometheus metrics itself (HttpMetrics); FastAPI's OpenTelemetry
        # hooks, unused, would look up the OTel providers and environment on every request
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.include_router(build_router(intake, max_body_bytes))
    install_docs(app)

    @app.exception_handler(ApiError)
    async def api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(exc.problem.model_dump(mode="json"), status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def bad_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
        issues = [
            IssueOut(
                rule_id=f"request.{err['type']}",
                severity="error",
                paths=[".".join(str(p) for p in err["loc"])],
                message_zh="请求参数不符合要求",
                message_en=str(err["msg"]),
            )
            for err in exc.errors()
        ]
        problem = Problem(
            error="invalid_request",
            message_zh="请求参数不符合要求",
            message_en="invalid request parameters",
            issues=issues,
        )
        return JSONResponse(problem.model_dump(mode="json"), status_code=422)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app

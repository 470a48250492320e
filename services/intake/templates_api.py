"""Excel templates over HTTP: download a form's workbook, its header prefilled from the registry."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Path, Query
from fastapi.responses import Response

from services.intake.auth import MaybeAuthenticated
from services.intake.edge import CODE
from services.intake.filing import Intake
from services.intake.problems import errors
from services.intake.workbooks import Templates
from shared.excel import RECORDS_ROWS, XLSX_MEDIA_TYPE


def build_templates_router(intake: Intake) -> APIRouter:
    router = APIRouter(prefix="/v1")
    templates = Templates(intake.registry)

    @router.get(
        "/templates/{form}.xlsx",
        response_class=Response,
        responses={
            200: {"content": {XLSX_MEDIA_TYPE: {}}, "description": "the workbook"},
            304: {"description": "unchanged since the ETag sent in If-None-Match"},
            **errors(401, 404, 422),
        },
        summary="Excel template of a form (报表 Excel 模板)",
    )
    async def get_template(
        form: Annotated[str, Path(pattern=CODE)],
        caller: MaybeAuthenticated,
        year: Annotated[int | None, Query(ge=2000, le=2100, description="报表年度")] = None,
        records: Annotated[
            int, Query(ge=1, le=50, description="empty rows of each table (其他移动新媒体)")
        ] = RECORDS_ROWS,
        if_none_match: Annotated[str | None, Header()] = None,
    ) -> Response:
        """The form laid out as in the official template, one value column (a column per quarter
        for quarterly figures), drop-downs for 是/否 and options (a multi-choice is one 是/否 row
        per option). With a site or office token, the header block comes prefilled from the
        registry. Fill the yellow cells and POST the file to /v1/reports as it is. Rendered once
        per form, version, year, rows and header: send the ETag back in If-None-Match for a
        304."""
        template = await templates.get(form, year, records, caller)
        headers = {
            "ETag": template.etag,
            # a prefilled header is the caller's own: no shared cache may keep it
            "Cache-Control": "private, no-cache" if template.prefilled else "public, max-age=3600",
            "Vary": "Authorization",
        }
        if if_none_match is not None and template.etag in {
            tag.strip().removeprefix("W/") for tag in if_none_match.split(",")
        }:
            return Response(status_code=304, headers=headers)
        return Response(
            template.data,
            media_type=XLSX_MEDIA_TYPE,
            headers={
                **headers,
                "Content-Disposition": f'attachment; filename="{template.filename}"',
            },
        )

    return router

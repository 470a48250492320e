"""Excel templates over HTTP: download a form's workbook, its header prefilled from the registry."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query
from fastapi.responses import Response

from services.intake.app import CODE, ERRORS
from services.intake.filing import Intake
from services.intake.schemas import ApiError
from services.intake.workbooks import header_values
from shared.excel import RECORDS_ROWS, XLSX_MEDIA_TYPE, build_template
from shared.filings import current_reporting_year
from shared.forms import UnknownForm, load_form


def build_templates_router(intake: Intake) -> APIRouter:
    router = APIRouter(prefix="/v1")

    @router.get(
        "/templates/{form}.xlsx",
        response_class=Response,
        responses={
            200: {"content": {XLSX_MEDIA_TYPE: {}}, "description": "the workbook"},
            **{k: v for k, v in ERRORS.items() if k in (401, 404, 422)},
        },
        summary="Excel template of a form (报表 Excel 模板)",
    )
    async def get_template(
        form: Annotated[str, Path(pattern=CODE)],
        year: Annotated[int | None, Query(ge=2000, le=2100, description="报表年度")] = None,
        records: Annotated[
            int, Query(ge=1, le=50, description="empty rows of each table (其他移动新媒体)")
        ] = RECORDS_ROWS,
        authorization: Annotated[str | None, Header()] = None,
    ) -> Response:
        """The form laid out as in the official template, one value column (a column per quarter
        for quarterly figures), drop-downs for 是/否 and options (a multi-choice is one 是/否 row
        per option). With a site or office token, the header block comes prefilled from the
        registry. Fill the yellow cells and POST the file to /v1/reports as it is."""
        try:
            defn = load_form(form)
        except UnknownForm as exc:
            raise ApiError(404, "not_found", f"未知表单：{form}", str(exc)) from exc
        values: dict[str, Any] = {"year": year or current_reporting_year(datetime.now(UTC))}
        suffix = ""
        if authorization is not None:
            caller = await intake.authenticate(authorization)
            values.update(header_values(defn, intake.registry, caller))
            suffix = f"-{caller.code}" if caller.code and len(values) > 1 else ""
        data = await asyncio.to_thread(build_template, defn, values, records)
        filename = f"{defn.form}-{defn.version}-{values['year']}{suffix}.xlsx"
        return Response(
            data,
            media_type=XLSX_MEDIA_TYPE,
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )

    return router

"""Filled workbooks at the intake: the header a caller's registry entry gives, filing an upload
exactly as its JSON would be filed, and errors that name the cells they concern."""

from __future__ import annotations

import asyncio
from typing import Any

from services.intake.filing import Intake
from services.intake.schemas import ApiError, ReceiptOut
from shared.access import Caller
from shared.contracts import IssueOut
from shared.excel import FilledWorkbook, WorkbookError, read_workbook
from shared.forms import FormDefinition
from shared.registry import Level, Registry

OFFICE_KINDS = {Level.PROVINCE: "province", Level.DEPARTMENT: "department"}


def header_values(defn: FormDefinition, registry: Registry, caller: Caller) -> dict[str, Any]:
    """The header block a caller's registry entry fills in (site identity, or the office)."""
    code = caller.code
    if defn.form == "work-report" and caller.kind == "site" and code in registry.sites:
        site = registry.sites[code]
        return {
            "site": {
                "name": site.name,
                "homepage_url": site.homepage_url,
                "sponsor": site.sponsor,
                "type": site.type.value,
                "site_code": site.code,
            }
        }
    node = registry.nodes.get(code or "")
    if defn.form == "supervision-report" and caller.kind == "office" and node is not None:
        kind = OFFICE_KINDS.get(node.level)
        if kind is None:
            return {}
        name = f"{node.name}人民政府办公厅" if kind == "province" else node.name
        return {"office": {"name": name, "kind": kind, "code": node.code}}
    return {}


def with_cells(exc: ApiError, filled: FilledWorkbook) -> ApiError:
    """The same error, each issue naming the cells of its paths in the uploaded workbook."""
    issues = []
    for issue in exc.problem.issues:
        cells = [c for path in issue.paths for c in filled.cells_of(path)]
        where = "、".join(cells)
        issues.append(
            IssueOut(
                **issue.model_dump(exclude={"cells", "message_zh", "message_en"}),
                cells=cells,
                message_zh=f"{issue.message_zh}（单元格 {where}）" if cells else issue.message_zh,
                message_en=f"{issue.message_en} (cell {', '.join(cells)})"
                if cells
                else issue.message_en,
            )
        )
    problem = exc.problem
    return ApiError(exc.status, problem.error, problem.message_zh, problem.message_en, issues)


async def file_workbook(intake: Intake, caller: Caller, body: bytes) -> ReceiptOut:
    """File a filled template exactly as its JSON would be filed; errors name their cells."""
    try:
        filled = await asyncio.to_thread(read_workbook, body)
    except WorkbookError as exc:
        status = 400 if exc.kind == "unreadable" else 422
        error = "invalid_workbook" if exc.kind == "unreadable" else "not_a_template"
        raise ApiError(status, error, exc.message_zh, exc.message_en) from exc
    try:
        receipt, _new = await intake.file(caller, filled.report)
    except ApiError as exc:
        raise with_cells(exc, filled) from None
    return receipt

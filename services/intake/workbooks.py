"""Excel workbooks at the intake: templates with a prefilled header, filled ones filed as JSON."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from services.intake.errors import IntakeError, Invalid, Malformed, NotFound, TooLarge
from services.intake.filing import Intake
from services.intake.schemas import ReceiptOut
from shared.access import Caller
from shared.contracts import IssueOut
from shared.excel import FilledWorkbook, WorkbookError, build_template, read_workbook
from shared.filings import current_reporting_year
from shared.forms import SUPERVISION_REPORT, WORK_REPORT, FormDefinition, UnknownForm, load_form
from shared.registry import Level, Registry

OFFICE_KINDS = {Level.PROVINCE: "province", Level.DEPARTMENT: "department"}
#: uploads are read off the event loop, two at a time at most (each within its own budget of
#: XML elements and seconds); more wait their turn
READERS = ThreadPoolExecutor(max_workers=2, thread_name_prefix="workbook-reader")


def header_values(defn: FormDefinition, registry: Registry, caller: Caller) -> dict[str, Any]:
    """The header block a caller's registry entry fills in (site identity, or the office)."""
    code = caller.code
    if defn.form == WORK_REPORT and caller.kind == "site" and code in registry.sites:
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
    if defn.form == SUPERVISION_REPORT and caller.kind == "office" and node is not None:
        kind = OFFICE_KINDS.get(node.level)
        if kind is None:
            return {}
        name = f"{node.name}人民政府办公厅" if kind == "province" else node.name
        return {"office": {"name": name, "kind": kind, "code": node.code}}
    return {}


@dataclass(frozen=True)
class Template:
    """A form's workbook, ready to download, with its entity tag (a digest of its bytes) and
    whether its header was prefilled for the caller."""

    filename: str
    data: bytes
    etag: str
    prefilled: bool


#: rendered templates kept per intake (blank ones: a few per form and year; prefilled ones: one
#: per site or office that downloads): about 20 KiB each
TEMPLATE_CACHE_SIZE = 512


class Templates:
    """Templates rendered once per form, version, year, table rows and prefilled header (a
    rendering takes ~200 ms of CPU), least recently used ones forgotten."""

    def __init__(self, registry: Registry, size: int = TEMPLATE_CACHE_SIZE) -> None:
        self.registry = registry
        self._render = functools.lru_cache(maxsize=size)(self._render_uncached)

    @staticmethod
    def _render_uncached(form: str, version: str, values: str, records: int) -> tuple[bytes, str]:
        data = build_template(load_form(form, version), json.loads(values), records)
        return data, f'"{hashlib.sha256(data).hexdigest()[:32]}"'

    async def get(
        self, form: str, year: int | None, records: int, caller: Caller | None
    ) -> Template:
        """The latest version of a form as a workbook; with a site or office caller, its
        header block prefilled from the registry."""
        try:
            defn = load_form(form)
        except UnknownForm as exc:
            raise NotFound(f"未知表单：{form}", str(exc)) from exc
        values: dict[str, Any] = {"year": year or current_reporting_year(datetime.now(UTC))}
        suffix = ""
        if caller is not None:
            values.update(header_values(defn, self.registry, caller))
            suffix = f"-{caller.code}" if caller.code and len(values) > 1 else ""
        key = json.dumps(values, sort_keys=True, ensure_ascii=False)
        data, etag = await asyncio.to_thread(self._render, defn.form, defn.version, key, records)
        name = f"{defn.form}-{defn.version}-{values['year']}{suffix}.xlsx"
        return Template(name, data, etag, prefilled=len(values) > 1)


def with_cells(exc: IntakeError, filled: FilledWorkbook) -> IntakeError:
    """The same error, each issue naming the cells of its paths in the uploaded workbook."""
    issues = []
    for issue in exc.issues:
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
    return exc.with_issues(issues)


async def file_workbook(intake: Intake, caller: Caller, body: bytes) -> ReceiptOut:
    """File a filled template exactly as its JSON would be filed; errors name their cells."""
    try:
        filled = await asyncio.get_running_loop().run_in_executor(READERS, read_workbook, body)
    except WorkbookError as exc:
        if exc.kind == "unreadable":
            raise Malformed(exc.message_zh, exc.message_en, error="invalid_workbook") from exc
        if exc.kind == "too_large":
            raise TooLarge(exc.message_zh, exc.message_en, error="workbook_too_large") from exc
        raise Invalid(exc.message_zh, exc.message_en, error="not_a_template") from exc
    try:
        receipt, _new = await intake.file(caller, filled.report)
    except IntakeError as exc:
        raise with_cells(exc, filled) from None
    return receipt

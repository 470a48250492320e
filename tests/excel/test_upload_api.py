"""The intake's Excel routes in memory: template download, upload, errors that name cells."""

from __future__ import annotations

import copy
import io
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from openpyxl import load_workbook

from services.intake.app import create_app
from services.intake.filing import Intake
from services.intake.store import IntakeStore
from services.intake.templates_api import build_templates_router
from shared.contracts import ReportSubmitted
from shared.excel import XLSX_MEDIA_TYPE, build_template, sheet_title
from shared.forms import load_form, parse_report
from shared.registry.demo import demo_registry
from shared.runtime.db import make_engine
from tests.support.excel import (
    clean_report,
    dense_sheet,
    fill_template,
    meta_rows,
    with_huge_number,
    with_records_range,
)

SITE, OFFICE = "1100000088", "110000"
TOKENS = {SITE: "nb_site_token", OFFICE: "nb_office_token"}


class Api:
    def __init__(
        self, client: httpx.AsyncClient, published: list[ReportSubmitted], store: IntakeStore
    ) -> None:
        self.client = client
        self.published = published
        self.store = store

    async def nothing_kept(self) -> bool:
        """Nothing published, no receipt stored."""
        histories = [
            await self.store.history(SITE, form, 2026)
            for form in ("work-report", "supervision-report")
        ]
        return self.published == [] and await self.store.outbox() == [] and histories == [[], []]

    def auth(self, code: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {TOKENS[code]}"}


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    registry = demo_registry()
    store = IntakeStore(make_engine(f"sqlite+aiosqlite:///{tmp_path / 'intake.db'}"))
    await store.create()
    await store.add_tokens(
        [
            (TOKENS[SITE], "site", SITE, "北京市人民政府"),
            (TOKENS[OFFICE], "office", OFFICE, "北京市"),
        ]
    )
    published: list[ReportSubmitted] = []

    async def publish(event: ReportSubmitted) -> None:
        published.append(event)

    intake = Intake(registry, store, publish, "http://test")
    app = create_app(intake, 256 * 1024)
    app.include_router(build_templates_router(intake))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield Api(client, published, store)
    await store.engine.dispose()


def _report(form: str) -> dict[str, Any]:
    report = copy.deepcopy(clean_report(form))
    report["year"] = 2026
    return report


def _ref(data: bytes, path: str) -> str:
    return next(ref for _k, p, ref, _e in meta_rows(data)[1] if p == path)


async def test_a_site_token_gets_its_header_prefilled_from_the_registry(api: Api) -> None:
    response = await api.client.get(
        "/v1/templates/work-report.xlsx", params={"year": 2026}, headers=api.auth(SITE)
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == XLSX_MEDIA_TYPE
    assert SITE in response.headers["content-disposition"]
    data = response.content
    sheet = load_workbook(io.BytesIO(data)).worksheets[0]
    site = demo_registry().sites[SITE]
    assert sheet[_ref(data, "year")].value == 2026
    assert sheet[_ref(data, "site.name")].value == site.name
    assert sheet[_ref(data, "site.homepage_url")].value == site.homepage_url
    assert sheet[_ref(data, "site.type")].value == "政府门户网站"
    assert sheet[_ref(data, "site.site_code")].value == SITE
    assert sheet[_ref(data, "traffic.page_views")].value is None


async def test_an_office_gets_the_supervision_template_with_its_office(api: Api) -> None:
    response = await api.client.get(
        "/v1/templates/supervision-report.xlsx", headers=api.auth(OFFICE)
    )
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.content)).worksheets[0]
    assert sheet[_ref(response.content, "office.code")].value == OFFICE
    assert sheet[_ref(response.content, "office.kind")].value == "省（区、市）"


async def test_templates_without_token_and_unknown_forms(api: Api) -> None:
    plain = await api.client.get("/v1/templates/work-report.xlsx")
    assert plain.status_code == 200
    sheet = load_workbook(io.BytesIO(plain.content)).worksheets[0]
    assert sheet[_ref(plain.content, "site.name")].value is None
    assert (await api.client.get("/v1/templates/annual-poem.xlsx")).status_code == 404
    bad = await api.client.get("/v1/templates/work-report.xlsx", headers={"Authorization": "x"})
    assert bad.status_code == 401


async def test_a_filled_workbook_is_filed_exactly_as_its_json(api: Api) -> None:
    report = _report("work-report")
    defn = load_form("work-report")
    data = fill_template(build_template(defn), defn, report)
    response = await api.client.post(
        "/v1/reports",
        content=data,
        headers={"content-type": XLSX_MEDIA_TYPE, **api.auth(SITE)},
    )
    assert response.status_code == 202, response.text
    receipt = response.json()
    assert api.published[-1].report == parse_report(report).report
    as_json = await api.client.post("/v1/reports", json=report, headers=api.auth(SITE))
    assert as_json.status_code == 202
    assert as_json.json()["duplicate"] is True
    assert as_json.json()["content_hash"] == receipt["content_hash"]
    assert len(api.published) == 1


async def test_upload_errors_name_the_sheet_the_cell_and_the_field(api: Api) -> None:
    defn = load_form("work-report")
    data = build_template(defn, _report("work-report"))
    book = load_workbook(io.BytesIO(data))
    sheet = book.worksheets[0]
    pv = _ref(data, "traffic.page_views")
    sheet[pv] = "十万"
    sheet[_ref(data, "signoff.filler")] = None
    out = io.BytesIO()
    book.save(out)
    response = await api.client.post(
        "/v1/reports",
        content=out.getvalue(),
        headers={"content-type": XLSX_MEDIA_TYPE, **api.auth(SITE)},
    )
    assert response.status_code == 422
    issues = {i["paths"][0]: i for i in response.json()["issues"]}
    title = sheet_title(defn)
    wrong = issues["traffic.page_views"]
    assert wrong["rule_id"] == "schema.int_type"
    assert wrong["cells"] == [f"{title}!{pv}"]
    assert pv in wrong["message_zh"] and pv in wrong["message_en"]
    assert issues["signoff.filler"]["cells"] == [f"{title}!{_ref(data, 'signoff.filler')}"]
    assert api.published == []


async def test_a_workbook_for_another_site_is_refused_as_json_would_be(api: Api) -> None:
    report = _report("work-report")
    report["site"]["site_code"] = "5100000001"
    data = build_template(load_form("work-report"), report)
    response = await api.client.post(
        "/v1/reports", content=data, headers={"content-type": XLSX_MEDIA_TYPE, **api.auth(SITE)}
    )
    assert response.status_code == 403


async def test_what_is_not_a_workbook_gets_a_clear_4xx(api: Api) -> None:
    headers = {"content-type": XLSX_MEDIA_TYPE, **api.auth(SITE)}
    garbage = await api.client.post("/v1/reports", content=b"PK\x03\x04 nope", headers=headers)
    assert garbage.status_code == 400
    assert garbage.json()["error"] == "invalid_workbook"
    other = io.BytesIO()
    from openpyxl import Workbook

    Workbook().save(other)
    foreign = await api.client.post("/v1/reports", content=other.getvalue(), headers=headers)
    assert foreign.status_code == 422
    assert foreign.json()["error"] == "not_a_template"
    assert api.published == []


async def test_a_cell_dense_sheet_is_refused_quickly_and_nothing_is_kept(api: Api) -> None:
    data = dense_sheet(build_template(load_form("work-report"), _report("work-report")))
    assert len(data) < 32 * 1024  # a small upload: 4 MiB of cells once unpacked
    started = time.monotonic()
    response = await api.client.post(
        "/v1/reports", content=data, headers={"content-type": XLSX_MEDIA_TYPE, **api.auth(SITE)}
    )
    took = time.monotonic() - started
    assert response.status_code == 413, response.text
    assert response.json()["error"] == "workbook_too_large"
    assert "XML" in response.json()["message_en"]
    assert took < 2.0, f"refused after {took:.1f} s"
    assert await api.nothing_kept()


async def test_a_records_range_of_300000_rows_is_refused_before_a_cell_is_read(api: Api) -> None:
    template = build_template(load_form("work-report"), _report("work-report"))
    data = with_records_range(template, "C100:G300099")
    started = time.monotonic()
    response = await api.client.post(
        "/v1/reports", content=data, headers={"content-type": XLSX_MEDIA_TYPE, **api.auth(SITE)}
    )
    took = time.monotonic() - started
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "not_a_template"
    assert "C100:G300099" in response.json()["message_en"]
    assert took < 2.0, f"refused after {took:.1f} s"
    assert await api.nothing_kept()


@pytest.mark.parametrize("typed_as", ["number", "text"])
async def test_a_count_cell_too_long_for_python_is_refused_at_its_field(
    api: Api, typed_as: str
) -> None:
    defn = load_form("work-report")
    report = _report("work-report")
    report["traffic"]["page_views"] = 424242
    data = build_template(defn, report)
    pv = _ref(data, "traffic.page_views")
    if typed_as == "number":
        data = with_huge_number(data, 424242)
    else:
        book = load_workbook(io.BytesIO(data))
        book.worksheets[0][pv] = "9" * 5000
        out = io.BytesIO()
        book.save(out)
        data = out.getvalue()
    response = await api.client.post(
        "/v1/reports", content=data, headers={"content-type": XLSX_MEDIA_TYPE, **api.auth(SITE)}
    )
    assert response.status_code == 422, response.text
    (issue,) = response.json()["issues"]
    assert issue["rule_id"] == "schema.oversized_number"
    assert issue["paths"] == ["traffic.page_views"]
    assert issue["cells"] == [f"{sheet_title(defn)}!{pv}"]
    assert await api.nothing_kept()

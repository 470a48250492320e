"""Template downloads are rendered once per form, version, year, rows and prefilled header, and
answered with an ETag (304 on If-None-Match); a prefilled one needs the token it was made for,
and no shared cache may keep it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

import services.intake.workbooks as workbooks
from tests.support.intake_app import Answer, InProcessIntake, call, intake_app

SITE, OTHER_SITE = "1100000088", "5109030001"
BLANK = "/v1/templates/work-report.xlsx"


@pytest.fixture
def renders(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dict[str, Any]]]:
    """The header values of every template actually rendered."""
    seen: list[dict[str, Any]] = []
    real = workbooks.build_template

    def counting(defn: Any, values: dict[str, Any], records: int) -> bytes:
        seen.append(values)
        return real(defn, values, records)

    monkeypatch.setattr(workbooks, "build_template", counting)
    yield seen


@pytest.fixture
async def intake(database_url: str, tmp_path: Path) -> AsyncIterator[InProcessIntake]:
    async with intake_app(database_url, tmp_path) as running:
        yield running


async def get(
    intake: InProcessIntake, token: str | None = None, etag: str | None = None, query: str = ""
) -> Answer:
    headers = {}
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    if etag is not None:
        headers["if-none-match"] = etag
    return await call(intake.app, "GET", BLANK, headers, query=query)


async def test_a_blank_template_is_rendered_once_and_revalidated_with_its_etag(
    intake: InProcessIntake, renders: list[dict[str, Any]]
) -> None:
    first = await get(intake, query="year=2026")
    assert first.status == 200 and first.body.startswith(b"PK")
    etag = first.headers["etag"]
    assert etag.startswith('"') and first.headers["cache-control"].startswith("public")
    again = await get(intake, query="year=2026")
    assert again.body == first.body and again.headers["etag"] == etag
    unchanged = await get(intake, etag=etag, query="year=2026")
    assert unchanged.status == 304 and unchanged.body == b""
    assert unchanged.headers["etag"] == etag
    assert len(renders) == 1  # three answers, one rendering
    other_year = await get(intake, etag=etag, query="year=2025")
    assert other_year.status == 200 and other_year.headers["etag"] != etag
    more_rows = await get(intake, etag=etag, query="year=2026&records=9")
    assert more_rows.status == 200 and more_rows.headers["etag"] != etag
    assert len(renders) == 3


async def test_a_prefilled_template_is_the_token_holders_own(
    intake: InProcessIntake, renders: list[dict[str, Any]]
) -> None:
    blank = await get(intake, query="year=2026")
    own = await get(intake, intake.tokens[SITE], query="year=2026")
    assert own.status == 200 and own.headers["etag"] != blank.headers["etag"]
    assert own.headers["cache-control"].startswith("private")
    assert "authorization" in own.headers["vary"].lower()
    assert renders[-1]["site"]["site_code"] == SITE
    revalidated = await get(intake, intake.tokens[SITE], own.headers["etag"], "year=2026")
    assert revalidated.status == 304
    assert len(renders) == 2
    # the prefilled tag proves nothing without the token: the anonymous caller gets the blank
    anonymous = await get(intake, etag=own.headers["etag"], query="year=2026")
    assert anonymous.status == 200 and anonymous.body == blank.body
    assert (await get(intake, "nb_forged", own.headers["etag"], "year=2026")).status == 401
    other = await get(intake, intake.tokens[OTHER_SITE], own.headers["etag"], "year=2026")
    assert other.status == 200 and other.headers["etag"] != own.headers["etag"]
    assert renders[-1]["site"]["site_code"] == OTHER_SITE

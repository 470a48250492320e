"""The verifier reads an accepted report along a few paths only (``AcceptedSeen``): it stores the
same receipt, hash, key figures and identifiers as from the whole ``ReportAccepted``, and what
does not decode raises a ValidationError (the consumer dead-letters it)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from services.verifier.accepted import READ_PATHS, AcceptedSeen, target_values
from shared.contracts import IssueOut, ReportAccepted, content_hash
from shared.forms import SUPERVISION_REPORT, WORK_REPORT, get_path
from shared.registry.national import national_registry
from tests.support.reports import work_report_for

REPORTS = Path(__file__).resolve().parents[2] / "data" / "reports"


def event(form: str, report: dict[str, Any], code: str = "5100000001") -> ReportAccepted:
    now = datetime(2027, 1, 20, 9, tzinfo=UTC)
    return ReportAccepted(
        receipt_id=f"r-{code}",
        content_hash=content_hash(report),
        form=form,
        form_version="2018",
        year=2026,
        code=code,
        version=1,
        received_at=now,
        judged_at=now,
        report=report,
        issues=[
            IssueOut(
                rule_id="W1",
                severity="warning",
                paths=["traffic.page_views"],
                message_zh="偏高",
                message_en="high",
            )
        ],
    )


def seen(full: ReportAccepted) -> AcceptedSeen:
    return AcceptedSeen.model_validate_json(full.model_dump_json())


def supervision_report() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(
        (REPORTS / "supervision-report" / "clean.json").read_text(encoding="utf-8")
    )
    return loaded


def test_a_work_report_gives_the_same_stored_values_as_the_whole_event() -> None:
    for site in list(national_registry(200).sites.values())[:20]:
        full = event(WORK_REPORT, work_report_for(site, 2026), site.code)
        values = target_values(seen(full))
        assert values == target_values(full)
        assert values["identifiers"]["site_code"] == site.code
        assert len(values["figures"]) == 3
        assert all(isinstance(v, int) for v in values["figures"].values())


def test_a_supervision_report_gives_its_spot_check_figures_and_no_identifiers() -> None:
    full = event(SUPERVISION_REPORT, supervision_report(), "510000")
    values = target_values(seen(full))
    assert values == target_values(full)
    assert values["identifiers"] == {}
    assert set(values["figures"]) == {"全年 抽查网站数量（个）", "全年 不合格网站数量（个）"}


def leaf_paths(node: dict[str, Any], prefix: str = "") -> set[str]:
    out: set[str] = set()
    for key, value in node.items():
        if isinstance(value, dict):
            out |= leaf_paths(value, f"{prefix}{key}.")
        else:
            out.add(f"{prefix}{key}")
    return out


def test_only_the_read_paths_are_kept_of_the_report() -> None:
    site = next(iter(national_registry(10).sites.values()))
    report = work_report_for(site, 2026)
    kept = seen(event(WORK_REPORT, report)).report
    prefixes = {p.rsplit(".", n)[0] for p in READ_PATHS for n in range(1, p.count(".") + 1)}
    assert len(leaf_paths(report)) > 50
    assert leaf_paths(kept) <= set(READ_PATHS) | prefixes  # a form's absent section: None
    for path in READ_PATHS:
        assert get_path(kept, path) == get_path(report, path)


@pytest.mark.parametrize(
    "report",
    [
        {},  # nothing but the envelope
        {"site": "not an object", "traffic": [1, 2], "info": {"total": True}},
        {"site": {"site_code": 5100000001, "icp_filing": None}, "traffic": {"page_views": 1.5}},
    ],
)
def test_odd_reports_read_as_the_whole_event_reads_them(report: dict[str, Any]) -> None:
    full = event(WORK_REPORT, report)
    assert target_values(seen(full)) == target_values(full)


@pytest.mark.parametrize(
    "change",
    [
        {"code": None},
        {"year": "twenty"},
        {"outcome": "rejected"},
        {"report": "not an object"},
        {"receipt_id": None},
    ],
)
def test_a_malformed_event_does_not_decode(change: dict[str, Any]) -> None:
    body = json.loads(event(WORK_REPORT, {"site": {}}).model_dump_json())
    with pytest.raises(ValidationError):
        AcceptedSeen.model_validate_json(json.dumps({**body, **change}))


def test_a_missing_field_or_broken_json_does_not_decode() -> None:
    body = json.loads(event(WORK_REPORT, {"site": {}}).model_dump_json())
    del body["content_hash"]
    with pytest.raises(ValidationError):
        AcceptedSeen.model_validate_json(json.dumps(body))
    with pytest.raises(ValidationError):
        AcceptedSeen.model_validate_json(b'{"receipt_id": "r", ')

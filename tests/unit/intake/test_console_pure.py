"""The console's pure parts: the form on screen and back, issues at their inputs, the queue's
counts, order and pages over thousands of sites, sessions and the sign-in throttle."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.intake.console import sessions as session_module
from services.intake.console.formview import build_view, flat_values, posted_values, raw_report
from services.intake.console.queue import PAGE_SIZE, QueueQuery, filing_line, queue_page
from services.intake.console.sessions import Sessions, SignInThrottle
from services.intake.review_store import ReviewAction
from services.intake.store import Receipt
from shared.contracts import IssueOut
from shared.deadlines import national_deadline
from shared.forms import check_report, load_form, parse_report
from tests.support.reports import DATA


def posted(values: dict[str, Any]) -> dict[str, list[str]]:
    """Inputs as a browser posts them (a multi-choice with its always-sent empty value)."""
    out = {k: (["", *v] if isinstance(v, list) else [v]) for k, v in values.items()}
    return out


@pytest.mark.parametrize("form", ["work-report", "supervision-report"])
def test_a_report_shown_and_posted_back_is_the_same_report(form: str) -> None:
    report = json.loads((DATA / form / "clean.json").read_text(encoding="utf-8"))
    defn = load_form(form)
    values = posted_values(defn, posted(flat_values(defn, report)))
    again = raw_report(defn, report["year"], values)
    assert parse_report(again).report == parse_report(report).report


def test_empty_inputs_are_missing_fields_and_bad_numbers_stay_text() -> None:
    defn = load_form("work-report")
    report = json.loads((DATA / "work-report" / "clean.json").read_text(encoding="utf-8"))
    values = flat_values(defn, report)
    values.update({"traffic.page_views": "12,000", "signoff.filler": "  "})
    values.update({"new_media.other.0.type": "", "new_media.other.0.name": ""})
    values.update({"new_media.other.0.platform": "", "new_media.other.0.posts": ""})
    values["new_media.other.0.followers_or_downloads"] = ""
    values["evil.path"] = "x"
    raw = raw_report(defn, 2026, posted_values(defn, posted(values)))
    assert raw["traffic"]["page_views"] == "12,000" and "filler" not in raw["signoff"]
    assert "other" not in raw["new_media"] and "evil" not in raw  # an empty row is no row
    assert (raw["form"], raw["form_version"], raw["year"]) == ("work-report", "2018", 2026)
    issues = [IssueOut(**i.model_dump()) for i in check_report(raw).issues]
    view = build_view(defn, values, issues)
    placed = {target for _issue, target in view.issues("error")}
    assert placed == {"f-traffic-page_views", "f-signoff-filler"}


def test_an_issue_without_an_input_goes_to_its_field_section_or_the_top() -> None:
    defn = load_form("work-report")

    def issue(*paths: str) -> IssueOut:
        return IssueOut(
            rule_id="x.y", severity="warning", paths=list(paths), message_zh="z", message_en="z"
        )

    view = build_view(
        defn,
        {},
        [issue("new_media.other.7.type"), issue("traffic"), issue(), issue("nowhere.at.all")],
    )
    targets = [target for _issue, target in view.issues("warning")]
    assert targets == ["f-traffic", "f-new_media-other", "", ""]  # in the order of the form


def line(code: str, status: str, at: datetime, locked: bool = False) -> Any:
    deadline = national_deadline(2026)
    versions, reviews = [], []
    if status != "missing":
        outcome = "rejected" if status == "rejected" else "accepted"
        received = deadline + timedelta(days=1) if status == "late" else at
        versions.append(
            Receipt(
                receipt_id=f"r{code}",
                code=code,
                form="work-report",
                form_version="2018",
                year=2026,
                version=1,
                content_hash="h",
                received_at=received,
                submitted_by="site",
                report={},
                outcome=outcome,
            )
        )
    if locked or status == "returned":
        reviews.append(
            ReviewAction(
                review_id=f"v{code}",
                action="approve" if locked else "return",
                receipt_id=f"r{code}",
                code=code,
                form="work-report",
                year=2026,
                office="510000",
                reason="why",
                at=at + timedelta(hours=1),
            )
        )
    kind = "portal" if int(code) % 2 else "department"
    return filing_line(code, f"网站{code}", 2026, versions, reviews, deadline, kind)


def test_the_queue_counts_filters_sorts_and_pages_thousands() -> None:
    at = datetime(2026, 12, 1, tzinfo=UTC)
    kinds = ["missing", "rejected", "returned", "late", "on_time", "approved"]
    lines = [
        line(
            f"{i:06d}",
            kinds[i % 6] if kinds[i % 6] != "approved" else "on_time",
            at,
            locked=kinds[i % 6] == "approved",
        )
        for i in range(6000)
    ]
    page = queue_page(lines, QueueQuery("510000"))
    assert page.total == 6000 and page.pages == 6000 // PAGE_SIZE
    assert page.counts == {
        "missing": 1000,
        "rejected": 1000,
        "returned": 1000,
        "late": 1000,
        "pending": 2000,  # accepted on time or late, not approved
        "approved": 1000,
    }
    assert [x.code for x in page.lines][:2] == ["000000", "000001"]
    last = queue_page(lines, QueueQuery("510000", "late", "portal", "code", True, 999))
    assert last.page == last.pages == 20 and last.matching == 1000  # odd codes: portals
    assert all(x.status == "late" and x.site_type == "portal" for x in last.lines)
    assert last.total == 3000 and last.counts["missing"] == 0  # counts follow the type filter
    assert last.lines[0].code > last.lines[-1].code  # descending
    returned = queue_page(lines, QueueQuery("510000", "returned"))
    assert {x.returned_reason for x in returned.lines} == {"why"}
    by_status = queue_page(lines, QueueQuery("510000", sort="status"))
    assert {x.status for x in by_status.lines} == {"on_time"}


def test_sign_in_rotates_the_session_and_sessions_expire(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr(Sessions, "_now", staticmethod(lambda: now[0]))
    sessions = Sessions()
    anonymous = sessions.new()
    signed = sessions.sign_in(anonymous, "nb_token")
    assert signed.sid != anonymous.sid and signed.csrf != anonymous.csrf
    assert sessions.get(anonymous.sid) is None and sessions.get(signed.sid) is signed
    assert not signed.csrf_ok(anonymous.csrf) and signed.csrf_ok(signed.csrf)
    now[0] += session_module.SESSION_IDLE_SECONDS + 1
    assert sessions.get(signed.sid) is None and len(sessions) == 0


def test_the_throttle_counts_failures_per_address_within_the_window(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = [5000.0]
    monkeypatch.setattr(session_module.time, "monotonic", lambda: now[0])
    throttle = SignInThrottle()
    for _ in range(session_module.THROTTLE_FAILURES - 1):
        throttle.failed("10.0.0.1")
    assert throttle.wait_seconds("10.0.0.1") == 0
    throttle.failed("10.0.0.1")
    assert 0 < throttle.wait_seconds("10.0.0.1") <= 61
    assert throttle.wait_seconds("10.0.0.2") == 0
    now[0] += session_module.THROTTLE_WINDOW
    assert throttle.wait_seconds("10.0.0.1") == 0

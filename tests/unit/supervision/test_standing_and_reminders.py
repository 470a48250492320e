"""Pure rules of supervision: standing with returns and locks, reminders, who may act."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.access import Caller, may_review, may_set_deadline, may_unlock
from shared.filings import FiledVersion, Review, standing
from shared.registry.demo import demo_registry
from shared.reminders import due_threshold, skipped_thresholds

DEADLINE = datetime(2027, 1, 31, 15, 59, 59, tzinfo=UTC)  # 23:59:59 Asia/Shanghai


def version(n: int, outcome: str = "accepted", at: datetime | None = None) -> FiledVersion:
    return FiledVersion(
        receipt_id=f"r{n}",
        version=n,
        outcome=outcome,  # type: ignore[arg-type]
        received_at=at or DEADLINE - timedelta(days=10 - n),
        content_hash=f"h{n}",
        report={"n": n},
    )


def review(action: str, receipt: str | None, minutes: int) -> Review:
    return Review(
        review_id=f"{action}{minutes}",
        action=action,  # type: ignore[arg-type]
        receipt_id=receipt,
        at=DEADLINE - timedelta(days=5) + timedelta(minutes=minutes),
        reason="数据有误",
    )


def test_latest_accepted_counts_and_first_acceptance_decides_timeliness() -> None:
    late_fix = version(2, at=DEADLINE + timedelta(days=3))
    result = standing([version(1), late_fix, version(3, "rejected")], DEADLINE)
    assert result.status == "on_time" and result.counted == late_fix
    assert standing([version(1, at=DEADLINE + timedelta(seconds=1))], DEADLINE).status == "late"
    assert standing([version(1, "rejected")], DEADLINE).status == "rejected"
    assert standing([], DEADLINE).status == "missing"


def test_a_return_holds_until_a_later_version_is_accepted() -> None:
    returned = standing([version(1)], DEADLINE, [review("return", "r1", 0)])
    assert returned.status == "returned" and returned.returned is not None
    assert returned.returned.reason == "数据有误"
    refiled = standing([version(1), version(2)], DEADLINE, [review("return", "r1", 0)])
    assert refiled.status == "on_time" and refiled.returned is None
    rejected_refiling = [version(1), version(2, "rejected")]
    assert standing(rejected_refiling, DEADLINE, [review("return", "r1", 0)]).status == "returned"


def test_the_last_of_approve_and_unlock_decides_the_lock() -> None:
    assert standing([version(1)], DEADLINE, [review("approve", "r1", 0)]).locked
    unlocked = [review("approve", "r1", 0), review("unlock", None, 5)]
    assert not standing([version(1)], DEADLINE, unlocked).locked
    again = [*unlocked, review("approve", "r1", 9)]
    assert standing([version(1)], DEADLINE, again).locked


@pytest.mark.parametrize(
    ("days_before", "sent", "due"),
    [
        (10, set(), None),
        (7, set(), 7),
        (5, {7}, None),
        (2.5, {7}, 3),
        (2.5, set(), 3),
        (0.5, {7, 3}, 1),
        (0.5, {7, 3, 1}, None),
        (-1.5, {7, 3, 1}, -1),
        (-3, {7, 3, 1, -1}, None),
    ],
)
def test_the_latest_threshold_reached_is_due_once(
    days_before: float, sent: set[int], due: int | None
) -> None:
    now = DEADLINE - timedelta(days=days_before)
    assert due_threshold(now, DEADLINE, sent) == due


def test_skipped_thresholds_are_the_earlier_ones() -> None:
    assert skipped_thresholds(1) == [7, 3]
    assert skipped_thresholds(7) == []


def test_who_may_review_unlock_and_set_deadlines() -> None:
    registry = demo_registry()
    county_site, city, province = "5109030001", "510900", "510000"
    office = lambda code: Caller(kind="office", code=code)  # noqa: E731
    assert may_review(office(city), registry, county_site)
    assert may_review(office(province), registry, county_site)
    assert not may_review(office("510100"), registry, county_site)
    assert not may_review(Caller(kind="site", code=county_site), registry, county_site)
    assert may_review(office("bm29"), registry, "bm29230001")
    assert not may_review(office("bm07"), registry, "bm29230001")
    # unlock: the approving office or one above it, not one below it
    assert may_unlock(office(province), registry, county_site, approved_by=city)
    assert not may_unlock(office(city), registry, county_site, approved_by=province)
    assert may_unlock(Caller(kind="operator"), registry, county_site, approved_by=province)
    assert may_set_deadline(office(province), registry, province)
    assert may_set_deadline(office("bm29"), registry, "bm29")
    assert not may_set_deadline(office(city), registry, city)
    assert not may_set_deadline(office(province), registry, "110000")

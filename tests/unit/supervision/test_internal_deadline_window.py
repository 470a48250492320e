"""An internal deadline falls after the end of the reporting year, no later than the national
one, and ahead of the server's clock: no site becomes late after the fact."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.deadlines import (
    BEIJING_TIME,
    end_of_reporting_year,
    internal_deadline_problem,
    national_deadline,
)

YEAR = 2026
#: mid-January of the following year: the window is open
NOW = datetime(YEAR + 1, 1, 15, 12, 0, tzinfo=BEIJING_TIME)


@pytest.mark.parametrize(
    "deadline",
    [
        datetime(YEAR + 1, 1, 29, 23, 59, 59, tzinfo=BEIJING_TIME),
        national_deadline(YEAR),
        NOW + timedelta(seconds=1),
    ],
)
def test_a_deadline_ahead_within_the_window_is_taken(deadline: datetime) -> None:
    assert internal_deadline_problem(YEAR, deadline, NOW) is None


@pytest.mark.parametrize(
    ("deadline", "reason"),
    [
        (datetime(2000, 1, 1, tzinfo=BEIJING_TIME), "报表年度结束"),  # the example
        (end_of_reporting_year(YEAR), "报表年度结束"),
        (datetime(YEAR, 12, 20, tzinfo=UTC), "报表年度结束"),
        (national_deadline(YEAR) + timedelta(seconds=1), "全国截止时间"),
        (datetime(YEAR + 5, 1, 1, tzinfo=BEIJING_TIME), "全国截止时间"),
        (NOW - timedelta(days=3), "已过去"),
        (NOW, "已过去"),
        (datetime(YEAR + 1, 1, 20), "时区"),
    ],
)
def test_a_deadline_outside_the_window_or_past_is_refused_with_the_reason(
    deadline: datetime, reason: str
) -> None:
    problem = internal_deadline_problem(YEAR, deadline, NOW)
    assert problem is not None
    message_zh, message_en = problem
    assert reason in message_zh
    assert message_en and message_en.isascii()


def test_once_the_national_deadline_has_passed_nothing_can_be_set() -> None:
    late_now = national_deadline(YEAR) + timedelta(minutes=1)
    for day in range(1, 32):
        deadline = datetime(YEAR + 1, 1, day, 12, tzinfo=BEIJING_TIME)
        assert internal_deadline_problem(YEAR, deadline, late_now) is not None

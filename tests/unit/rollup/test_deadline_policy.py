"""Deadlines: the national default, earlier overrides from either tree, the on-time boundary."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from shared.deadlines import (
    BEIJING_TIME,
    DeadlinePolicy,
    deadline_for,
    deadline_for_node,
    deadline_for_office,
    is_on_time,
    national_deadline,
)
from shared.registry.demo import demo_registry


def beijing(year: int, month: int, day: int, hour: int, minute: int, second: int) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=BEIJING_TIME)


def test_national_deadline_is_31_january_end_of_day_beijing_time() -> None:
    deadline = national_deadline(2024)
    assert deadline == beijing(2025, 1, 31, 23, 59, 59)
    assert deadline.utcoffset() == timedelta(hours=8)
    assert deadline == datetime(2025, 1, 31, 15, 59, 59, tzinfo=UTC)


def test_default_policy_applies_to_every_site() -> None:
    policy = DeadlinePolicy.default(2024)
    registry = demo_registry()
    assert deadline_for(policy, registry, "5109030001") == national_deadline(2024)
    assert deadline_for(policy, registry, "bm29230001") == national_deadline(2024)


def test_an_offices_own_deadline_binds_its_sites_not_its_own_report() -> None:
    jan29 = beijing(2025, 1, 29, 23, 59, 59)
    policy = DeadlinePolicy(
        year=2024, national=national_deadline(2024), overrides={"510000": jan29, "510900": jan29}
    )
    registry = demo_registry()
    assert deadline_for(policy, registry, "5109030001") == jan29
    assert deadline_for_node(policy, registry, "510000") == jan29  # what its reminders count to
    assert deadline_for_office(policy, registry, "510000") == national_deadline(2024)
    # a city's own figures are bound by its province's deadline, not by its own
    assert deadline_for_office(policy, registry, "510900") == jan29


def test_the_earliest_override_above_the_site_in_either_tree_wins() -> None:
    policy = DeadlinePolicy(
        year=2024,
        national=national_deadline(2024),
        overrides={
            "510000": beijing(2025, 1, 29, 23, 59, 59),
            "510900": beijing(2025, 1, 27, 18, 0, 0),
            "bm29": beijing(2025, 1, 25, 23, 59, 59),
        },
    )
    registry = demo_registry()
    assert deadline_for(policy, registry, "5109030001") == beijing(2025, 1, 27, 18, 0, 0)
    assert deadline_for(policy, registry, "5101000001") == beijing(2025, 1, 29, 23, 59, 59)
    assert deadline_for(policy, registry, "bm29230001") == beijing(2025, 1, 25, 23, 59, 59)
    assert deadline_for(policy, registry, "bm29010001") == beijing(2025, 1, 25, 23, 59, 59)
    assert deadline_for(policy, registry, "1100000088") == national_deadline(2024)


def test_an_override_later_than_the_national_deadline_is_refused() -> None:
    with pytest.raises(ValidationError, match="later than the national one"):
        DeadlinePolicy(
            year=2024,
            national=national_deadline(2024),
            overrides={"510000": beijing(2025, 2, 3, 23, 59, 59)},
        )


def test_naive_deadlines_are_refused() -> None:
    with pytest.raises(ValidationError, match="needs a time zone"):
        DeadlinePolicy(year=2024, national=datetime(2025, 1, 31, 23, 59, 59))
    with pytest.raises(ValidationError, match="the deadline of 510000 needs a time zone"):
        DeadlinePolicy(
            year=2024,
            national=national_deadline(2024),
            overrides={"510000": datetime(2025, 1, 20)},
        )


def test_on_time_boundary() -> None:
    deadline = national_deadline(2024)
    assert is_on_time(beijing(2025, 1, 31, 23, 59, 59), deadline)
    assert is_on_time(beijing(2025, 1, 31, 23, 59, 59) + timedelta(microseconds=999_999), deadline)
    assert not is_on_time(beijing(2025, 2, 1, 0, 0, 0), deadline)
    # the same instants seen from a UTC server clock
    assert is_on_time(datetime(2025, 1, 31, 15, 59, 59, tzinfo=UTC), deadline)
    assert not is_on_time(datetime(2025, 1, 31, 16, 0, 0, tzinfo=UTC), deadline)


def test_timeliness_needs_aware_times() -> None:
    with pytest.raises(ValueError, match="time-zone-aware"):
        is_on_time(datetime(2025, 1, 1), national_deadline(2024))

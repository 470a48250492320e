"""Filing deadlines: the national default, earlier internal ones per node, and on-time judgement.

A report is on time when the server accepted it no later than the deadline of its site: the
earliest deadline set by any node above the site in either tree (a province, a city, a department
system or branch), else the national one, 31 January of the following year, 23:59:59 in Beijing
time. An office's own supervision report is due by the national deadline: the internal deadline
it sets applies to the sites below it, not to itself. Deadlines are stated to the second, so
anything received within that last second (say 23:59:59.700) is on time.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.registry.model import Registry

BEIJING_TIME = ZoneInfo("Asia/Shanghai")


def national_deadline(year: int) -> datetime:
    """31 January of ``year + 1``, 23:59:59 Asia/Shanghai: the deadline for ``year``'s reports."""
    return datetime(year + 1, 1, 31, 23, 59, 59, tzinfo=BEIJING_TIME)


def end_of_reporting_year(year: int) -> datetime:
    """31 December of ``year``, 23:59:59 Asia/Shanghai: the last moment the report covers."""
    return datetime(year, 12, 31, 23, 59, 59, tzinfo=BEIJING_TIME)


def internal_deadline_problem(
    year: int, deadline: datetime, now: datetime
) -> tuple[str, str] | None:
    """Why an office may not set ``deadline`` for ``year``'s reports at ``now`` (Chinese,
    English), or None: it must have a time zone, fall after the end of the reporting year and no
    later than the national deadline, and lie ahead of ``now``, so that no site already filed
    becomes late after the fact."""
    if deadline.utcoffset() is None:
        return (
            "截止时间须带时区，如 2027-01-29T23:59:59+08:00",
            "the deadline needs a time zone offset, e.g. 2027-01-29T23:59:59+08:00",
        )
    national = national_deadline(year)
    if deadline > national:
        return (
            f"内部截止时间不得晚于全国截止时间（{national:%Y-%m-%d %H:%M:%S}，北京时间）",
            f"an internal deadline cannot be later than the national one ({national.isoformat()})",
        )
    year_end = end_of_reporting_year(year)
    if deadline <= year_end:
        return (
            f"内部截止时间须晚于报表年度结束（{year_end:%Y-%m-%d %H:%M:%S}，北京时间）",
            f"an internal deadline must fall after the end of the reporting year "
            f"({year_end.isoformat()})",
        )
    if deadline <= now:
        return (
            "内部截止时间不得设在已过去的时间，以免已报送的网站被追溯判为逾期",
            f"an internal deadline cannot be set to a time already past (now {now.isoformat()}): "
            "sites that filed would become late after the fact",
        )
    return None


class DeadlinePolicy(BaseModel):
    """One year's deadlines: the national one and earlier ones set by nodes of either tree."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    year: int
    national: datetime
    overrides: dict[str, datetime] = Field(default_factory=dict)

    @classmethod
    def default(cls, year: int) -> DeadlinePolicy:
        return cls(year=year, national=national_deadline(year))

    @model_validator(mode="after")
    def _earlier_and_aware(self) -> DeadlinePolicy:
        problems = []
        if self.national.utcoffset() is None:
            problems.append("the national deadline needs a time zone")
        for node, deadline in sorted(self.overrides.items()):
            if deadline.utcoffset() is None:
                problems.append(f"the deadline of {node} needs a time zone")
            elif self.national.utcoffset() is not None and deadline > self.national:
                problems.append(
                    f"the deadline of {node} ({deadline.isoformat()}) is later than the "
                    f"national one ({self.national.isoformat()}): a node may only set an "
                    "earlier one"
                )
        if problems:
            raise ValueError("; ".join(problems))
        return self


def deadline_for(policy: DeadlinePolicy, registry: Registry, site_code: str) -> datetime:
    """The earliest deadline over every node above the site in both trees, else the national."""
    overrides = [
        policy.overrides[node]
        for node in registry.site_ancestors(site_code)
        if node in policy.overrides
    ]
    return min([policy.national, *overrides])


def is_on_time(received_at: datetime, deadline: datetime) -> bool:
    """Whether a report the server received at ``received_at`` (tz-aware) met ``deadline``."""
    if received_at.utcoffset() is None or deadline.utcoffset() is None:
        raise ValueError("timeliness needs time-zone-aware times")
    return received_at - timedelta(microseconds=received_at.microsecond) <= deadline


def deadline_for_node(policy: DeadlinePolicy, registry: Registry, node: str) -> datetime:
    """The deadline a supervisory node works to for its sites: the earliest at or above it, else
    the national one (what reminders count down to)."""
    overrides = [policy.overrides[n] for n in registry.ancestors(node) if n in policy.overrides]
    return min([policy.national, *overrides])


def deadline_for_office(policy: DeadlinePolicy, registry: Registry, node: str) -> datetime:
    """The deadline of an office's own (supervision) report: its own internal deadline binds
    the sites below it, not itself; only nodes above it may set an earlier one."""
    above = registry.ancestors(node)[1:]
    overrides = [policy.overrides[n] for n in above if n in policy.overrides]
    return min([policy.national, *overrides])

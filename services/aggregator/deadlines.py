"""Deadlines per year: the configured policy amended by the internal deadlines set since."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import datetime
from typing import NamedTuple

from shared.contracts import DeadlineSet
from shared.deadlines import DeadlinePolicy, deadline_for, deadline_for_office
from shared.registry import Registry


class DeadlineSetting(NamedTuple):
    """An internal deadline as stored: for a node's sites in a year, set at a time."""

    year: int
    node: str
    deadline: datetime
    at: datetime

    @classmethod
    def of(cls, event: DeadlineSet) -> DeadlineSetting:
        return cls(event.year, event.node, event.deadline, event.at)


class Deadlines:
    """The deadline policy of each year, the configured one amended by the settings received."""

    def __init__(self, registry: Registry, base_policy: Callable[[int], DeadlinePolicy]) -> None:
        self.registry = registry
        self.base_policy = base_policy
        #: internal deadlines set through the intake: year -> node -> (deadline, set at)
        self.overrides: dict[int, dict[str, tuple[datetime, datetime]]] = defaultdict(dict)
        self._policies: dict[int, DeadlinePolicy] = {}

    def policy(self, year: int) -> DeadlinePolicy:
        if year not in self._policies:
            base = self.base_policy(year)
            given = {node: at for node, (at, _set) in self.overrides.get(year, {}).items()}
            self._policies[year] = base.model_copy(
                update={"overrides": {**base.overrides, **given}}
            )
        return self._policies[year]

    def deadline(self, code: str, year: int) -> datetime:
        """The deadline of a site, of an office's own report (never its own internal deadline,
        which binds its sites), or the national one."""
        policy = self.policy(year)
        if code in self.registry.sites:
            return deadline_for(policy, self.registry, code)
        if code in self.registry.nodes:
            return deadline_for_office(policy, self.registry, code)
        return policy.national

    def remember(self, setting: DeadlineSetting) -> bool:
        """Take a setting unless a later one is known; whether it changed anything."""
        current = self.overrides[setting.year].get(setting.node)
        if current is not None and current[1] >= setting.at:
            return False
        self.overrides[setting.year][setting.node] = (setting.deadline, setting.at)
        self._policies.pop(setting.year, None)
        return True

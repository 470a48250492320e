"""What a rule check sees and returns, and the registry of named checks."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from shared.registry.model import Registry

from ..definition import FormDefinition, label_of
from ..issues import CheckContext
from ..paths import get_path


@dataclass(frozen=True)
class RuleInput:
    """A parsed report with everything a check may consult."""

    report: Mapping[str, Any]
    defn: FormDefinition
    params: Mapping[str, Any]
    registry: Registry | None = None
    context: CheckContext | None = None

    def value(self, path: str) -> Any:
        return get_path(self.report, path)

    def label(self, path: str) -> str:
        return label_of(self.defn, path)

    @property
    def year(self) -> int:
        return int(self.report["year"])


@dataclass(frozen=True)
class Finding:
    """One breach found by a check; messages default to the rule's templates filled with values."""

    paths: list[str]
    values: dict[str, Any] = field(default_factory=dict)
    message_zh: str | None = None
    message_en: str | None = None


Check = Callable[[RuleInput], Iterable[Finding]]

#: check name (as referenced by a definition's rules) -> function
CHECKS: dict[str, Check] = {}


def rule_check(name: str) -> Callable[[Check], Check]:
    """Register a named check for definitions to reference as ``check: <name>``."""

    def register(fn: Check) -> Check:
        if name in CHECKS:
            raise ValueError(f"check {name!r} registered twice")
        CHECKS[name] = fn
        return fn

    return register


def display(value: Any) -> str:
    """A value as shown in messages: 12, 3.5, 空 for nothing."""
    if value is None:
        return "空"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def is_empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}

"""Dotted field paths into a report: ``site.site_code`` is ``report["site"]["site_code"]``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def get_path(report: Mapping[str, Any], dotted: str) -> Any:
    """The value at a dotted path (list items by index), None when absent."""
    current: Any = report
    for part in dotted.split("."):
        if isinstance(current, Mapping):
            current = current.get(part)
        elif isinstance(current, Sequence) and not isinstance(current, str) and part.isdigit():
            index = int(part)
            current = current[index] if index < len(current) else None
        else:
            return None
        if current is None:
            return None
    return current

"""Bearer tokens for the demo: one per site and supervisory office, and one operator token."""

from __future__ import annotations

from services.intake.store import new_token
from shared.access import OFFICE_LEVELS, Kind
from shared.registry import Registry


def demo_tokens(registry: Registry) -> dict[str, tuple[str, Kind, str | None, str]]:
    """code -> (token, kind, code, label) for every site, every supervisory node, the operator."""
    out: dict[str, tuple[str, Kind, str | None, str]] = {}
    for code, site in sorted(registry.sites.items()):
        out[code] = (new_token(), "site", code, site.name)
    for code, node in sorted(registry.nodes.items()):
        if node.level in OFFICE_LEVELS:
            out[code] = (new_token(), "office", code, node.name)
    out["operator"] = (new_token(), "operator", None, "operator")
    return out

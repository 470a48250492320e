"""Bearer tokens for the demo: one per site and supervisory office, and one operator token."""

from __future__ import annotations

from services.intake.store import new_token
from shared.access import Kind
from shared.registry import Level, Registry

SUPERVISORY = {Level.NATIONAL, Level.PROVINCE, Level.CITY, Level.DEPARTMENT}


def demo_tokens(registry: Registry) -> dict[str, tuple[str, Kind, str | None, str]]:
    """code -> (token, kind, code, label) for every site, every supervisory node, the operator."""
    out: dict[str, tuple[str, Kind, str | None, str]] = {}
    for code, site in sorted(registry.sites.items()):
        out[code] = (new_token(), "site", code, site.name)
    for code, node in sorted(registry.nodes.items()):
        if node.level in SUPERVISORY:
            out[code] = (new_token(), "office", code, node.name)
    out["operator"] = (new_token(), "operator", None, "operator")
    return out

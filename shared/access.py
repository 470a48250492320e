"""Who may do what: pure decisions over a caller (site, office, operator) and the registry."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from shared.forms.catalog import SUPERVISION_REPORT, WORK_REPORT
from shared.registry import Level, Registry

Kind = Literal["site", "office", "operator"]
SUPERVISION_LEVELS = {Level.PROVINCE, Level.DEPARTMENT}
#: the levels whose node has a supervisory office (a token, a NATS user)
OFFICE_LEVELS = frozenset({Level.NATIONAL, Level.PROVINCE, Level.CITY, Level.DEPARTMENT})


class Caller(BaseModel):
    """The holder of a bearer token: a site (its code), an office (its node), or an operator."""

    model_config = ConfigDict(frozen=True)

    kind: Kind
    code: str | None = None
    label: str = ""


def oversees(registry: Registry, node: str, code: str) -> bool:
    """Whether a site or node with this code lies at or below the office's node."""
    if code == node:
        return True
    if code in registry.sites:
        return node in registry.site_ancestors(code)
    return code in registry.nodes and node in registry.ancestors(code)


def may_file(caller: Caller, registry: Registry, form: str, code: str) -> bool:
    """A site files its own work report; a province or department office its supervision report."""
    if form == WORK_REPORT:
        return caller.kind == "site" and caller.code == code
    if form == SUPERVISION_REPORT:
        node = registry.nodes.get(code)
        return (
            caller.kind == "office"
            and caller.code == code
            and node is not None
            and node.level in SUPERVISION_LEVELS
        )
    return False


def may_read(caller: Caller, registry: Registry, code: str) -> bool:
    """Receipts and history: the filer itself, any office above it, an operator."""
    if caller.kind == "operator":
        return True
    if caller.kind == "site":
        return caller.code == code
    return caller.code is not None and oversees(registry, caller.code, code)


def may_review(caller: Caller, registry: Registry, code: str) -> bool:
    """Return or approve a site's report: an office above the site, or an operator."""
    if caller.kind == "operator":
        return True
    return (
        caller.kind == "office"
        and caller.code is not None
        and code in registry.sites
        and oversees(registry, caller.code, code)
    )


def may_unlock(caller: Caller, registry: Registry, code: str, approved_by: str) -> bool:
    """Lift an approval's lock: the approving office, an office above it, or an operator."""
    if caller.kind == "operator":
        return True
    if not may_review(caller, registry, code) or caller.code is None:
        return False
    return approved_by == caller.code or oversees(registry, caller.code, approved_by)


def may_set_deadline(caller: Caller, registry: Registry, node: str) -> bool:
    """An internal deadline is set by the province or department office itself, or an operator."""
    if caller.kind == "operator":
        return True
    target = registry.nodes.get(node)
    return (
        caller.kind == "office"
        and caller.code == node
        and target is not None
        and target.level in SUPERVISION_LEVELS
    )

"""The publication history on the console's filing and receipt screens (issue 17): every URL a
site or office declared (a changed URL is a new declaration, the last of each kind in force) and
every judgement an office recorded, as the API's filing view lists them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from services.intake.declarations import Declarations
from shared.access import Caller
from shared.publication import KIND_LABELS, PublicationDeclared, PublicationJudged
from shared.registry import Registry

VERDICT_LABELS = {"verified": "确认已公开", "not_published": "认定未公开"}


@dataclass(frozen=True)
class DeclaredLine:
    at: datetime
    kind_label: str
    url: str
    declared_by: str
    #: the last declaration of its kind: the URL the verifier checks
    in_force: bool


@dataclass(frozen=True)
class JudgedLine:
    at: datetime
    office: str
    verdict_label: str
    reason: str


@dataclass(frozen=True)
class PublicationHistory:
    declared: tuple[DeclaredLine, ...] = ()
    judged: tuple[JudgedLine, ...] = ()


def _name(registry: Registry, code: str) -> str:
    if code in registry.sites:
        return registry.sites[code].name
    if code in registry.nodes:
        return registry.nodes[code].name
    return "系统管理员" if code == "operator" else code


def history_lines(
    registry: Registry,
    declared: list[PublicationDeclared],
    judged: list[PublicationJudged],
) -> PublicationHistory:
    """Newest first; the last declaration of each kind marked in force."""
    last = {d.kind: d.declaration_id for d in declared}
    return PublicationHistory(
        declared=tuple(
            DeclaredLine(
                d.at,
                KIND_LABELS[d.kind],
                d.url,
                _name(registry, d.declared_by),
                last[d.kind] == d.declaration_id,
            )
            for d in reversed(declared)
        ),
        judged=tuple(
            JudgedLine(j.at, _name(registry, j.office), VERDICT_LABELS[j.verdict], j.reason)
            for j in reversed(judged)
        ),
    )


async def publication_history(
    declarations: Declarations | None, caller: Caller, code: str, year: int
) -> PublicationHistory | None:
    """The history of a site's or office's publication for a year (None without the use case:
    a console built without it shows nothing)."""
    if declarations is None:
        return None
    declared, judged = await declarations.history(caller, code, year)
    return history_lines(declarations.registry, declared, judged)

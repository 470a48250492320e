"""Named checks against the site registry: codes registered, in the right region, matching."""

from __future__ import annotations

import re
from collections.abc import Iterator

from shared.registry.model import LEVEL_LABELS, Level, Registry, Site

from .base import Finding, RuleInput, display, rule_check

DIVISION_CODED = re.compile(r"^\d{10}$")


def _site(given: RuleInput) -> tuple[Registry, Site] | None:
    """The registered site the report's code names, when there is a registry and it is found."""
    registry = given.registry
    code = given.value(given.params.get("code", given.params.get("path", "")))
    if registry is None or not isinstance(code, str) or code not in registry.sites:
        return None
    return registry, registry.sites[code]


@rule_check("site_registered")
def site_registered(given: RuleInput) -> Iterator[Finding]:
    """The site code names a registered site."""
    path = given.params["path"]
    code = given.value(path)
    if given.registry is not None and isinstance(code, str) and code not in given.registry.sites:
        yield Finding(
            [path],
            message_zh=f"政府网站标识码（{code}）未在网站名录中登记",
            message_en=f"site code {code} is not in the site registry",
        )


@rule_check("site_active_in_year")
def site_active_in_year(given: RuleInput) -> Iterator[Finding]:
    """The registered site was in operation in the report's year."""
    found = _site(given)
    if found is not None and not found[1].active_in(given.year):
        site = found[1]
        until = "" if site.active_to is None else str(site.active_to)
        yield Finding(
            [given.params["path"], "year"],
            message_zh=f"网站名录中该网站的运行年份为{site.active_from}–{until}，"
            f"不含报表年度{given.year}",
            message_en=f"the registry has site {site.code} active {site.active_from}–{until}, "
            f"not in {given.year}",
        )


@rule_check("site_code_region")
def site_code_region(given: RuleInput) -> Iterator[Finding]:
    """The code's division prefix (or department prefix) matches the site's registered node."""
    found = _site(given)
    if found is None:
        return
    registry, site = found
    path = given.params["path"]
    if DIVISION_CODED.match(site.code):
        prefix, registered = site.code[:6], site.admin_node
    elif site.dept_node is not None:
        chain = registry.ancestors(site.dept_node)
        prefix, registered = site.code[:4], chain[-1] if chain else site.dept_node
    else:
        return
    if prefix != registered:
        yield Finding(
            [path],
            message_zh=f"政府网站标识码的区划或部门代码（{prefix}）与网站名录登记的所属节点"
            f"（{registered}）不符",
            message_en=f"site code prefix {prefix} does not match the registered node {registered}",
        )


def _normalize_url(url: str) -> str:
    scheme, sep, rest = url.strip().partition("://")
    host, slash, tail = rest.partition("/")
    return f"{scheme.lower()}{sep}{host.lower()}{slash}{tail}".rstrip("/")


@rule_check("matches_registry")
def matches_registry(given: RuleInput) -> Iterator[Finding]:
    """A reported header value equals the registry's (urls ignoring scheme case, trailing /)."""
    found = _site(given)
    path = given.params["path"]
    reported = given.value(path)
    if found is None or reported is None:
        return
    registered = str(getattr(found[1], given.params["attribute"]))
    same = (
        _normalize_url(reported) == _normalize_url(registered)
        if given.params.get("compare") == "url"
        else str(reported).strip() == registered.strip()
    )
    if not same:
        yield Finding(
            [path],
            message_zh=f"{given.label(path)}（{display(reported)}）与网站名录登记的"
            f"（{registered}）不一致",
            message_en=f"{path} ({display(reported)}) differs from the registry ({registered})",
        )


@rule_check("office_registered")
def office_registered(given: RuleInput) -> Iterator[Finding]:
    """An office code is a registry node of the level its kind requires."""
    registry = given.registry
    path, kind_path = given.params["path"], given.params["kind"]
    code, kind = given.value(path), given.value(kind_path)
    level = given.params["levels"].get(kind)
    if registry is None or level is None or not isinstance(code, str):
        return
    node = registry.nodes.get(code)
    if node is None or node.level != level:
        label = LEVEL_LABELS.get(Level(level), level)
        yield Finding(
            [path, kind_path],
            message_zh=f"{given.label(path)}（{code}）不是网站名录中的{label}节点",
            message_en=f"{path} {code} is not a {level} node of the registry",
        )


@rule_check("site_changes_match_registry")
def site_changes_match_registry(given: RuleInput) -> Iterator[Finding]:
    """Sites opened, integrated and closed in the year agree with the dated registry."""
    registry, code, year = given.registry, given.value(given.params["code"]), given.year
    if registry is None or not isinstance(code, str) or code not in registry.nodes:
        return
    sites = [
        registry.sites[c] for n in registry.descendants(code) for c in registry.direct_sites(n)
    ]
    derived = {
        "opened": sum(s.active_from == year for s in sites),
        "integrated": sum(s.active_to == year and s.ended_by == "integrated" for s in sites),
        "closed": sum(s.active_to == year and s.ended_by == "closed" for s in sites),
    }
    for key, expected in derived.items():
        path = given.params[key]
        reported = given.value(path)
        if reported is not None and reported != expected:
            yield Finding(
                [path],
                message_zh=f"{given.label(path)}（{reported}）与网站名录推算的数量（{expected}）"
                f"不一致，请核实",
                message_en=f"{path} ({reported}) differs from the registry's count ({expected})",
            )

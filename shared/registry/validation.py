"""Registry consistency rules: every problem of a set of nodes and sites, one message each."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from urllib.parse import urlsplit

from shared.registry.divisions import MUNICIPALITIES
from shared.registry.model import NATIONAL, Level, Node, Registry, RegistryError, Site, Tree

DIVISION_SITE_RE = re.compile(r"^\d{10}$")
DEPT_SITE_RE = re.compile(r"^bm(\d{2})\d{6}$")
DEPARTMENT_RE = re.compile(r"^bm(\d{2})$")
BRANCH_RE = re.compile(r"^bm(\d{2})-(\d{2}0000)$")

TREE_LEVELS = {
    Tree.ADMIN: {Level.NATIONAL, Level.PROVINCE, Level.CITY, Level.COUNTY},
    Tree.DEPT: {Level.DEPARTMENT, Level.BRANCH},
}
CODE_SHAPES = {
    Level.NATIONAL: re.compile(f"^{NATIONAL}$"),
    Level.PROVINCE: re.compile(r"^\d{2}0000$"),
    Level.CITY: re.compile(r"^\d{4}00$"),
    Level.COUNTY: re.compile(r"^\d{6}$"),
    Level.DEPARTMENT: DEPARTMENT_RE,
    Level.BRANCH: BRANCH_RE,
}
PARENT_LEVELS = {
    Level.NATIONAL: set(),
    Level.PROVINCE: {Level.NATIONAL},
    Level.CITY: {Level.PROVINCE},
    Level.COUNTY: {Level.CITY, Level.PROVINCE},
    Level.DEPARTMENT: set(),
    Level.BRANCH: {Level.DEPARTMENT},
}


def is_directly_administered(county: str) -> bool:
    """省直辖县级行政区划: county-level units with no city, coded PP90XX (429004 仙桃市)."""
    return county[2:4] == "90"


def validate_registry(nodes: Sequence[Node], sites: Sequence[Site]) -> list[str]:
    """Every problem with these nodes and sites; empty when they make a usable registry."""
    problems = _duplicates("node", [n.code for n in nodes])
    problems += _duplicates("site", [s.code for s in sites])
    by_code = {n.code: n for n in nodes}
    for node in nodes:
        problems += _node_problems(node, by_code)
    problems += _cycles(by_code)
    for site in sites:
        problems += _site_problems(site, by_code)
    return problems


def checked_registry(nodes: Sequence[Node], sites: Sequence[Site]) -> Registry:
    """A registry of these nodes and sites, or ``RegistryError`` listing every problem."""
    problems = validate_registry(nodes, sites)
    if problems:
        raise RegistryError(problems)
    return Registry(nodes, sites)


def _duplicates(kind: str, codes: list[str]) -> list[str]:
    return [
        f"duplicate {kind} code {code!r} ({count} times)"
        for code, count in sorted(Counter(codes).items())
        if count > 1
    ]


def _node_problems(node: Node, by_code: dict[str, Node]) -> list[str]:
    where = f"node {node.code!r}"
    out: list[str] = []
    if node.level not in TREE_LEVELS[node.tree]:
        out.append(
            f"{where}: level {node.level.value} does not belong to the {node.tree.value} tree"
        )
    if not CODE_SHAPES[node.level].fullmatch(node.code) or (
        node.level is Level.COUNTY and node.code.endswith("00")
    ):
        out.append(f"{where}: code does not have the shape of a {node.level.value} code")
    if node.parent is None:
        if PARENT_LEVELS[node.level]:
            out.append(f"{where}: a {node.level.value} node needs a parent")
        return out
    parent = by_code.get(node.parent)
    if parent is None:
        out.append(f"{where}: unknown parent {node.parent!r}")
        return out
    if parent.level not in PARENT_LEVELS[node.level]:
        out.append(
            f"{where}: a {node.level.value} cannot sit under the {parent.level.value} "
            f"{parent.code!r}"
        )
    elif (
        node.level is Level.COUNTY
        and parent.level is Level.PROVINCE
        and not (parent.code in MUNICIPALITIES or is_directly_administered(node.code))
    ):
        out.append(
            f"{where}: a county sits directly under the province {parent.code!r} only in a "
            "municipality or as a 省直辖 unit (PP90XX)"
        )
    elif not _code_under(node, parent):
        out.append(f"{where}: code does not fall under its parent {parent.code!r}")
    return out


def _code_under(node: Node, parent: Node) -> bool:
    if node.level is Level.PROVINCE or parent.code == NATIONAL:
        return True
    if node.level is Level.BRANCH:
        return node.code.startswith(parent.code + "-")
    prefix = 2 if parent.level is Level.PROVINCE else 4
    return node.code[:prefix] == parent.code[:prefix]


def _cycles(by_code: dict[str, Node]) -> list[str]:
    out: list[str] = []
    settled: set[str] = set()
    for start in sorted(by_code):
        chain: list[str] = []
        current: str | None = start
        while current is not None and current in by_code and current not in settled:
            if current in chain:
                loop = [*chain[chain.index(current) :], current]
                out.append("node cycle: " + " → ".join(loop))
                break
            chain.append(current)
            current = by_code[current].parent
        settled.update(chain)
    return out


def _site_problems(site: Site, by_code: dict[str, Node]) -> list[str]:
    where = f"site {site.code!r}"
    out: list[str] = []
    admin = by_code.get(site.admin_node)
    if admin is None:
        out.append(f"{where}: at unknown node {site.admin_node!r}")
    elif admin.tree is not Tree.ADMIN:
        out.append(f"{where}: admin_node {site.admin_node!r} is not an administrative node")
    if site.dept_node is not None:
        dept = by_code.get(site.dept_node)
        if dept is None:
            out.append(f"{where}: at unknown node {site.dept_node!r}")
        elif dept.tree is not Tree.DEPT:
            out.append(f"{where}: dept_node {site.dept_node!r} is not a department-system node")
    out += _site_code_problems(site)
    if site.active_to is not None and site.active_to < site.active_from:
        out.append(f"{where}: active_to {site.active_to} is before active_from {site.active_from}")
    if site.ended_by is not None and site.active_to is None:
        out.append(f"{where}: ended_by {site.ended_by!r} without active_to")
    url = urlsplit(site.homepage_url)
    if url.scheme not in ("http", "https") or not url.netloc:
        out.append(f"{where}: homepage_url {site.homepage_url!r} is not an http(s) URL")
    return out


def _site_code_problems(site: Site) -> list[str]:
    where = f"site {site.code!r}"
    if DIVISION_SITE_RE.fullmatch(site.code):
        if site.code[:6] != site.admin_node:
            return [f"{where}: division prefix {site.code[:6]} does not match {site.admin_node!r}"]
        return []
    match = DEPT_SITE_RE.fullmatch(site.code)
    if match is None:
        return [f"{where}: code is neither 6 digits + 4 digits nor bm + 8 digits"]
    dept = f"bm{match.group(1)}"
    if site.dept_node is None or not (
        site.dept_node == dept or site.dept_node.startswith(dept + "-")
    ):
        return [f"{where}: a department site must sit in {dept} or one of its branches {dept}-…"]
    branch = BRANCH_RE.fullmatch(site.dept_node)
    expected_admin = branch.group(2) if branch else NATIONAL
    if site.admin_node != expected_admin:
        return [f"{where}: a site of {site.dept_node} must sit at admin node {expected_admin!r}"]
    return []

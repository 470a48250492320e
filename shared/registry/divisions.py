"""Real GB/T 2260 division codes (``data/divisions.csv``) as administrative nodes under ``CN``."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from functools import cache
from importlib import resources

from shared.registry.model import NATIONAL, Level, Node, Tree

NATIONAL_NAME = "全国"
MUNICIPALITIES = frozenset({"110000", "120000", "310000", "500000"})


def national_node() -> Node:
    return Node(code=NATIONAL, name=NATIONAL_NAME, level=Level.NATIONAL, tree=Tree.ADMIN)


@cache
def division_nodes() -> dict[str, Node]:
    """Every division of ``divisions.csv`` plus the national root, keyed by code (read once)."""
    text = resources.files("shared.registry").joinpath("data/divisions.csv").read_text("utf-8")
    nodes = {NATIONAL: national_node()}
    for row in csv.DictReader(io.StringIO(text)):
        nodes[row["code"]] = Node(
            code=row["code"],
            name=row["name"],
            level=Level(row["level"]),
            tree=Tree.ADMIN,
            parent=row["parent"],
        )
    return nodes


def division_closure(codes: Iterable[str]) -> list[Node]:
    """The known divisions among ``codes`` with all their ancestors up to ``CN``, sorted by code.

    Codes that are not divisions (department nodes, typos) are skipped: the registry's validation
    reports the sites that point at them.
    """
    known = division_nodes()
    out: dict[str, Node] = {}
    for code in codes:
        current: str | None = code
        while current is not None and current in known and current not in out:
            out[current] = known[current]
            current = known[current].parent
    return [out[code] for code in sorted(out)]


@cache
def _children() -> dict[str, tuple[Node, ...]]:
    out: dict[str, list[Node]] = {}
    for node in division_nodes().values():
        if node.parent is not None:
            out.setdefault(node.parent, []).append(node)
    return {code: tuple(sorted(kids, key=lambda n: n.code)) for code, kids in out.items()}


def children_of(code: str) -> tuple[Node, ...]:
    """The divisions directly under ``code``, sorted by code."""
    return _children().get(code, ())


def place_name(code: str) -> str:
    """A division's full name as used in site names: 遂宁市船山区, 北京市东城区, 四川省."""
    nodes = division_nodes()
    node = nodes[code]
    if node.level is Level.COUNTY and node.parent is not None:
        return nodes[node.parent].name + node.name
    return node.name

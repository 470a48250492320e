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

#: the provinces in GB/T 2260 order: their 2-digit number in department site codes
#: (bm + department + province + serial; 00 for the headquarters: bm29030010 is the tax system
#: in 河北, the 3rd); 660000 新疆生产建设兵团, a stand-in province here, comes last
PROVINCE_ORDER = (
    "110000", "120000", "130000", "140000", "150000", "210000", "220000", "230000", "310000",
    "320000", "330000", "340000", "350000", "360000", "370000", "410000", "420000", "430000",
    "440000", "450000", "460000", "500000", "510000", "520000", "530000", "540000", "610000",
    "620000", "630000", "640000", "650000", "660000",
)  # fmt: skip


def department_site_code(department: str, province: str | None, serial: int) -> str:
    """A department system's site code: bm07000001 (headquarters), bm29230001 (四川 branch)."""
    number = "00" if province is None else f"{PROVINCE_ORDER.index(province) + 1:02d}"
    return f"{department}{number}{serial:04d}"


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

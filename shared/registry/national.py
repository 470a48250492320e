"""A national registry shaped like the real country, at any scale, for load tests and benchmarks.

Shape (``data/site_counts_2019.csv``, CNNIC end of 2019): 13,562 sites under the 32 provinces and
912 under State Council departments, 14,474 in all. ``national_registry(sites)`` scales both parts
to ``sites``: each province gets its share of the province part (largest remainders, so the total
is exact); inside a province the portals come first (province, then cities, then counties, as long
as the share lasts), then department sites drawn at random over the province's nodes (weights
province 10, city 4, county 1). The department part goes to 30 department systems ``bm01``…``bm30``,
of which ``bm07`` (工业和信息化部: the provinces' 通信管理局) and ``bm21``…``bm29`` (``bm29``
国家税务总局: the provinces' 税务局) have a vertically managed branch in every province: one site
per department headquarters, then one per branch, then the rest at random. A department system
holds only the ministry's own sites and its branches; the provinces' own departments are in the
province part. Department site codes follow the national scheme: bm + department + the province's
number in GB/T 2260 order (00 for the headquarters) + a serial (bm29030010: 河北's tax system).
Other site codes, names and homepages are invented; the division codes are real. The same
``sites`` and ``seed`` always give the same registry.
"""

from __future__ import annotations

import csv
import io
import random
from collections.abc import Sequence
from importlib import resources

from shared.registry.divisions import (
    children_of,
    department_site_code,
    division_closure,
    division_nodes,
    place_name,
)
from shared.registry.model import NATIONAL, Level, Node, Registry, Site, SiteType, Tree
from shared.registry.validation import checked_registry

FULL_SCALE = 14_474
DEPARTMENT_SITES = 912
DEPARTMENTS = [f"bm{n:02d}" for n in range(1, 31)]
BRANCHED = frozenset({"bm07", *(f"bm{n}" for n in range(21, 30))})
#: the department codes FORMS.md §5 names (the others are numbered stand-ins)
DEPARTMENT_NAMES = {
    "bm07": "工业和信息化部",
    "bm17": "生态环境部",
    "bm18": "住房和城乡建设部",
    "bm29": "国家税务总局",
}
#: how a branch is named after its province, where the real name is known
BRANCH_NAMES = {"bm07": "{province}通信管理局", "bm29": "国家税务总局{province}税务局"}
LEVEL_WEIGHTS = {Level.PROVINCE: 10, Level.CITY: 4, Level.COUNTY: 1}
MAX_SERIAL = 9999


def province_site_counts() -> list[tuple[str, str, int]]:
    """(division code, province, websites at the end of 2019) from the data file."""
    text = resources.files("shared.registry").joinpath("data/site_counts_2019.csv").read_text()
    return [
        (row["division_code"], row["province"], int(row["government_websites_end_2019"]))
        for row in csv.DictReader(io.StringIO(text))
    ]


def national_registry(sites: int = FULL_SCALE, seed: int = 0) -> Registry:
    """Exactly ``sites`` sites over every province and 30 department systems, checked."""
    if sites < 1:
        raise ValueError("a national registry needs at least one site")
    rng = random.Random(seed)
    counts = province_site_counts()
    department_total = min(sites, round(DEPARTMENT_SITES * sites / FULL_SCALE))
    shares = apportion(sites - department_total, [count for _, _, count in counts])
    provinces = [code for code, _, _ in counts]
    admin = division_closure(c for p in provinces for c in _subtree(p))
    dept = _department_nodes(provinces)
    out: list[Site] = []
    for province, share in zip(provinces, shares, strict=True):
        out += _province_sites(province, share, rng)
    out += _department_sites(dept, department_total, rng)
    return checked_registry(admin + dept, out)


def apportion(total: int, weights: Sequence[int]) -> list[int]:
    """``total`` split in proportion to ``weights`` by largest remainders (ties: first wins)."""
    whole = sum(weights)
    quotas = [total * w / whole for w in weights]
    shares = [int(q) for q in quotas]
    by_remainder = sorted(range(len(weights)), key=lambda i: (shares[i] - quotas[i], i))
    for i in by_remainder[: total - sum(shares)]:
        shares[i] += 1
    return shares


def _subtree(code: str) -> list[str]:
    out = [code]
    for child in children_of(code):
        out += _subtree(child.code)
    return out


def _province_sites(province: str, share: int, rng: random.Random) -> list[Site]:
    nodes = [division_nodes()[c] for c in _subtree(province)]
    nodes.sort(key=lambda n: (-LEVEL_WEIGHTS[n.level], n.code))
    places = {n.code: place_name(n.code) for n in nodes}
    sites = [
        _site(
            f"{n.code}0001",
            f"{places[n.code]}人民政府",
            f"https://www.{n.code}.gov.cn",
            SiteType.PORTAL,
            f"{places[n.code]}人民政府办公室",
            n.code,
        )
        for n in nodes[:share]
    ]
    serials = dict.fromkeys((n.code for n in nodes), 1)
    weights = [LEVEL_WEIGHTS[n.level] for n in nodes]
    for node in rng.choices(nodes, weights, k=max(0, share - len(nodes))):
        serials[node.code] += 1
        serial = _serial(serials[node.code], node.code)
        place = places[node.code]
        sites.append(
            _site(
                f"{node.code}{serial}",
                f"{place}部门网站{serial}",
                f"https://www.{node.code}{serial}.gov.cn",
                SiteType.DEPARTMENT,
                f"{place}部门{serial}",
                node.code,
            )
        )
    return sites


def _department_nodes(provinces: list[str]) -> list[Node]:
    names = division_nodes()
    nodes: list[Node] = []
    for code in DEPARTMENTS:
        name = DEPARTMENT_NAMES.get(code, f"国务院部门{code[2:]}")
        nodes.append(Node(code=code, name=name, level=Level.DEPARTMENT, tree=Tree.DEPT))
        if code in BRANCHED:
            pattern = BRANCH_NAMES.get(code, name + "{province}分支机构")
            nodes += [
                Node(
                    code=f"{code}-{p}",
                    name=pattern.format(province=names[p].name),
                    level=Level.BRANCH,
                    tree=Tree.DEPT,
                    parent=code,
                )
                for p in provinces
            ]
    return nodes


def _department_sites(nodes: list[Node], total: int, rng: random.Random) -> list[Site]:
    ordered = sorted(nodes, key=lambda n: (n.level is Level.BRANCH, n.code))
    chosen = ordered[:total] + rng.choices(ordered, k=max(0, total - len(ordered)))
    serials: dict[str, int] = {}
    sites: list[Site] = []
    for node in chosen:
        serials[node.code] = serials.get(node.code, 0) + 1
        department, _, branch = node.code.partition("-")
        admin = branch or NATIONAL
        serial = _serial(serials[node.code], node.code)
        code = department_site_code(department, branch or None, int(serial))
        sites.append(
            _site(
                code,
                f"{node.name}网站{serial}",
                f"https://www.{code}.gov.cn",
                SiteType.DEPARTMENT,
                node.name,
                admin,
                node.code,
            )
        )
    return sites


def _serial(number: int, node: str) -> str:
    if number > MAX_SERIAL:
        raise ValueError(f"more than {MAX_SERIAL} sites at {node}: too many sites for the shape")
    return f"{number:04d}"


def _site(
    code: str,
    name: str,
    homepage: str,
    type_: SiteType,
    sponsor: str,
    admin_node: str,
    dept_node: str | None = None,
) -> Site:
    return Site(
        code=code,
        name=name,
        homepage_url=homepage,
        type=type_,
        sponsor=sponsor,
        admin_node=admin_node,
        dept_node=dept_node,
    )

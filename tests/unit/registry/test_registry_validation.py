"""Registry validation: each kind of problem is found and named clearly."""

from __future__ import annotations

import pytest

from shared.registry.model import Level, Node, RegistryError, Site, SiteType, Tree
from shared.registry.validation import checked_registry, validate_registry


def admin(code: str, level: Level, parent: str | None, name: str = "") -> Node:
    return Node(code=code, name=name or code, level=level, tree=Tree.ADMIN, parent=parent)


def dept(code: str, level: Level, parent: str | None = None) -> Node:
    return Node(code=code, name=code, level=level, tree=Tree.DEPT, parent=parent)


def site(code: str, admin_node: str, **fields: object) -> Site:
    values: dict[str, object] = {
        "code": code,
        "name": f"站点{code}",
        "homepage_url": f"https://www.{code}.gov.cn",
        "type": SiteType.PORTAL,
        "sponsor": "办公室",
        "admin_node": admin_node,
    }
    return Site.model_validate(values | fields)


NODES = [
    admin("CN", Level.NATIONAL, None),
    admin("510000", Level.PROVINCE, "CN"),
    admin("510900", Level.CITY, "510000"),
    admin("510903", Level.COUNTY, "510900"),
    admin("110000", Level.PROVINCE, "CN"),
    admin("110101", Level.COUNTY, "110000"),
    admin("420000", Level.PROVINCE, "CN"),
    admin("429004", Level.COUNTY, "420000"),
    dept("bm29", Level.DEPARTMENT),
    dept("bm29-510000", Level.BRANCH, "bm29"),
]
SITES = [
    site("5100000001", "510000"),
    site("5109030018", "510903", type=SiteType.DEPARTMENT),
    site("1101010001", "110101"),
    site("4290040001", "429004"),
    site("bm29000002", "CN", dept_node="bm29", type=SiteType.DEPARTMENT),
    site("bm29230001", "510000", dept_node="bm29-510000", type=SiteType.DEPARTMENT),
    site("5109030002", "510903", active_from=2010, active_to=2024, ended_by="closed"),
]


def problems_with(nodes: list[Node] | None = None, sites: list[Site] | None = None) -> list[str]:
    return validate_registry(NODES + (nodes or []), SITES + (sites or []))


def test_the_base_registry_is_valid() -> None:
    assert validate_registry(NODES, SITES) == []
    registry = checked_registry(NODES, SITES)
    assert registry.site_ancestors("bm29230001") == ["510000", "CN", "bm29-510000", "bm29"]


def test_unknown_parent() -> None:
    assert problems_with([admin("510800", Level.CITY, "520000")]) == [
        "node '510800': unknown parent '520000'"
    ]


def test_duplicate_node_and_site_codes() -> None:
    problems = problems_with(
        [admin("510900", Level.CITY, "510000")], [site("5100000001", "510000")]
    )
    assert problems == [
        "duplicate node code '510900' (2 times)",
        "duplicate site code '5100000001' (2 times)",
    ]


def test_site_at_unknown_node() -> None:
    assert problems_with(sites=[site("5108000001", "510800")]) == [
        "site '5108000001': at unknown node '510800'"
    ]
    problems = problems_with(sites=[site("bm29510002", "510000", dept_node="bm29-520000")])
    assert "site 'bm29510002': at unknown node 'bm29-520000'" in problems


def test_division_prefix_must_match_the_admin_node() -> None:
    assert problems_with(sites=[site("5109030099", "510900")]) == [
        "site '5109030099': division prefix 510903 does not match '510900'"
    ]


def test_department_site_must_sit_in_its_own_system() -> None:
    other = [dept("bm07", Level.DEPARTMENT)]
    assert problems_with(other, [site("bm07000001", "CN", dept_node="bm29")]) == [
        "site 'bm07000001': a department site must sit in bm07 or one of its branches bm07-…"
    ]
    assert problems_with(other, [site("bm07000001", "CN")]) == [
        "site 'bm07000001': a department site must sit in bm07 or one of its branches bm07-…"
    ]


def test_department_site_sits_at_its_branch_province_or_at_cn() -> None:
    assert problems_with(sites=[site("bm29510002", "CN", dept_node="bm29-510000")]) == [
        "site 'bm29510002': a site of bm29-510000 must sit at admin node '510000'"
    ]
    assert problems_with(sites=[site("bm29000003", "510000", dept_node="bm29")]) == [
        "site 'bm29000003': a site of bm29 must sit at admin node 'CN'"
    ]


def test_malformed_site_code() -> None:
    assert problems_with(sites=[site("51000000", "510000")]) == [
        "site '51000000': code is neither 6 digits + 4 digits nor bm + 8 digits"
    ]


def test_active_to_before_active_from() -> None:
    bad = site("5100000002", "510000", active_from=2025, active_to=2024, ended_by="closed")
    assert problems_with(sites=[bad]) == [
        "site '5100000002': active_to 2024 is before active_from 2025"
    ]


def test_ended_by_needs_active_to() -> None:
    assert problems_with(sites=[site("5100000002", "510000", ended_by="integrated")]) == [
        "site '5100000002': ended_by 'integrated' without active_to"
    ]


def test_node_cycles() -> None:
    cycle = [
        dept("bm30", Level.DEPARTMENT, "bm30-510000"),
        dept("bm30-510000", Level.BRANCH, "bm30"),
    ]
    problems = problems_with(cycle)
    assert "node cycle: bm30 → bm30-510000 → bm30" in problems


def test_wrong_level_under_a_parent() -> None:
    problems = problems_with(
        [
            admin("510104", Level.COUNTY, "510000"),
            admin("510100", Level.CITY, "CN"),
            dept("bm29-110000", Level.BRANCH, "510000"),
        ]
    )
    assert problems == [
        "node '510104': a county sits directly under the province '510000' only in a "
        "municipality or as a 省直辖 unit (PP90XX)",
        "node '510100': a city cannot sit under the national 'CN'",
        "node 'bm29-110000': a branch cannot sit under the province '510000'",
    ]


def test_county_directly_under_municipality_or_as_directly_administered_unit() -> None:
    ok = [admin("110102", Level.COUNTY, "110000"), admin("429005", Level.COUNTY, "420000")]
    assert problems_with(ok) == []


def test_code_must_fall_under_its_parent() -> None:
    assert problems_with([admin("520300", Level.CITY, "510000")]) == [
        "node '520300': code does not fall under its parent '510000'"
    ]
    assert problems_with([dept("bm07-510000", Level.BRANCH, "bm29")]) == [
        "node 'bm07-510000': code does not fall under its parent 'bm29'"
    ]


def test_level_must_belong_to_the_tree() -> None:
    wrong = Node(code="bm31", name="x", level=Level.DEPARTMENT, tree=Tree.ADMIN)
    assert problems_with([wrong]) == [
        "node 'bm31': level department does not belong to the admin tree"
    ]


def test_site_in_the_wrong_tree() -> None:
    assert problems_with(sites=[site("bm29000003", "bm29", dept_node="bm29")]) == [
        "site 'bm29000003': admin_node 'bm29' is not an administrative node",
        "site 'bm29000003': a site of bm29 must sit at admin node 'CN'",
    ]


@pytest.mark.parametrize("url", ["ftp://www.sc.gov.cn", "javascript:alert(1)", "www.sc.gov.cn"])
def test_bad_url_scheme(url: str) -> None:
    assert problems_with(sites=[site("5100000002", "510000", homepage_url=url)]) == [
        f"site '5100000002': homepage_url {url!r} is not an http(s) URL"
    ]


def test_every_problem_is_listed_at_once() -> None:
    with pytest.raises(RegistryError) as caught:
        checked_registry(
            [*NODES, admin("510800", Level.CITY, "520000")],
            [*SITES, site("5109030099", "510900"), site("5100000002", "510000", homepage_url="x")],
        )
    assert len(caught.value.problems) == 3
    assert str(caught.value).count("\n") == 2

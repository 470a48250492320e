"""The division table, the demo registry and the national registry are real-shaped and valid."""

from __future__ import annotations

import csv
import io
from collections import Counter

import pytest

from shared.registry.data.make_divisions import division_rows
from shared.registry.demo import demo_registry
from shared.registry.divisions import (
    PROVINCE_ORDER,
    department_site_code,
    division_closure,
    division_nodes,
    place_name,
)
from shared.registry.model import NATIONAL, Level, Registry, SiteType
from shared.registry.national import apportion, national_registry, province_site_counts
from shared.registry.validation import validate_registry


def valid(registry: Registry) -> list[str]:
    return validate_registry(list(registry.nodes.values()), list(registry.sites.values()))


def test_division_table() -> None:
    nodes = division_nodes()
    assert valid(Registry(nodes.values(), [])) == []
    provinces = [n for n in nodes.values() if n.level is Level.PROVINCE]
    assert len(provinces) == 32 and nodes["660000"].name == "新疆生产建设兵团"
    assert "710000" not in nodes and "110100" not in nodes and "429000" not in nodes
    assert nodes["110101"].parent == "110000"
    assert nodes["500229"].parent == "500000"
    assert nodes["429004"].parent == "420000"
    assert nodes["510903"].parent == "510900"
    assert place_name("510903") == "遂宁市船山区"


def test_make_divisions_rules() -> None:
    source = io.StringIO(
        "adcode,name,longitude,latitude\n110000000000,北京市,,\n110100000000,市辖区,,\n"
        "110101000000,东城区,,\n420000000000,湖北省,,\n429000000000,省直辖县级行政区划,,\n"
        "429004000000,仙桃市,,\n420100000000,武汉市,,\n420101000000,市辖区,,\n"
        "420102000000,江岸区,,\n810000000000,香港特别行政区,,\n"
    )
    assert list(division_rows(csv.DictReader(source))) == [
        ("110000", "北京市", "province", "CN"),
        ("110101", "东城区", "county", "110000"),
        ("420000", "湖北省", "province", "CN"),
        ("420100", "武汉市", "city", "420000"),
        ("420102", "江岸区", "county", "420100"),
        ("429004", "仙桃市", "county", "420000"),
        ("660000", "新疆生产建设兵团", "province", "CN"),
    ]


def test_division_closure_adds_ancestors_and_skips_unknown_codes() -> None:
    codes = [n.code for n in division_closure(["510903", "bm29", "999999"])]
    assert codes == ["510000", "510900", "510903", "CN"]


def test_demo_registry() -> None:
    registry = demo_registry()
    assert valid(registry) == []
    assert 300 <= len(registry.sites) <= 400
    assert registry.path("510903") == ["CN", "510000", "510900", "510903"]
    assert registry.nodes["110101"].parent == "110000"
    assert registry.nodes["bm29-510000"].parent == "bm29"
    assert registry.nodes["bm29-110000"].parent == "bm29"
    assert registry.nodes["bm07-510000"].parent == "bm07"
    beijing = registry.sites["1100000088"]
    assert (beijing.name, beijing.homepage_url, beijing.sponsor, beijing.type) == (
        "北京市人民政府",
        "https://www.beijing.gov.cn",
        "北京市人民政府办公厅",
        SiteType.PORTAL,
    )
    assert beijing.admin_node == "110000"
    assert registry.sites["5100000001"].homepage_url == "https://www.sc.gov.cn"
    assert registry.sites["bm07000001"].homepage_url == "https://www.miit.gov.cn"
    assert registry.sites["bm29000002"].admin_node == "CN"
    assert registry.sites["bm29230001"].dept_node == "bm29-510000"
    assert registry.sites["5109000001"].name == "遂宁市人民政府"
    assert registry.sites["5109030001"].sponsor == "遂宁市船山区人民政府办公室"
    # every city and county of 四川 and every district of 北京 has its portal
    for code, node in registry.nodes.items():
        if node.level in (Level.CITY, Level.COUNTY):
            assert f"{code}0001" in registry.sites


def test_department_systems_follow_the_national_site_code_scheme() -> None:
    """bm07 is 工业和信息化部, bm29 国家税务总局 (bm29000002); after the department come two
    digits for the province in GB/T 2260 order (bm29030010: 河北); a system holds the ministry's
    own sites and its vertically managed branches, never a province's own departments."""
    assert department_site_code("bm29", "130000", 10) == "bm29030010"
    assert department_site_code("bm29", None, 2) == "bm29000002"
    for registry in (demo_registry(), national_registry(3000)):
        assert registry.nodes["bm07"].name == "工业和信息化部"
        assert registry.nodes["bm29"].name == "国家税务总局"
        for site in registry.sites.values():
            if site.dept_node is None:
                assert not site.code.startswith("bm")
                continue
            branch = site.dept_node.partition("-")[2]
            number = "00" if not branch else f"{PROVINCE_ORDER.index(branch) + 1:02d}"
            assert site.code[:6] == site.dept_node[:4] + number, site
            assert site.admin_node == (branch or NATIONAL), site
    demo = demo_registry()
    hq = demo.sites["bm29000002"]
    assert (hq.name, hq.homepage_url) == ("国家税务总局", "https://www.chinatax.gov.cn")
    assert demo.sites["bm29230001"].name == "国家税务总局四川省税务局"
    assert demo.sites["bm07230001"].name == "四川省通信管理局"
    education = next(s for s in demo.sites.values() if s.name == "四川省教育厅")
    assert (education.admin_node, education.dept_node) == ("510000", None)
    assert national_registry(3000).nodes["bm29-130000"].name == "国家税务总局河北省税务局"


def test_demo_registry_changes_over_time() -> None:
    sites = demo_registry().sites.values()
    assert any(s.active_to == 2025 and s.ended_by == "closed" for s in sites)
    assert any(s.active_to == 2024 and s.ended_by == "integrated" for s in sites)
    assert any(s.active_from == 2025 for s in sites)
    assert demo_registry() is demo_registry()


def test_national_registry_full_scale() -> None:
    registry = national_registry()
    assert len(registry.sites) == 14474
    assert valid(registry) == []
    by_province = Counter(s.admin_node[:2] for s in registry.sites.values() if s.dept_node is None)
    assert {f"{p}0000": n for p, n in by_province.items()} == {
        code: count for code, _, count in province_site_counts()
    }
    assert sum(1 for s in registry.sites.values() if s.code.startswith("bm")) == 912
    assert len([n for n in registry.nodes.values() if n.level is Level.DEPARTMENT]) == 30
    portals = [s for s in registry.sites.values() if s.type is SiteType.PORTAL]
    assert "5100000001" in registry.sites and "5109030001" in registry.sites
    assert len(portals) > 2500


@pytest.mark.parametrize("sites", [1, 100, 1000, 20000])
def test_national_registry_is_exact_and_proportional(sites: int) -> None:
    registry = national_registry(sites, seed=3)
    assert len(registry.sites) == sites
    counts = province_site_counts()
    shares = apportion(sites - round(912 * sites / 14474), [c for _, _, c in counts])
    by_province = Counter(s.admin_node[:2] for s in registry.sites.values() if s.dept_node is None)
    for (code, _, _), share in zip(counts, shares, strict=True):
        assert by_province.get(code[:2], 0) == share


def test_national_registry_is_deterministic_per_seed() -> None:
    assert national_registry(2000, seed=1).sites == national_registry(2000, seed=1).sites
    assert national_registry(seed=1).sites != national_registry(seed=2).sites


def test_national_registry_scales_to_100000_sites() -> None:
    # how fast it is built is the benchmark's to measure (`nianbao bench --sites 100000`)
    registry = national_registry(100_000)
    assert len(registry.sites) == 100_000
    assert all(site.admin_node in registry.nodes for site in registry.sites.values())


def test_apportion() -> None:
    assert apportion(10, [1, 1, 1]) == [4, 3, 3]
    assert apportion(0, [5, 3]) == [0, 0]
    assert sum(apportion(13_562, [c for _, _, c in province_site_counts()])) == 13_562

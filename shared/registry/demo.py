"""The built-in demo registry: all of 四川, all of 北京 and two State Council department systems.

Real division codes; invented but deterministic site codes, names and homepages below the
province portals and department headquarters, which carry their real codes and homepages
(1100000088 北京市人民政府 https://www.beijing.gov.cn, bm07000001 工业和信息化部
https://www.miit.gov.cn, bm29000002 国家税务总局 https://www.chinatax.gov.cn). A department
system is the ministry's own site and its vertically managed branches in the provinces (通信管理局,
税务局: bm29230001 is the tax system in 四川, the 23rd province); a province's own departments
(四川省教育厅) sit in the province's tree only. Some sites open, close or are integrated in
2024–2025 so the registry has dated changes.
"""

from __future__ import annotations

from functools import cache

from shared.registry.divisions import (
    children_of,
    department_site_code,
    division_closure,
    place_name,
)
from shared.registry.model import NATIONAL, Level, Node, Registry, Site, SiteType, Tree
from shared.registry.validation import checked_registry

SICHUAN = "510000"
BEIJING = "110000"

#: (code, name, homepage, sponsor) of each province portal
PROVINCE_PORTALS = {
    BEIJING: ("1100000088", "北京市人民政府", "https://www.beijing.gov.cn", "北京市人民政府办公厅"),
    SICHUAN: ("5100000001", "四川省人民政府", "https://www.sc.gov.cn", "四川省人民政府办公厅"),
}

#: department code → (name, HQ site serial, homepage, sponsor, {province: (branch, homepage)})
DEPARTMENTS = {
    "bm07": (
        "工业和信息化部",
        1,
        "https://www.miit.gov.cn",
        "工业和信息化部办公厅",
        {
            BEIJING: ("北京市通信管理局", "https://bjca.miit.gov.cn"),
            SICHUAN: ("四川省通信管理局", "https://scca.miit.gov.cn"),
        },
    ),
    "bm29": (
        "国家税务总局",
        2,
        "https://www.chinatax.gov.cn",
        "国家税务总局办公厅",
        {
            BEIJING: ("国家税务总局北京市税务局", "https://beijing.chinatax.gov.cn"),
            SICHUAN: ("国家税务总局四川省税务局", "https://sichuan.chinatax.gov.cn"),
        },
    ),
}

#: a province's own government departments: in its tree only, in no ministry's system
PROVINCE_DEPARTMENTS = {
    SICHUAN: (("5100000002", "四川省教育厅", "https://edu.sc.gov.cn"),),
}

#: serial → (bureau name at city level, at county level, subdomain) of local department sites
BUREAUS = {
    "0002": ("教育局", "教育局", "jyj"),
    "0003": ("卫生健康委员会", "卫生健康局", "wsjkw"),
}

#: the dated changes: (site code, active_from, active_to, ended_by)
CHANGES = {
    "5101000003": (2000, 2025, "closed"),
    "5109030018": (2025, None, None),
    "1101010002": (2000, 2024, "integrated"),
}


@cache
def demo_registry() -> Registry:
    """The demo registry (built once): about 350 sites in both trees."""
    admin = division_closure(_all_divisions(SICHUAN) + _all_divisions(BEIJING))
    dept = _department_nodes()
    sites = [*_province_sites(admin), *_department_sites()]
    sites.append(
        Site(
            code="5109030018",
            name="遂宁市船山区政务服务网",
            homepage_url="https://zwfw.510903.gov.cn",
            type=SiteType.DEPARTMENT,
            sponsor="遂宁市船山区行政审批局",
            admin_node="510903",
        )
    )
    return checked_registry(admin + dept, [_dated(s) for s in sites])


def _all_divisions(code: str) -> list[str]:
    out = [code]
    for child in children_of(code):
        out.extend(_all_divisions(child.code))
    return out


def _department_nodes() -> list[Node]:
    nodes: list[Node] = []
    for code, (name, _, _, _, branches) in DEPARTMENTS.items():
        nodes.append(Node(code=code, name=name, level=Level.DEPARTMENT, tree=Tree.DEPT))
        for province, (branch_name, _) in branches.items():
            nodes.append(
                Node(
                    code=f"{code}-{province}",
                    name=branch_name,
                    level=Level.BRANCH,
                    tree=Tree.DEPT,
                    parent=code,
                )
            )
    return nodes


def _province_sites(admin: list[Node]) -> list[Site]:
    sites: list[Site] = []
    for index, node in enumerate(n for n in admin if n.code != NATIONAL):
        place = place_name(node.code)
        if node.code in PROVINCE_PORTALS:
            code, name, homepage, sponsor = PROVINCE_PORTALS[node.code]
        else:
            code, name = f"{node.code}0001", f"{place}人民政府"
            homepage, sponsor = f"https://www.{node.code}.gov.cn", f"{place}人民政府办公室"
        sites.append(_site(code, name, homepage, SiteType.PORTAL, sponsor, node.code))
        for code, name, homepage in PROVINCE_DEPARTMENTS.get(node.code, ()):
            sites.append(_site(code, name, homepage, SiteType.DEPARTMENT, name, node.code))
        for serial in _bureau_serials(node, index):
            city_name, county_name, subdomain = BUREAUS[serial]
            bureau = place + (city_name if node.level is Level.CITY else county_name)
            sites.append(
                _site(
                    f"{node.code}{serial}",
                    bureau,
                    f"https://{subdomain}.{node.code}.gov.cn",
                    SiteType.DEPARTMENT,
                    bureau,
                    node.code,
                )
            )
    return sites


def _bureau_serials(node: Node, index: int) -> list[str]:
    """Both bureaus in every city, 教育局 in every 北京 district and every third 四川 county."""
    if node.level is Level.CITY:
        return ["0002", "0003"]
    if node.level is Level.COUNTY and (node.parent == BEIJING or index % 3 == 0):
        return ["0002"]
    return []


def _department_sites() -> list[Site]:
    sites: list[Site] = []
    for code, (name, serial, homepage, sponsor, branches) in DEPARTMENTS.items():
        hq = department_site_code(code, None, serial)
        sites.append(_site(hq, name, homepage, SiteType.DEPARTMENT, sponsor, NATIONAL, code))
        for province, (branch_name, branch_homepage) in branches.items():
            sites.append(
                _site(
                    department_site_code(code, province, 1),
                    branch_name,
                    branch_homepage,
                    SiteType.DEPARTMENT,
                    branch_name,
                    province,
                    f"{code}-{province}",
                )
            )
    return sites


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


def _dated(site: Site) -> Site:
    if site.code not in CHANGES:
        return site
    active_from, active_to, ended_by = CHANGES[site.code]
    return site.model_copy(
        update={"active_from": active_from, "active_to": active_to, "ended_by": ended_by}
    )

"""Roll-ups by hand on a small registry: both trees, statuses, sums, yes counts, types, dates."""

from __future__ import annotations

import pytest

from shared.publication import PublicationStanding
from shared.registry.model import Level, Node, Registry, Site, SiteType, Tree
from shared.rollup import (
    NodeRollup,
    RollupBook,
    SiteState,
    Tally,
    combine_tallies,
    full_rollups,
    percent,
    site_tally,
)

YEAR = 2024
COUNTS = ["services.cases.total", "info.total"]
YES_NO = ["services.catalog_published"]


def node(code: str, level: Level, parent: str | None, tree: Tree = Tree.ADMIN) -> Node:
    return Node(code=code, name=f"节点{code}", level=level, tree=tree, parent=parent)


def site(code: str, admin: str, type_: SiteType = SiteType.PORTAL, **fields: object) -> Site:
    values: dict[str, object] = {
        "code": code,
        "name": f"站点{code}",
        "homepage_url": f"https://www.{code}.gov.cn",
        "type": type_,
        "sponsor": "办公室",
        "admin_node": admin,
    }
    return Site.model_validate(values | fields)


REGISTRY = Registry(
    [
        node("CN", Level.NATIONAL, None),
        node("510000", Level.PROVINCE, "CN"),
        node("510900", Level.CITY, "510000"),
        node("510903", Level.COUNTY, "510900"),
        node("110000", Level.PROVINCE, "CN"),
        node("110101", Level.COUNTY, "110000"),
        node("bm29", Level.DEPARTMENT, None, Tree.DEPT),
        node("bm29-510000", Level.BRANCH, "bm29", Tree.DEPT),
    ],
    [
        site("5109030001", "510903"),
        site("5109030002", "510903", SiteType.DEPARTMENT),
        site("5109030003", "510903", SiteType.DEPARTMENT, active_from=2025),
        site("5109030004", "510903", active_to=2023, ended_by="closed"),
        site("5109000001", "510900"),
        site("5100000001", "510000"),
        site("1101010001", "110101"),
        site("bm29230001", "510000", SiteType.DEPARTMENT, dept_node="bm29-510000"),
        site("bm29000002", "CN", SiteType.DEPARTMENT, dept_node="bm29"),
    ],
)


def report(cases: int | None = None, info: int | None = None, catalog: bool | None = None) -> dict:
    services: dict[str, object] = {"catalog_published": catalog}
    if cases is not None:
        services["cases"] = {"total": cases}
    return {"services": services} | ({"info": {"total": info}} if info is not None else {})


STATES = {
    s.site: s
    for s in [
        SiteState(site="5109030001", status="on_time", report=report(10, 5, True)),
        SiteState(site="5109030002", status="late", report=report(3, None, False)),
        SiteState(site="5109030003", status="on_time", report=report(1000, 1000, True)),
        SiteState(site="5109030004", status="late", report=report(1000, 1000, True)),
        SiteState(site="5109000001", status="rejected"),
        SiteState(site="5100000001", status="returned"),
        SiteState(site="bm29230001", status="on_time", report=report(None, 7, True)),
    ]
}


@pytest.fixture(scope="module")
def rollups() -> dict[str, NodeRollup]:
    return full_rollups(REGISTRY, YEAR, STATES, COUNTS, YES_NO)


def counts(rollup: NodeRollup) -> tuple[int, ...]:
    t = rollup.tally
    return (t.expected, t.reported, t.on_time, t.late, t.missing, t.rejected, t.returned)


def test_every_node_of_both_trees_has_a_rollup(rollups: dict[str, NodeRollup]) -> None:
    assert set(rollups) == set(REGISTRY.nodes)
    assert rollups["510903"].path == ["CN", "510000", "510900", "510903"]
    assert (rollups["bm29-510000"].tree, rollups["bm29-510000"].level) == ("dept", "branch")
    assert rollups["510903"].year == YEAR


def test_county(rollups: dict[str, NodeRollup]) -> None:
    county = rollups["510903"]
    assert counts(county) == (2, 2, 1, 1, 0, 0, 0)  # 0003 opens in 2025, 0004 closed in 2023
    assert county.tally.sums == {"services.cases.total": 13, "info.total": 5}
    assert county.tally.yes_counts == {"services.catalog_published": 1}
    assert county.tally.by_type == {
        "portal": {"expected": 1, "reported": 1, "on_time": 1, "late": 0, "missing": 0},
        "department": {"expected": 1, "reported": 1, "on_time": 0, "late": 1, "missing": 0},
    }
    assert (county.completeness_pct, county.timeliness_pct) == (100.0, 50.0)


def test_city_and_province(rollups: dict[str, NodeRollup]) -> None:
    city = rollups["510900"]
    assert counts(city) == (3, 2, 1, 1, 0, 1, 0)
    assert (city.completeness_pct, city.timeliness_pct) == (66.67, 33.33)
    province = rollups["510000"]
    assert counts(province) == (5, 3, 2, 1, 0, 1, 1)
    assert province.tally.sums == {"services.cases.total": 13, "info.total": 12}
    assert province.tally.yes_counts == {"services.catalog_published": 2}
    assert province.tally.missing_sites == ()
    assert (province.completeness_pct, province.timeliness_pct) == (60.0, 40.0)


def test_national_includes_every_province_and_department_headquarters(
    rollups: dict[str, NodeRollup],
) -> None:
    national = rollups["CN"]
    assert counts(national) == (7, 3, 2, 1, 2, 1, 1)
    assert national.tally.missing_sites == ("1101010001", "bm29000002")
    assert (national.completeness_pct, national.timeliness_pct) == (42.86, 28.57)
    assert national.tally.by_type["department"] == {
        "expected": 3,
        "reported": 2,
        "on_time": 1,
        "late": 1,
        "missing": 1,
    }


def test_department_system(rollups: dict[str, NodeRollup]) -> None:
    branch, system = rollups["bm29-510000"], rollups["bm29"]
    assert counts(branch) == (1, 1, 1, 0, 0, 0, 0)
    assert branch.tally.sums == {"services.cases.total": 0, "info.total": 7}
    assert counts(system) == (2, 1, 1, 0, 1, 0, 0)
    assert system.tally.missing_sites == ("bm29000002",)
    assert system.completeness_pct == 50.0


def test_a_county_site_reaches_its_city_province_national_and_department_system() -> None:
    registry = Registry(
        [*REGISTRY.nodes.values(), node("bm07", Level.DEPARTMENT, None, Tree.DEPT)],
        [
            *REGISTRY.sites.values(),
            site("5109030018", "510903", SiteType.DEPARTMENT, dept_node="bm07"),
        ],
    )
    book = RollupBook(registry, YEAR, COUNTS, YES_NO)
    book.load(STATES)
    assert book.affected_nodes(["5109030018"]) == ["510903", "510900", "510000", "CN", "bm07"]
    filed = SiteState(site="5109030018", status="on_time", report=report(4, 4, True))
    changed = book.update([filed])
    assert sorted(changed) == ["510000", "510900", "510903", "CN", "bm07"]
    assert all(r.tally.sums["services.cases.total"] >= 4 for r in changed.values())
    assert changed["bm07"].completeness_pct == 100.0


def test_an_empty_node_has_every_path_with_zero() -> None:
    registry = Registry([node("CN", Level.NATIONAL, None)], [])
    national = full_rollups(registry, YEAR, {}, COUNTS, YES_NO)["CN"]
    assert national.tally.expected == 0 and national.completeness_pct == 0.0
    assert national.tally.sums == {"services.cases.total": 0, "info.total": 0}
    assert set(national.tally.by_type) == {"portal", "department"}


def test_unchanged_states_change_nothing() -> None:
    book = RollupBook(REGISTRY, YEAR, COUNTS, YES_NO)
    book.load(STATES)
    assert book.update(STATES.values()) == {}
    assert book.update([SiteState(site="5109030003", status="late")]) == {}  # not active in 2024
    assert book.affected_nodes(["5109030003"]) == []


def test_a_book_starts_with_every_site_missing() -> None:
    book = RollupBook(REGISTRY, YEAR, COUNTS, YES_NO)
    assert book.rollup("CN").tally.missing == 7
    assert book.rollup("CN").tally.missing_sites == tuple(
        sorted(c for c, s in REGISTRY.sites.items() if s.active_in(YEAR))
    )


def test_refiling_replaces_the_counted_report() -> None:
    book = RollupBook(REGISTRY, YEAR, COUNTS, YES_NO)
    book.load(STATES)
    changed = book.update(
        [SiteState(site="5109030001", status="on_time", report=report(20, 5, True))]
    )
    assert sorted(changed) == ["510000", "510900", "510903", "CN"]
    assert changed["510903"].tally.sums["services.cases.total"] == 23
    assert book.rollup("110000") == full_rollups(REGISTRY, YEAR, STATES, COUNTS, YES_NO)["110000"]


def test_unknown_sites_are_refused() -> None:
    book = RollupBook(REGISTRY, YEAR, COUNTS, YES_NO)
    with pytest.raises(KeyError, match="9999990001"):
        book.update([SiteState(site="9999990001", status="on_time")])
    with pytest.raises(KeyError, match="9999990001"):
        book.load({"9999990001": SiteState(site="9999990001", status="late")})


def test_site_tally() -> None:
    portal = REGISTRY.sites["5109030001"]
    missing = site_tally(portal, None, COUNTS, YES_NO)
    assert (missing.expected, missing.missing, missing.missing_sites) == (1, 1, ("5109030001",))
    rejected = site_tally(portal, SiteState(site="5109030001", status="rejected"), COUNTS, YES_NO)
    assert (rejected.rejected, rejected.missing, rejected.reported) == (1, 0, 0)
    with pytest.raises(ValueError, match="not a count"):
        site_tally(
            portal,
            SiteState(site="5109030001", status="late", report={"info": {"total": "7"}}),
            COUNTS,
            YES_NO,
        )
    with pytest.raises(ValueError, match="the state of 5109030002"):
        site_tally(portal, SiteState(site="5109030002", status="late"), COUNTS, YES_NO)


def test_only_a_true_answer_counts_as_yes() -> None:
    portal = REGISTRY.sites["5109030001"]
    for answer in ["yes", 1, None, False]:
        state = SiteState(site="5109030001", status="on_time", report=report(catalog=answer))  # type: ignore[arg-type]
        assert site_tally(portal, state, COUNTS, YES_NO).yes_counts == {YES_NO[0]: 0}


def test_tally_identity() -> None:
    tally = site_tally(REGISTRY.sites["5109030001"], STATES["5109030001"], COUNTS, YES_NO)
    assert Tally.empty().combine(tally) == tally == tally.combine(Tally.empty())


@pytest.mark.parametrize(
    ("part", "whole", "pct"),
    [(0, 0, 0.0), (1, 3, 33.33), (2, 3, 66.67), (3, 3, 100.0), (5, 3, 100.0), (1, 7, 14.29)],
)
def test_percent_is_rounded_and_never_above_100(part: int, whole: int, pct: float) -> None:
    assert percent(part, whole) == pct


def test_a_site_s_publication_travels_in_its_own_nodes_roll_ups() -> None:
    """The standing of bm29230001 (region 510000, system bm29-510000) is in those two roll-ups
    only; a new check that changes only the evidence changes only them, not the counts above."""
    book = RollupBook(REGISTRY, YEAR, COUNTS, YES_NO)
    first = PublicationStanding(state="not_linked", declared=True, findings=("首页未找到链接",))
    state = STATES["bm29230001"].model_copy(update={"publication": first})
    book.load(STATES | {"bm29230001": state})
    carrying = {n for n, r in book.rollups().items() if "bm29230001" in r.publication_sites}
    assert carrying == {"510000", "bm29-510000"}
    assert book.rollup("bm29").tally.publication["not_linked"] == 1
    again = first.model_copy(update={"findings": ("首页未找到链接", "页脚备案号不一致")})
    changed = book.update([state.model_copy(update={"publication": again})])
    assert set(changed) == {"510000", "bm29-510000"}
    assert changed["510000"].publication_sites["bm29230001"].findings[1] == "页脚备案号不一致"
    assert book.update([state.model_copy(update={"publication": again})]) == {}


def test_combining_aligned_and_unaligned_tallies_gives_the_same_sums() -> None:
    """Tallies whose paths come in one order are added column by column, others key by key:
    both give every key once, in first-seen order, with the exact integer sums."""
    a = Tally.model_construct(
        **Tally().__dict__ | {"sums": {"x": 1, "y": 2}, "yes_counts": {"q": 1}, "publication": {}}
    )
    b = Tally.model_construct(
        **Tally().__dict__ | {"sums": {"x": 10, "y": 20}, "yes_counts": {"q": 0}, "publication": {}}
    )
    shuffled = Tally.model_construct(
        **Tally().__dict__ | {"sums": {"y": 5, "z": 7}, "yes_counts": {}, "publication": {"d": 1}}
    )
    aligned = combine_tallies([a, b, a])
    assert aligned.sums == {"x": 12, "y": 24}
    assert aligned.yes_counts == {"q": 2}
    mixed = combine_tallies([a, shuffled, b])
    assert list(mixed.sums.items()) == [("x", 11), ("y", 27), ("z", 7)]
    assert mixed.yes_counts == {"q": 1}
    assert mixed.publication == {"d": 1}
    assert combine_tallies(iter([a, b])).sums == {"x": 11, "y": 22}

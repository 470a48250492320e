"""Properties: incremental roll-ups equal a full recompute, which equals a naive count per node."""

from __future__ import annotations

from collections.abc import Mapping

from hypothesis import given, settings
from hypothesis import strategies as st

from shared.publication import CHECK_STATES, PublicationStanding
from shared.registry.model import NATIONAL, Level, Node, Registry, Site, SiteType, Tree
from shared.registry.validation import checked_registry
from shared.rollup import (
    TYPE_COUNTS,
    NodeRollup,
    RollupBook,
    SiteState,
    Tally,
    full_rollups,
    percent,
)

YEAR = 2024
COUNTS = ("a.n", "a.b.m", "c")
YES_NO = ("y.p", "q")
STATUSES = ("on_time", "late", "rejected", "returned", "missing")


@st.composite
def registries(draw: st.DrawFn) -> Registry:
    nodes = [Node(code=NATIONAL, name="全国", level=Level.NATIONAL, tree=Tree.ADMIN)]
    admin = [NATIONAL]
    provinces = []
    for p in range(draw(st.integers(1, 3))):
        province = f"{11 + p}0000"
        provinces.append(province)
        nodes.append(_node(province, Level.PROVINCE, NATIONAL))
        admin.append(province)
        for c in range(draw(st.integers(0, 2))):
            city = f"{11 + p}{c + 1:02d}00"
            nodes.append(_node(city, Level.CITY, province))
            admin.append(city)
            for x in range(draw(st.integers(0, 2))):
                county = f"{city[:4]}{x + 1:02d}"
                nodes.append(_node(county, Level.COUNTY, city))
                admin.append(county)
    dept: list[tuple[str, str]] = []  # (dept node, admin node of its sites)
    for d in range(draw(st.integers(0, 2))):
        code = f"bm{d + 1:02d}"
        nodes.append(Node(code=code, name=code, level=Level.DEPARTMENT, tree=Tree.DEPT))
        dept.append((code, NATIONAL))
        for province in draw(st.lists(st.sampled_from(provinces), unique=True, max_size=2)):
            branch = f"{code}-{province}"
            nodes.append(
                Node(code=branch, name=branch, level=Level.BRANCH, tree=Tree.DEPT, parent=code)
            )
            dept.append((branch, province))
    sites = []
    for code in admin:
        for serial in range(draw(st.integers(0, 2))):
            if code == NATIONAL:
                continue
            sites.append(_site(f"{code}{serial + 1:04d}", code, None, draw))
    for dept_node, admin_node in dept:
        for serial in range(draw(st.integers(0, 2))):
            prefix = dept_node[:4] + (admin_node[:2] if admin_node != NATIONAL else "00")
            sites.append(_site(f"{prefix}{serial + 1:04d}", admin_node, dept_node, draw))
    return checked_registry(nodes, sites)


def _node(code: str, level: Level, parent: str) -> Node:
    return Node(code=code, name=code, level=level, tree=Tree.ADMIN, parent=parent)


def _site(code: str, admin: str, dept: str | None, draw: st.DrawFn) -> Site:
    active_from = draw(st.sampled_from([2000, YEAR, YEAR + 1]))
    active_to = draw(st.sampled_from([None, YEAR - 1, YEAR, YEAR + 1]))
    if active_to is not None and active_to < active_from:
        active_to = None
    return Site(
        code=code,
        name=code,
        homepage_url=f"https://{code}.gov.cn",
        type=draw(st.sampled_from(SiteType)),
        sponsor="办公室",
        admin_node=admin,
        dept_node=dept,
        active_from=active_from,
        active_to=active_to,
        ended_by=None if active_to is None else "closed",
    )


reports = st.fixed_dictionaries(
    {},
    optional={
        "a": st.fixed_dictionaries(
            {},
            optional={
                "n": st.none() | st.integers(0, 50),
                "b": st.fixed_dictionaries({}, optional={"m": st.integers(0, 50)}),
            },
        ),
        "c": st.integers(0, 5),
        "y": st.fixed_dictionaries({}, optional={"p": st.none() | st.booleans()}),
        "q": st.booleans(),
    },
)


#: publication standings as the aggregator derives them (any combination the counts must take)
publications = st.builds(
    PublicationStanding,
    state=st.sampled_from(
        [*CHECK_STATES, "undeclared", "pending", "judged_verified", "judged_not_published"]
    ),
    declared=st.booleans(),
    verified=st.booleans(),
    on_time=st.booleans(),
    # evidence alone may change (a new check, the same state): the site's own nodes follow
    findings=st.lists(st.sampled_from(["首页未找到链接", "页脚备案号不一致"]), max_size=2).map(
        tuple
    ),
)


def states_for(registry: Registry) -> st.SearchStrategy[SiteState]:
    return st.builds(
        SiteState,
        site=st.sampled_from(sorted(registry.sites)),
        status=st.sampled_from(STATUSES),
        report=st.none() | reports,
        publication=st.none() | publications,
    )


def naive(registry: Registry, year: int, states: Mapping[str, SiteState], node: str) -> Tally:
    """Count the sites under the node directly, no combining."""
    codes = registry.sites_under(node, year)
    status = {c: states[c].status if c in states else "missing" for c in codes}
    reporting = [c for c in codes if status[c] in ("on_time", "late")]

    def value(code: str, path: str) -> object:
        current: object = states[code].report
        for key in path.split("."):
            current = current.get(key) if isinstance(current, dict) else None
        return current

    def by(site_type: SiteType) -> dict[str, int]:
        mine = [c for c in codes if registry.sites[c].type is site_type]
        return {
            "expected": len(mine),
            "reported": sum(status[c] in ("on_time", "late") for c in mine),
            "on_time": sum(status[c] == "on_time" for c in mine),
            "late": sum(status[c] == "late" for c in mine),
            "missing": sum(status[c] == "missing" for c in mine),
        }

    return Tally(
        expected=len(codes),
        reported=len(reporting),
        on_time=sum(s == "on_time" for s in status.values()),
        late=sum(s == "late" for s in status.values()),
        missing=sum(s == "missing" for s in status.values()),
        rejected=sum(s == "rejected" for s in status.values()),
        returned=sum(s == "returned" for s in status.values()),
        missing_sites=tuple(sorted(c for c in codes if status[c] == "missing")),
        sums={p: sum(int(value(c, p) or 0) for c in reporting) for p in COUNTS},  # type: ignore[call-overload]
        yes_counts={p: sum(value(c, p) is True for c in reporting) for p in YES_NO},
        by_type={t.value: by(t) for t in SiteType},
        publication=naive_publication([states[c].publication for c in codes if c in states]),
    )


def naive_publication(standings: list[PublicationStanding | None]) -> dict[str, int]:
    """Count each publication figure by its own definition, site by site."""
    given = [p for p in standings if p is not None]
    counted = {"judged_verified": "verified", "judged_not_published": "not_linked"}
    out = {
        "declared": sum(p.declared for p in given),
        "verified_on_time": sum(p.verified and p.on_time for p in given),
    }
    for state in CHECK_STATES:
        out[state] = sum(counted.get(p.state, p.state) == state for p in given)
    return out


@settings(max_examples=150, deadline=None)
@given(data=st.data(), registry=registries())
def test_incremental_updates_equal_a_full_recompute(
    data: st.DataObject, registry: Registry
) -> None:
    if not registry.sites:
        return
    initial = data.draw(st.lists(states_for(registry), max_size=8))
    states = {s.site: s for s in initial}
    book = RollupBook(registry, YEAR, COUNTS, YES_NO)
    book.load(states)
    assert book.rollups() == full_rollups(registry, YEAR, states, COUNTS, YES_NO)
    for _ in range(data.draw(st.integers(1, 5))):
        batch = data.draw(st.lists(states_for(registry), min_size=1, max_size=3))
        before = book.rollups()
        changed = book.update(batch)
        states.update({s.site: s for s in batch})
        full = full_rollups(registry, YEAR, states, COUNTS, YES_NO)
        assert book.rollups() == full
        assert changed == {n: r for n, r in full.items() if r != before[n]}
        touched = {n for s in batch for n in registry.site_ancestors(s.site)}
        assert set(changed) <= touched


@settings(max_examples=100, deadline=None)
@given(data=st.data(), registry=registries())
def test_full_rollups_equal_a_naive_count_per_node(data: st.DataObject, registry: Registry) -> None:
    if registry.sites:
        states = {s.site: s for s in data.draw(st.lists(states_for(registry), max_size=12))}
    else:
        states = {}
    full = full_rollups(registry, YEAR, states, COUNTS, YES_NO)
    for node, rollup in full.items():
        expected = naive(registry, YEAR, states, node)
        assert rollup.tally == expected, node
        # each node carries the standings of its own sites, never of those below
        assert rollup.publication_sites == {
            code: states[code].publication
            for code in registry.direct_sites(node, YEAR)
            if code in states and states[code].publication is not None
        }
        assert rollup.completeness_pct == percent(expected.reported, expected.expected)
        assert rollup.timeliness_pct == percent(expected.on_time, expected.expected)
        assert 0 <= rollup.timeliness_pct <= rollup.completeness_pct <= 100
        assert isinstance(rollup, NodeRollup)
        t = rollup.tally
        assert t.expected == t.on_time + t.late + t.rejected + t.returned + t.missing
        assert {k: sum(v[k] for v in t.by_type.values()) for k in TYPE_COUNTS} == {
            "expected": t.expected,
            "reported": t.reported,
            "on_time": t.on_time,
            "late": t.late,
            "missing": t.missing,
        }


@settings(max_examples=100, deadline=None)
@given(data=st.data(), registry=registries())
def test_tallies_form_a_monoid(data: st.DataObject, registry: Registry) -> None:
    if not registry.sites:
        return
    book = RollupBook(registry, YEAR, COUNTS, YES_NO)
    states = {s.site: s for s in data.draw(st.lists(states_for(registry), max_size=12))}
    book.load(states)
    tallies = [r.tally for r in book.rollups().values()]
    a, b, c = (data.draw(st.sampled_from(tallies)) for _ in range(3))
    assert a.combine(b).combine(c) == a.combine(b.combine(c))
    assert Tally.empty().combine(a) == a == a.combine(Tally.empty())

"""A node's roll-up carries its own sites' publication standings (issue 17): the 专栏 of the
node and of every node above it show each site's standing from there."""

from __future__ import annotations

from shared.publication import PublicationStanding
from shared.registry.model import Level, Node, Registry, Site, SiteType, Tree
from shared.rollup import RollupBook, SiteState

YEAR = 2025


def node(code: str, level: Level, parent: str | None) -> Node:
    return Node(code=code, name=f"节点{code}", level=level, tree=Tree.ADMIN, parent=parent)


def site(code: str, admin: str) -> Site:
    return Site.model_validate(
        {
            "code": code,
            "name": f"站点{code}",
            "homepage_url": f"https://www.{code}.gov.cn",
            "type": SiteType.PORTAL,
            "sponsor": "办公室",
            "admin_node": admin,
        }
    )


REGISTRY = Registry(
    [
        node("CN", Level.NATIONAL, None),
        node("110000", Level.PROVINCE, "CN"),
        node("110100", Level.CITY, "110000"),
    ],
    [site("1100000001", "110000"), site("1101000001", "110100")],
)


def declared(url: str, state: str = "not_linked") -> PublicationStanding:
    return PublicationStanding(state=state, declared=True, url=url)


def test_each_node_carries_only_its_own_sites_standings() -> None:
    book = RollupBook(REGISTRY, YEAR, [], [])
    city_site = declared("https://www.1101000001.gov.cn/nb.html")
    book.load({"1101000001": SiteState(site="1101000001", status="missing", publication=city_site)})
    assert book.rollup("110100").publication_sites == {"1101000001": city_site}
    assert book.rollup("110000").publication_sites == {}
    assert book.rollup("CN").publication_sites == {}
    assert book.rollup("CN").tally.publication["not_linked"] == 1


def test_a_new_url_in_the_same_state_changes_the_sites_own_node_only() -> None:
    book = RollupBook(REGISTRY, YEAR, [], [])
    first = declared("https://www.1101000001.gov.cn/a.html")
    book.load({"1101000001": SiteState(site="1101000001", status="missing", publication=first)})
    moved = declared("https://www.1101000001.gov.cn/b.html")
    changed = book.update([SiteState(site="1101000001", status="missing", publication=moved)])
    # the counts are the same: the node above sees no change (the publisher marks its column)
    assert list(changed) == ["110100"]
    assert changed["110100"].publication_sites["1101000001"].url == moved.url
    assert book.update([SiteState(site="1101000001", status="missing", publication=moved)]) == {}
    gone = book.update([SiteState(site="1101000001", status="missing")])
    assert list(gone) == ["110100", "110000", "CN"]  # the count of not_linked fell
    assert gone["110100"].publication_sites == {}

"""A running service's registry switched in place, and what an import moved."""

from __future__ import annotations

from shared.registry import Registry, moved_nodes, moved_sites, registry_digest
from shared.registry.demo import demo_registry

CLOSED, MOVED, REMOVED = "5109030001", "bm07230001", "5109210001"


def imported(before: Registry) -> Registry:
    sites = {code: site for code, site in before.sites.items() if code != REMOVED}
    sites[CLOSED] = sites[CLOSED].model_copy(update={"active_to": 2025, "ended_by": "closed"})
    sites[MOVED] = sites[MOVED].model_copy(update={"admin_node": "CN", "dept_node": "bm07"})
    nodes = dict(before.nodes)
    nodes["510904"] = nodes["510904"].model_copy(update={"name": "安居区（新）"})
    return Registry(nodes.values(), sites.values())


def own_demo_registry() -> Registry:
    """A copy: demo_registry() is cached, and adopt changes a registry in place."""
    demo = demo_registry()
    return Registry(demo.nodes.values(), demo.sites.values())


def test_adopt_switches_every_holder_and_keeps_the_old_registry_apart() -> None:
    registry = own_demo_registry()
    held_by_a_service_part = registry
    assert "bm07-510000" in registry.site_ancestors(MOVED)
    new = imported(demo_registry())
    before = registry.adopt(new)
    assert held_by_a_service_part.site_ancestors(MOVED) == ["CN", "bm07"]
    assert REMOVED not in held_by_a_service_part.sites
    assert MOVED not in held_by_a_service_part.sites_under("510000", 2026)
    assert "bm07-510000" in before.site_ancestors(MOVED) and REMOVED in before.sites
    assert registry_digest(registry) == registry_digest(new) != registry_digest(before)


def test_what_an_import_moved() -> None:
    before = demo_registry()
    after = imported(before)
    assert moved_sites(before, after) == {CLOSED, MOVED, REMOVED}
    # a renamed county moves every node below it too (their ancestry reads differently)
    assert moved_nodes(before, after) == {"510904"} | set(before.descendants("510904"))
    assert moved_sites(before, demo_registry()) == set() == moved_nodes(before, demo_registry())


def test_equal_registries_have_equal_digests() -> None:
    assert registry_digest(demo_registry()) == registry_digest(demo_registry())
    assert registry_digest(demo_registry()) != registry_digest(imported(demo_registry()))


def test_sites_under_answers_the_registry_adopted_after_it_was_asked() -> None:
    """``sites_under`` keeps its answers: a switch in place answers from the new registry, the
    old one as it was, and a caller changing the list it got changes no later answer."""
    registry = own_demo_registry()
    asked = registry.sites_under("510000", 2026)
    assert MOVED in asked and REMOVED in asked
    asked.clear()
    assert registry.sites_under("510000", 2026) == sorted(
        c for n in registry.descendants("510000") for c in registry.direct_sites(n, 2026)
    )
    before = registry.adopt(imported(demo_registry()))
    now = registry.sites_under("510000", 2026)
    assert MOVED not in now and REMOVED not in now
    assert MOVED in before.sites_under("510000", 2026)
    assert CLOSED in registry.sites_under("510000", 2025) and CLOSED not in now

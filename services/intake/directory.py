"""The public registry entries: a site with its nodes, a node with its children and sites."""

from __future__ import annotations

from services.intake.errors import NotFound
from services.intake.schemas import NodeOut, SiteOut
from shared.registry import Registry
from shared.registry.model import LEVEL_LABELS, SITE_TYPE_LABELS


def site_entry(registry: Registry, code: str) -> SiteOut:
    """A registered site and the nodes above it in each tree, or NotFound."""
    if code not in registry.sites:
        raise NotFound(f"网站 {code} 不在登记名录中", f"no site {code}")
    site = registry.sites[code]
    return SiteOut(
        code=site.code,
        name=site.name,
        homepage_url=site.homepage_url,
        type=site.type.value,
        type_label=SITE_TYPE_LABELS[site.type],
        sponsor=site.sponsor,
        active_from=site.active_from,
        active_to=site.active_to,
        nodes=[
            {"code": n, "name": registry.nodes[n].name, "tree": registry.nodes[n].tree.value}
            for n in registry.site_ancestors(code)
        ],
    )


def node_entry(registry: Registry, code: str) -> NodeOut:
    """A node of either tree, its path, children and own sites, or NotFound."""
    if code not in registry.nodes:
        raise NotFound(f"节点 {code} 不存在", f"no node {code}")
    node = registry.nodes[code]
    return NodeOut(
        code=node.code,
        name=node.name,
        level=node.level.value,
        level_label=LEVEL_LABELS[node.level],
        tree=node.tree.value,
        parent=node.parent,
        path=registry.path(code),
        children=[
            {"code": c, "name": registry.nodes[c].name, "level": registry.nodes[c].level.value}
            for c in registry.children(code)
        ],
        sites=[{"code": s, "name": registry.sites[s].name} for s in registry.direct_sites(code)],
    )

"""Registry values: nodes of both trees and dated sites, with the tree walks roll-ups need.

Administrative nodes are keyed by their 6-digit GB/T 2260 division code under the national root
``CN``; department systems are rooted at ``bmNN`` with provincial branches ``bmNN-PP0000``.
Every site sits at one administrative node and optionally at one department-system node.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from enum import StrEnum
from functools import cached_property
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from shared.text import SafePlainStr

NATIONAL = "CN"


class Tree(StrEnum):
    ADMIN = "admin"
    DEPT = "dept"


class Level(StrEnum):
    NATIONAL = "national"
    PROVINCE = "province"
    CITY = "city"
    COUNTY = "county"
    DEPARTMENT = "department"
    BRANCH = "branch"


class SiteType(StrEnum):
    PORTAL = "portal"
    DEPARTMENT = "department"


SITE_TYPE_LABELS = {SiteType.PORTAL: "政府门户网站", SiteType.DEPARTMENT: "部门网站"}
LEVEL_LABELS = {
    Level.NATIONAL: "全国",
    Level.PROVINCE: "省级",
    Level.CITY: "市级",
    Level.COUNTY: "县级",
    Level.DEPARTMENT: "国务院部门",
    Level.BRANCH: "部门省级分支",
}


class RegistryError(ValueError):
    """A registry that cannot be used: every problem found, one per line."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class Node(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    code: SafePlainStr
    name: SafePlainStr
    level: Level
    tree: Tree
    parent: SafePlainStr | None = None


class Site(BaseModel):
    """A government website as registered; active in the years [active_from, active_to]."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    code: SafePlainStr
    name: SafePlainStr
    homepage_url: SafePlainStr
    type: SiteType
    sponsor: SafePlainStr
    admin_node: SafePlainStr
    dept_node: SafePlainStr | None = None
    active_from: int = 2000
    active_to: int | None = None
    #: how the site ended, when active_to is set: "closed" (关停下线) or "integrated" (整合迁移)
    ended_by: str | None = Field(default=None, pattern="^(closed|integrated)$")

    def active_in(self, year: int) -> bool:
        return self.active_from <= year and (self.active_to is None or year <= self.active_to)

    def nodes(self) -> tuple[str, ...]:
        """The nodes this site sits at directly (one per tree)."""
        return (self.admin_node,) if self.dept_node is None else (self.admin_node, self.dept_node)


M = TypeVar("M", bound=BaseModel)


def share_fields_set(model: M, shared: dict[frozenset[str], set[str]]) -> M:
    """Let ``model`` hold the set of its set fields' names that an earlier model with the same
    names holds (``shared``, filled as it goes); the model itself.

    Pydantic gives each instance its own ``__pydantic_fields_set__`` (728 bytes for a site's ten
    names): 13 MiB of a national registry's ~26 MiB, in each of the six processes holding one.
    The models are frozen, so nothing adds to the set in place (a copy gets its own); what
    ``model_fields_set`` and ``exclude_unset`` see is unchanged.
    """
    fields = model.__pydantic_fields_set__
    same = shared.setdefault(frozenset(fields), fields)
    if same is not fields:
        object.__setattr__(model, "__pydantic_fields_set__", same)
    return model


def share_fields_sets(models: Iterable[BaseModel]) -> None:
    shared: dict[frozenset[str], set[str]] = {}
    for model in models:
        share_fields_set(model, shared)


class Registry:
    """A registry: nodes of both trees and all sites, with every year's view. Never changed
    piece by piece: a running service switches to an imported one whole (``adopt``)."""

    def __init__(self, nodes: Iterable[Node], sites: Iterable[Site]) -> None:
        self.nodes: dict[str, Node] = {n.code: n for n in nodes}
        self.sites: dict[str, Site] = {s.code: s for s in sites}
        share_fields_sets((*self.nodes.values(), *self.sites.values()))

    @cached_property
    def _children(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {code: [] for code in self.nodes}
        for node in self.nodes.values():
            if node.parent is not None and node.parent in out:
                out[node.parent].append(node.code)
        for kids in out.values():
            kids.sort()
        return out

    @cached_property
    def _direct_sites(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {code: [] for code in self.nodes}
        for site in self.sites.values():
            for node in site.nodes():
                out.setdefault(node, []).append(site.code)
        for codes in out.values():
            codes.sort()
        return out

    def children(self, node: str) -> list[str]:
        return self._children.get(node, [])

    def direct_sites(self, node: str, year: int | None = None) -> list[str]:
        codes = self._direct_sites.get(node, [])
        if year is None:
            return codes
        return [c for c in codes if self.sites[c].active_in(year)]

    def ancestors(self, node: str) -> list[str]:
        """The node itself, then its parent, up to the root of its tree."""
        chain: list[str] = []
        current: str | None = node
        while current is not None and current in self.nodes:
            chain.append(current)
            current = self.nodes[current].parent
        return chain

    def path(self, node: str) -> list[str]:
        """Root first, the node last: the tokens of the node's roll-up subject."""
        return list(reversed(self.ancestors(node)))

    def site_ancestors(self, site: str) -> list[str]:
        """Every node of both trees whose roll-up includes the site, nearest first per tree."""
        out: list[str] = []
        for node in self.sites[site].nodes():
            out.extend(self.ancestors(node))
        return out

    def descendants(self, node: str) -> Iterator[str]:
        """The node and every node below it, parents before children."""
        stack = [node]
        while stack:
            current = stack.pop()
            yield current
            stack.extend(reversed(self.children(current)))

    @cached_property
    def _sites_under(self) -> dict[tuple[str, int], tuple[str, ...]]:
        """``sites_under``'s answers so far: a node page asks for its node's sites and its
        children's several times, and a walk of the national subtree visits every site."""
        return {}

    def sites_under(self, node: str, year: int) -> list[str]:
        """Codes of the sites active in ``year`` at the node or anywhere below it."""
        known = self._sites_under.get((node, year))
        if known is None:
            known = tuple(
                sorted(c for n in self.descendants(node) for c in self.direct_sites(n, year))
            )
            self._sites_under[(node, year)] = known
        return list(known)

    def roots(self) -> list[str]:
        return sorted(code for code, node in self.nodes.items() if node.parent is None)

    def tree_of(self, node: str) -> Tree:
        return self.nodes[node].tree

    def adopt(self, other: Registry) -> Registry:
        """Become ``other`` in place, at once (one assignment), so that every part of a service
        holding this object uses the imported registry from now on; the registry as it was, as
        a separate object."""
        before = object.__new__(Registry)
        before.__dict__ = self.__dict__
        self.__dict__ = dict(other.__dict__)
        return before


def registry_document(registry: Registry) -> dict[str, Any]:
    """A registry as a registry JSON file holds it: nodes and sites, codes sorted."""
    return {
        "nodes": [registry.nodes[c].model_dump(mode="json") for c in sorted(registry.nodes)],
        "sites": [registry.sites[c].model_dump(mode="json") for c in sorted(registry.sites)],
    }


def registry_digest(registry: Registry) -> str:
    """SHA-256 of the registry's document: equal registries, equal digests.

    The bytes hashed are those of ``json.dumps(registry_document(registry), ensure_ascii=False,
    sort_keys=True)``, encoded one entry at a time: the whole document and its text would take
    ~20 MiB more at national scale, in every service at start and at each import.
    """
    digest = hashlib.sha256()
    for part in _document_parts(registry):
        digest.update(part.encode())
    return digest.hexdigest()


def _document_parts(registry: Registry) -> Iterator[str]:
    """The text of the registry's document with sorted keys ("nodes" < "sites"), in pieces."""
    yield '{"nodes": ['
    yield from _entries(registry.nodes)
    yield '], "sites": ['
    yield from _entries(registry.sites)
    yield "]}"


def _entries(models: dict[str, Node] | dict[str, Site]) -> Iterator[str]:
    for i, code in enumerate(sorted(models)):
        entry = json.dumps(models[code].model_dump(mode="json"), ensure_ascii=False, sort_keys=True)
        yield f", {entry}" if i else entry


def moved_sites(before: Registry, after: Registry) -> set[str]:
    """Sites added, removed, changed (opened, closed, renamed) or placed under other nodes."""

    def placement(registry: Registry, code: str) -> tuple[Any, ...]:
        site = registry.sites.get(code)
        return (None,) if site is None else (site, *registry.site_ancestors(code))

    codes = before.sites.keys() | after.sites.keys()
    return {c for c in codes if placement(before, c) != placement(after, c)}


def moved_nodes(before: Registry, after: Registry) -> set[str]:
    """Nodes added, removed, changed (renamed) or placed under other nodes."""

    def placement(registry: Registry, code: str) -> tuple[Any, ...]:
        return tuple(registry.nodes[n] for n in registry.ancestors(code))

    codes = before.nodes.keys() | after.nodes.keys()
    return {c for c in codes if placement(before, c) != placement(after, c)}

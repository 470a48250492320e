"""What plausibility (work report rule 14) compares with: last year's figures and the peers'.

The aggregator keeps, in the key-value bucket ``contracts.FIGURES_BUCKET``, each site's counted
figures per year (``site.<year>.<code>``) and each peer group's distribution per year
(``peers.<year>.<level>.<system>``: the sites at the same level of the administrative tree in
the same department system, or in none). The validator reads them to judge a new report: its
site's previous year, and its peers without the site itself. Sums are exact integers, so taking
one site out of its group is exact too.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel

from shared.forms.issues import CheckContext
from shared.registry.model import Registry

#: a peer group needs this many other sites before a site is compared with it
MIN_PEERS = 5

Figures = dict[str, int]


def peer_group(registry: Registry, code: str) -> str | None:
    """``county.none``, ``province.bm29``: the site's level and department system."""
    site = registry.sites.get(code)
    if site is None or site.admin_node not in registry.nodes:
        return None
    level = registry.nodes[site.admin_node].level.value
    system = registry.ancestors(site.dept_node)[-1] if site.dept_node else "none"
    return f"{level}.{system}"


def site_key(year: int, code: str) -> str:
    return f"site.{year}.{code}"


def peers_key(year: int, group: str) -> str:
    return f"peers.{year}.{group}"


def figures_of(report: Mapping[str, Any] | None, paths: Iterable[str]) -> Figures:
    """The integer counts of a (possibly nested or flattened) report, by dotted path."""
    out: Figures = {}
    if report is None:
        return out
    for path in paths:
        value: Any = report
        if path in report:
            value = report[path]
        else:
            for part in path.split("."):
                value = value.get(part) if isinstance(value, Mapping) else None
        if isinstance(value, int) and not isinstance(value, bool):
            out[path] = value
    return out


def nested(figures: Mapping[str, int]) -> dict[str, Any]:
    """Flat dotted paths as a nested report (what the rules read)."""
    out: dict[str, Any] = {}
    for path, value in figures.items():
        *groups, last = path.split(".")
        node = out
        for g in groups:
            node = node.setdefault(g, {})
        node[last] = value
    return out


class PeerStats(BaseModel):
    """Per path: how many sites gave it, their sum and the sum of their squares (exact)."""

    n: dict[str, int] = {}
    total: dict[str, int] = {}
    squares: dict[str, int] = {}

    def add(self, figures: Mapping[str, int], sign: int = 1) -> None:
        for path, value in figures.items():
            self.n[path] = self.n.get(path, 0) + sign
            self.total[path] = self.total.get(path, 0) + sign * value
            self.squares[path] = self.squares.get(path, 0) + sign * value * value

    def without(self, figures: Mapping[str, int] | None) -> PeerStats:
        """The group without one site's figures (a site is not its own peer)."""
        out = self.model_copy(deep=True)
        if figures:
            out.add({p: v for p, v in figures.items() if out.n.get(p, 0) > 0}, sign=-1)
        return out

    def distribution(self, min_peers: int = MIN_PEERS) -> dict[str, tuple[float, float]]:
        """Path -> (mean, population standard deviation), where enough sites gave it."""
        out: dict[str, tuple[float, float]] = {}
        for path, n in self.n.items():
            if n < min_peers:
                continue
            total, squares = self.total[path], self.squares[path]
            variance = (n * squares - total * total) / (n * n)
            out[path] = (total / n, math.sqrt(max(variance, 0.0)))
        return out


def plausibility_context(
    previous: Mapping[str, int] | None,
    own: Mapping[str, int] | None,
    peers: PeerStats | None,
    min_peers: int = MIN_PEERS,
) -> CheckContext:
    """The context of rule 14: last year's figures, and the peers without the site itself."""
    if peers is None:
        distribution = {}
    else:  # a site with no counted figures yet is in no group's sums: nothing to take out
        distribution = (peers.without(own) if own else peers).distribution(min_peers)
    return CheckContext(
        previous_year=nested(previous) if previous else None,
        peers=distribution or None,
    )


class PeerBook:
    """Each peer group's members and exact sums, per year; updated one site at a time."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.members: dict[tuple[int, str], dict[str, Figures]] = {}
        self.stats: dict[tuple[int, str], PeerStats] = {}

    def update(self, year: int, code: str, figures: Figures | None) -> str | None:
        """Set a site's counted figures (None: nothing counted); the group, when it changed."""
        group = peer_group(self.registry, code)
        if group is None:
            return None
        key = (year, group)
        members = self.members.setdefault(key, {})
        stats = self.stats.setdefault(key, PeerStats())
        before = members.get(code)
        if before == figures:
            return None
        if before is not None:
            stats.add(before, sign=-1)
            del members[code]
        if figures is not None:
            stats.add(figures)
            members[code] = figures
        return group

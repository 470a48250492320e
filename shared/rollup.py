"""Roll-up arithmetic: one tally per site, combined up both trees, in full or incrementally.

A node's tally is the combination of its children's tallies and its direct sites' tallies, over
the sites active in the year (``Site.active_in``). Each expected site is in exactly one status, so
``expected = on_time + late + rejected + returned + missing`` and ``reported = on_time + late``.
Only reporting sites (on time or late) add their counts and yes answers, read from the counted
report by dotted path (absent or null → 0 / not yes). Everything is integer arithmetic; the two
percentages are derived from the counts at the end.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from functools import cache
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from shared.publication import (
    PUBLICATION_COUNTS,
    OfficePublication,
    PublicationStanding,
    publication_counts,
)
from shared.registry.model import Registry, Site, SiteType

Status = Literal["on_time", "late", "rejected", "returned", "missing"]
REPORTING: frozenset[str] = frozenset({"on_time", "late"})
TYPE_COUNTS = ("expected", "reported", "on_time", "late", "missing")


class SiteState(BaseModel):
    """Where one site's work report for a year stands."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    site: str
    status: Status
    #: the counted (latest accepted) report, for on_time / late
    report: dict[str, Any] | None = None
    #: where the site published it (declared, verified, on time ...): issue 17
    publication: PublicationStanding | None = None


class Tally(BaseModel):
    """The counts of a set of sites: a monoid under ``combine`` with ``Tally()`` as identity."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    expected: int = 0
    reported: int = 0
    on_time: int = 0
    late: int = 0
    missing: int = 0
    rejected: int = 0
    returned: int = 0
    missing_sites: tuple[str, ...] = ()
    #: count path → sum over reporting sites
    sums: dict[str, int] = {}
    #: yes/no path → number of reporting sites that answered yes
    yes_counts: dict[str, int] = {}
    #: site type → {expected, reported, on_time, late, missing}
    by_type: dict[str, dict[str, int]] = {}
    #: publication on the sites: declared, verified, verified_on_time, and each other state
    publication: dict[str, int] = {}

    @classmethod
    def empty(cls) -> Tally:
        return cls()

    def combine(self, other: Tally) -> Tally:
        return combine_tallies((self, other))


class NodeRollup(BaseModel):
    """A node's roll-up for a year, with its place in its tree."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    node: str
    name: str
    level: str
    tree: str
    year: int
    path: list[str]
    tally: Tally
    #: reported / expected × 100, 0 when nothing is expected; never above 100; 2 decimals
    completeness_pct: float
    #: on_time / expected × 100, same rules
    timeliness_pct: float
    #: the publication standing of each of the node's own (direct) sites that has one: a
    #: site's standing travels in its parent nodes' roll-ups (issue 17), never summed upwards
    publication_sites: dict[str, PublicationStanding] = {}
    #: a province's or department's own catalogue entry and 专栏 (issue 17); None for other
    #: nodes and before the office declared either
    office_publication: OfficePublication | None = None


#: the names of every field of a tally and of a roll-up: each one built here sets them all, and
#: they share one set of the names (pydantic would give each its own, ~500 bytes: ~10 MiB over
#: a national book's site tallies and roll-ups)
TALLY_FIELDS = set(Tally.model_fields)
ROLLUP_FIELDS = set(NodeRollup.model_fields)


def _sum_aligned(dicts: Sequence[dict[str, int]]) -> dict[str, int] | None:
    """The key-wise sum of dicts that all hold the same keys in the same order (every tally a
    book combines: each starts from the zero tally or a site's, built from the same paths),
    added column by column in C; None when they are not aligned."""
    first = dicts[0]
    keys = list(first)
    for d in dicts:
        if len(d) != len(keys) or (d is not first and list(d) != keys):
            return None
    columns = zip(*(d.values() for d in dicts), strict=True)
    return dict(zip(keys, map(sum, columns), strict=True))


def combine_tallies(tallies: Iterable[Tally]) -> Tally:
    """All the tallies combined at once (the n-ary ``combine``)."""
    parts = tallies if isinstance(tallies, list | tuple) else list(tallies)
    if len(parts) > 1:
        sums_fast = _sum_aligned([t.sums for t in parts])
        yes_fast = _sum_aligned([t.yes_counts for t in parts])
        publication_fast = _sum_aligned([t.publication for t in parts])
    else:
        sums_fast = yes_fast = publication_fast = None
    expected = reported = on_time = late = missing = rejected = returned = 0
    missing_runs: list[tuple[str, ...]] = []
    sums: dict[str, int] = {}
    yes_counts: dict[str, int] = {}
    by_type: dict[str, dict[str, int]] = {}
    publication: dict[str, int] = {}
    for t in parts:
        expected += t.expected
        reported += t.reported
        on_time += t.on_time
        late += t.late
        missing += t.missing
        rejected += t.rejected
        returned += t.returned
        if t.missing_sites:
            missing_runs.append(t.missing_sites)
        if sums_fast is None:
            for path, value in t.sums.items():
                sums[path] = sums.get(path, 0) + value
        if yes_fast is None:
            for path, value in t.yes_counts.items():
                yes_counts[path] = yes_counts.get(path, 0) + value
        for site_type, counts in t.by_type.items():
            into = by_type.setdefault(site_type, {})
            for key, value in counts.items():
                into[key] = into.get(key, 0) + value
        if publication_fast is None:
            for key, value in t.publication.items():
                publication[key] = publication.get(key, 0) + value
    if len(missing_runs) == 1:
        missing_sites = missing_runs[0]
    else:
        missing_sites = tuple(sorted(code for run in missing_runs for code in run))
    return Tally.model_construct(
        TALLY_FIELDS,
        expected=expected,
        reported=reported,
        on_time=on_time,
        late=late,
        missing=missing,
        rejected=rejected,
        returned=returned,
        missing_sites=missing_sites,
        sums=sums if sums_fast is None else sums_fast,
        yes_counts=yes_counts if yes_fast is None else yes_fast,
        by_type=by_type,
        publication=publication if publication_fast is None else publication_fast,
    )


def zero_tally(count_paths: Sequence[str], yes_no_paths: Sequence[str]) -> Tally:
    """No sites, but every count path, yes/no path and site type present with 0."""
    return Tally.model_construct(
        TALLY_FIELDS,
        **Tally().__dict__
        | {
            "sums": dict.fromkeys(count_paths, 0),
            "yes_counts": dict.fromkeys(yes_no_paths, 0),
            "by_type": {t.value: dict.fromkeys(TYPE_COUNTS, 0) for t in SiteType},
            "publication": dict.fromkeys(PUBLICATION_COUNTS, 0),
        },
    )


def site_tally(
    site: Site,
    state: SiteState | None,
    count_paths: Sequence[str],
    yes_no_paths: Sequence[str],
) -> Tally:
    """One expected site's tally; no state means its report is missing."""
    if state is not None and state.site != site.code:
        raise ValueError(f"the state of {state.site} given for site {site.code}")
    status = "missing" if state is None else state.status
    reporting = status in REPORTING
    report = state.report if reporting and state is not None else None
    if report:
        sums = {p: _count(report, p, site.code) for p in count_paths}
        yes_counts = {p: int(_value(report, p) is True) for p in yes_no_paths}
    else:
        sums = dict.fromkeys(count_paths, 0)
        yes_counts = dict.fromkeys(yes_no_paths, 0)
    flags = {
        "expected": 1,
        "reported": int(reporting),
        "on_time": int(status == "on_time"),
        "late": int(status == "late"),
        "missing": int(status == "missing"),
    }
    return Tally.model_construct(
        TALLY_FIELDS,
        expected=1,
        reported=flags["reported"],
        on_time=flags["on_time"],
        late=flags["late"],
        missing=flags["missing"],
        rejected=int(status == "rejected"),
        returned=int(status == "returned"),
        missing_sites=(site.code,) if status == "missing" else (),
        sums=sums,
        yes_counts=yes_counts,
        by_type={site.type.value: flags},
        publication=publication_counts(
            [state.publication] if state is not None and state.publication is not None else []
        ),
    )


def full_rollups(
    registry: Registry,
    year: int,
    states: Mapping[str, SiteState],
    count_paths: Sequence[str],
    yes_no_paths: Sequence[str],
) -> dict[str, NodeRollup]:
    """Every node's roll-up in both trees, computed from scratch."""
    book = RollupBook(registry, year, count_paths, yes_no_paths)
    book.load(states)
    return book.rollups()


class RollupBook:
    """One year's roll-ups held in memory and kept current one changed site at a time."""

    def __init__(
        self,
        registry: Registry,
        year: int,
        count_paths: Sequence[str],
        yes_no_paths: Sequence[str],
    ) -> None:
        self.registry = registry
        self.year = year
        self.count_paths = tuple(count_paths)
        self.yes_no_paths = tuple(yes_no_paths)
        self._zero = zero_tally(self.count_paths, self.yes_no_paths)
        self._paths = {code: registry.path(code) for code in registry.nodes}
        self._bottom_up = sorted(registry.nodes, key=lambda code: (-len(self._paths[code]), code))
        self._direct = {code: registry.direct_sites(code, year) for code in registry.nodes}
        self._site_tallies: dict[str, Tally] = {}
        self._site_publication: dict[str, PublicationStanding] = {}
        self._rollups: dict[str, NodeRollup] = {}
        self._offices: dict[str, OfficePublication] = {}
        self._loaded = False

    def set_office(self, node: str, office: OfficePublication | None) -> NodeRollup | None:
        """A node's own catalogue and 专栏 (not summed up the tree); its roll-up when that
        changed (before the book is loaded, nothing: loading computes it)."""
        if office is None:
            self._offices.pop(node, None)
        else:
            self._offices[node] = office
        if not self._loaded:
            return None
        rollup = self._compute(node)
        if rollup == self._rollups[node]:
            return None
        self._rollups[node] = rollup
        return rollup

    def load(self, states: Mapping[str, SiteState]) -> None:
        """Compute every node from these states (sites without one are missing)."""
        for code in states:
            self._known(code)
        self._site_tallies = {
            code: site_tally(site, states.get(code), self.count_paths, self.yes_no_paths)
            for code, site in self.registry.sites.items()
            if site.active_in(self.year)
        }
        self._site_publication = {
            code: state.publication
            for code, state in states.items()
            if state.publication is not None and code in self._site_tallies
        }
        self._rollups = {}
        for node in self._bottom_up:
            self._rollups[node] = self._compute(node)
        self._loaded = True

    def update(self, states: Iterable[SiteState]) -> dict[str, NodeRollup]:
        """Apply these sites' new states; the roll-ups that changed, by node."""
        self._ensure_loaded()
        changed_sites: list[str] = []
        for state in states:
            site = self._known(state.site)
            if state.site not in self._site_tallies:
                continue
            tally = site_tally(site, state, self.count_paths, self.yes_no_paths)
            published = self._site_publication.get(state.site)
            if tally != self._site_tallies[state.site] or state.publication != published:
                self._site_tallies[state.site] = tally
                if state.publication is None:
                    self._site_publication.pop(state.site, None)
                else:
                    self._site_publication[state.site] = state.publication
                changed_sites.append(state.site)
        changed: dict[str, NodeRollup] = {}
        for node in self.affected_nodes(changed_sites):
            rollup = self._compute(node)
            if rollup != self._rollups[node]:
                self._rollups[node] = rollup
                changed[node] = rollup
        return changed

    def rollup(self, node: str) -> NodeRollup:
        self._ensure_loaded()
        return self._rollups[node]

    def rollups(self) -> dict[str, NodeRollup]:
        self._ensure_loaded()
        return dict(self._rollups)

    def affected_nodes(self, site_codes: Iterable[str]) -> list[str]:
        """The nodes whose roll-up includes any of these sites this year, deepest first."""
        nodes = {
            node
            for code in site_codes
            if self.registry.sites[code].active_in(self.year)
            for node in self.registry.site_ancestors(code)
        }
        return sorted(nodes, key=lambda code: (-len(self._paths[code]), code))

    def _compute(self, node: str) -> NodeRollup:
        parts = [self._zero]
        parts += [self._rollups[child].tally for child in self.registry.children(node)]
        parts += [self._site_tallies[site] for site in self._direct[node]]
        tally = combine_tallies(parts)
        info = self.registry.nodes[node]
        published = {
            site: self._site_publication[site]
            for site in self._direct[node]
            if site in self._site_publication
        }
        return NodeRollup.model_construct(
            ROLLUP_FIELDS,
            node=node,
            name=info.name,
            level=info.level.value,
            tree=info.tree.value,
            year=self.year,
            path=self._paths[node],
            tally=tally,
            completeness_pct=percent(tally.reported, tally.expected),
            timeliness_pct=percent(tally.on_time, tally.expected),
            publication_sites=published,
            office_publication=self._offices.get(node),
        )

    def _known(self, code: str) -> Site:
        site = self.registry.sites.get(code)
        if site is None:
            raise KeyError(f"site {code!r} is not in the registry")
        return site

    def _ensure_loaded(self) -> None:
        if not self._loaded:
            self.load({})


def percent(part: int, whole: int) -> float:
    """``part`` of ``whole`` in percent, 2 decimals, within [0, 100]; 0 when ``whole`` is 0."""
    if whole <= 0:
        return 0.0
    return round(min(100.0, max(0.0, part * 100 / whole)), 2)


@cache
def _keys(path: str) -> tuple[str, ...]:
    return tuple(path.split("."))


def _value(report: Mapping[str, Any], path: str) -> Any:
    current: Any = report
    for key in _keys(path):
        if not isinstance(current, dict):
            return None
        current = current.get(key)
    return current


def report_value(report: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted path of a nested report (or its roll-up view); None when absent."""
    return _value(report, path)


def _count(report: Mapping[str, Any], path: str, site: str) -> int:
    value = _value(report, path)
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"site {site}: {path} = {value!r} is not a count")
    return value


def rollup_view(report: Mapping[str, Any], paths: Iterable[str]) -> dict[str, Any]:
    """The part of a report a roll-up reads: the values at ``paths`` (its count and yes/no
    paths), nested as in the report. A holder of many counted reports keeps this instead of
    the whole document (a tenth of the memory); tallies of the view equal those of the report.
    """
    view: dict[str, Any] = {}
    for path in paths:
        value = _value(report, path)
        if value is None:
            continue
        *parents, leaf = _keys(path)
        node = view
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    return view

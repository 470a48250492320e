"""What a node page shows, in a cheap form: a page marked dirty again whose inputs have not
changed since its files were written is not rendered again.

A roll-up, column or supervision page is planned from the registry, the statuses of the sites
below its node (and their counted receipts' counts) and the roll-ups of its subtree and of its
sites' nodes (the publication standings come from those). Each roll-up is known by its digest,
each status by its stream sequence, so comparing them costs a few dictionary reads per site,
against milliseconds (seconds for the national column) to plan, render and compare the files.
An office's supervision page shows its own versions, read from the store: it is always rendered,
as is the index.
"""

from __future__ import annotations

from collections.abc import Hashable

from services.publisher.pages.paths import PageRef
from services.publisher.state import PageState

#: the page kinds whose inputs are compared before they are rendered
COMPARED_KINDS = frozenset({"rollup", "column", "supervision"})


def subtree_inputs(state: PageState, node: str, year: int) -> Hashable:
    """The statuses of the sites below ``node`` and the digests of the roll-ups their pages read:
    the same for the node's roll-up, column and supervision pages."""
    registry = state.registry
    nodes: set[str] = set()
    statuses = []
    for below in registry.descendants(node):
        nodes.add(below)
        for code in registry.direct_sites(below, year):
            site = registry.sites[code]
            nodes.add(site.admin_node)
            if site.dept_node is not None:
                nodes.add(site.dept_node)
            latest = state.statuses.get((code, year))
            # the counts of a counted receipt never change, but may arrive after its status
            counted = latest is not None and (latest.counted_receipt or "") in state.counts
            statuses.append((code, latest, counted))
    digests = state.digests
    return (tuple(statuses), frozenset((n, digests.get((year, n))) for n in nodes))


def node_page_inputs(
    state: PageState, ref: PageRef, generation: int, subtree: Hashable | None = None
) -> Hashable | None:
    """What the page ``ref`` is planned from (equal values give equal files); None when it
    cannot tell (the page is then always rendered). ``generation`` counts registry switches;
    ``subtree`` is ``subtree_inputs`` of its node when already worked out."""
    if ref.kind not in COMPARED_KINDS or ref.code not in state.registry.nodes:
        return None
    if ref.kind == "supervision" and (ref.code, ref.year) in state.office_statuses:
        return None  # an office that filed: its versions are in the store
    if subtree is None:
        subtree = subtree_inputs(state, ref.code, ref.year)
    return (generation, ref, subtree)


class WrittenInputs:
    """The inputs of each node page whose files were written, to skip an unchanged re-render.

    A page's inputs count as written only once the write of its files returned (``written``):
    a render whose write failed is rendered again."""

    def __init__(self) -> None:
        #: registry switches seen: inputs compared across a switch never match
        self.generation = 0
        self._written: dict[PageRef, Hashable] = {}
        #: the html path of a page built but not yet written -> (page, inputs)
        self._pending: dict[str, tuple[PageRef, Hashable]] = {}
        #: ``subtree_inputs`` per (node, year), while the state's ``changes`` stay these: a
        #: node's three pages, rendered one after the other once a burst is over, share them
        self._subtrees: dict[tuple[str, int], Hashable] = {}
        self._subtrees_at = -1

    def inputs(self, state: PageState, ref: PageRef) -> Hashable | None:
        if ref.kind not in COMPARED_KINDS or ref.code not in state.registry.nodes:
            return None
        if self._subtrees_at != state.changes:
            self._subtrees.clear()
            self._subtrees_at = state.changes
        key = (ref.code, ref.year)
        subtree = self._subtrees.get(key)
        if subtree is None:
            subtree = self._subtrees[key] = subtree_inputs(state, ref.code, ref.year)
        return node_page_inputs(state, ref, self.generation, subtree)

    def unchanged(self, ref: PageRef, inputs: Hashable | None) -> bool:
        return inputs is not None and self._written.get(ref) == inputs

    def built(self, ref: PageRef, inputs: Hashable | None, files: dict[str, bytes] | None) -> None:
        if inputs is not None and files:
            self._pending[ref.paths.html] = (ref, inputs)

    def written(self, files: dict[str, bytes]) -> None:
        for path in files:
            item = self._pending.pop(path, None)
            if item is not None:
                self._written[item[0]] = item[1]

    def forget(self) -> None:
        """The registry switched: every page is rendered again when next marked."""
        self.generation += 1
        self._written.clear()
        self._pending.clear()
        self._subtrees.clear()

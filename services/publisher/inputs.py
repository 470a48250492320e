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


def node_page_inputs(state: PageState, ref: PageRef, generation: int) -> Hashable | None:
    """What the page ``ref`` is planned from (equal values give equal files); None when it
    cannot tell (the page is then always rendered). ``generation`` counts registry switches."""
    registry = state.registry
    if ref.kind not in COMPARED_KINDS or ref.code not in registry.nodes:
        return None
    year, node = ref.year, ref.code
    if ref.kind == "supervision" and (node, year) in state.office_statuses:
        return None  # an office that filed: its versions are in the store
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
    return (
        generation,
        ref,
        tuple(statuses),
        frozenset((n, digests.get((year, n))) for n in nodes),
    )


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

    def inputs(self, state: PageState, ref: PageRef) -> Hashable | None:
        return node_page_inputs(state, ref, self.generation)

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

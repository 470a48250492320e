"""The plausibility figures the aggregator keeps current for the validator (work report rule 14)."""

from __future__ import annotations

import json
from collections.abc import Iterable

from services.aggregator.books import Books, FilingKey
from shared.forms import WORK_REPORT
from shared.plausibility import Figures, PeerBook, peers_key, site_key
from shared.rollup import REPORTING, report_value

#: (key, JSON bytes) to put into the figures bucket
FigureWrite = tuple[str, bytes]


def _encode(value: object) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def _figures(view: dict[str, object], paths: Iterable[str]) -> Figures:
    """The integer counts of a counted report's roll-up view (nested dicts), by dotted path:
    ``figures_of`` for the one shape the books hold, without its checks for other shapes."""
    out: Figures = {}
    for path in paths:
        value = report_value(view, path)
        if type(value) is int:
            out[path] = value
    return out


class FiguresBook:
    """Each site's counted figures and each peer group's sums, per year, as key-value writes."""

    def __init__(self, books: Books) -> None:
        self.books = books
        self.peers = PeerBook(books.registry)
        self.years: set[int] = set()

    def _build(self, year: int) -> list[FilingKey]:
        """A year not seen yet: every filing of it (the peers need the whole group)."""
        self.years.add(year)
        return [
            key
            for key in self.books.filings
            if key[2] == year and self.books.in_tree(key[0], key[1])
        ]

    def writes(self, keys: Iterable[FilingKey]) -> list[FigureWrite]:
        """The puts that bring the bucket up to date after these filings were re-stated."""
        wanted: dict[FilingKey, None] = {}
        for key in keys:
            code, form, year = key
            if form != WORK_REPORT or not self.books.in_tree(code, form):
                continue
            if year not in self.years:
                wanted.update(dict.fromkeys(self._build(year)))
            wanted[key] = None
        out: list[FigureWrite] = []
        groups: set[tuple[int, str]] = set()
        for code, _form, year in wanted:
            state = self.books.site_state((code, WORK_REPORT, year))
            # as the roll-ups count it: a returned or rejected filing gives no figures
            counted = state.report if state.status in REPORTING else None
            figures = _figures(counted, self.books.count_paths) if counted else None
            group = self.peers.update(year, code, figures)
            if group is not None:
                groups.add((year, group))
                out.append((site_key(year, code), _encode(figures)))
        for year, group in sorted(groups):
            stats = self.peers.stats[(year, group)]
            out.append((peers_key(year, group), _encode(stats.model_dump())))
        return out

"""Paging a special column (专栏): its sites grouped by child node, in numbered pages.

A national or province column lists thousands of sites; one HTML page of them all is several
megabytes. The rows are grouped (the node's own sites first, then each child node's, in the
registry's order) and packed into pages of at most ``MAX_ROWS`` rows: a group that fits on the
current page joins it, a group too big for one page is split across several. The plan depends
on the registry alone (which sites, in which groups), never on a site's status, so a site whose
status changes stays on its page and only that page's bytes change.

The first page keeps the column's URL (``index.html``); the others are ``page-2.html`` … in the
same folder. A small index (``column-index.json``) lists every page with its rows' filter keys,
one character per key, for the script to filter and count across the whole column.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

#: the most rows one page of a column lists
MAX_ROWS = 500
FIRST_PAGE = "index.html"
INDEX_NAME = "column-index.json"
#: one character per filter value in the index (a key has at most this many values)
KEY_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


@dataclass(frozen=True)
class RowGroup:
    """Rows listed together: the column node's own sites, or one child node's."""

    key: str
    label: str
    codes: tuple[str, ...]


@dataclass(frozen=True)
class PagePart:
    """The rows of one group on one page; ``continued`` when the group began on a page before."""

    key: str
    label: str
    rows: int
    continued: bool


@dataclass(frozen=True)
class PageSlice:
    """One page of a column: rows ``start``..``stop`` of the column's ordered list."""

    number: int
    start: int
    stop: int
    parts: tuple[PagePart, ...]

    @property
    def name(self) -> str:
        return page_name(self.number)

    @property
    def label(self) -> str:
        return "、".join(p.label + ("（续）" if p.continued else "") for p in self.parts)


def page_name(number: int) -> str:
    if number < 1:
        raise ValueError(f"not a page number: {number}")
    return FIRST_PAGE if number == 1 else f"page-{number}.html"


def plan_pages(groups: Sequence[RowGroup], max_rows: int = MAX_ROWS) -> tuple[PageSlice, ...]:
    """The pages of these groups, in order: each at most ``max_rows`` rows, every row on exactly
    one page. A group joins the current page when it fits, else starts a new one; a group
    longer than a page is split. No rows at all still give one (empty) page."""
    if max_rows < 1:
        raise ValueError(f"a page holds at least one row, not {max_rows}")
    pages: list[PageSlice] = []
    parts: list[PagePart] = []
    start = position = 0

    def close() -> None:
        nonlocal parts, start
        pages.append(PageSlice(len(pages) + 1, start, position, tuple(parts)))
        parts, start = [], position

    for group in groups:
        remaining = len(group.codes)
        if not remaining:
            continue
        if parts and (position - start) + remaining > max_rows:
            close()
        continued = False
        while remaining:
            take = min(remaining, max_rows - (position - start))
            parts.append(PagePart(group.key, group.label, take, continued))
            position += take
            remaining -= take
            continued = True
            if remaining:
                close()
    if parts or not pages:
        close()
    return tuple(pages)


def ordered_codes(groups: Sequence[RowGroup]) -> list[str]:
    """Every row's code in page order."""
    return [code for group in groups for code in group.codes]


def key_values(values: Sequence[str]) -> dict[str, str]:
    """Each filter value → its one-character code in the index."""
    if len(values) > len(KEY_ALPHABET):
        raise ValueError(f"{len(values)} values: the index codes at most {len(KEY_ALPHABET)}")
    return {value: KEY_ALPHABET[i] for i, value in enumerate(values)}


def index_doc(
    pages: Sequence[PageSlice],
    keys: Mapping[str, Sequence[str]],
    row_keys: Sequence[Mapping[str, str]],
) -> dict[str, Any]:
    """The script's index of a paged column: the filter keys with their values, and per page its
    file, label, first row and its rows' keys, one character per key and row (``rows`` of a
    page has ``len(keys) × count`` characters, keys in the order of ``keys``)."""
    codes = {key: key_values(values) for key, values in keys.items()}
    out_pages = []
    for page in pages:
        text = "".join(
            codes[key][row[key]] for row in row_keys[page.start : page.stop] for key in keys
        )
        out_pages.append(
            {
                "href": page.name,
                "number": page.number,
                "label": page.label,
                "start": page.start,
                "count": page.stop - page.start,
                "rows": text,
            }
        )
    return {
        "keys": list(keys),
        "values": {key: list(values) for key, values in keys.items()},
        "total": len(row_keys),
        "pages": out_pages,
    }

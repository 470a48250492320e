"""The publication part of a node's pages (issue 17): how many sites below it declared where
they published, were verified (on time), and how many checks ended in each other state."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.publication import COUNT_LABELS, PUBLICATION_COUNTS
from shared.rollup import NodeRollup, percent


@dataclass(frozen=True)
class PublicationLine:
    key: str
    label: str
    count: int
    #: of the sites expected to report
    share_text: str


def publication_lines(rollup: NodeRollup | None) -> tuple[PublicationLine, ...]:
    """One line per count, in the documented order; none when the roll-up has no counts yet."""
    if rollup is None or not rollup.tally.publication:
        return ()
    expected = rollup.tally.expected
    return tuple(
        PublicationLine(
            key,
            COUNT_LABELS[key],
            count := int(rollup.tally.publication.get(key, 0)),
            f"{percent(count, expected):.2f}%",
        )
        for key in PUBLICATION_COUNTS
    )


def publication_json(lines: tuple[PublicationLine, ...]) -> dict[str, Any]:
    return {line.key: line.count for line in lines}


def publication_csv_rows(lines: tuple[PublicationLine, ...]) -> list[tuple[str, ...]]:
    """Rows for a roll-up's CSV (类别, 栏目, 项目, 单位, 数值, 字段路径)."""
    return [
        ("网站公开情况", "", line.label, "个", str(line.count), f"publication.{line.key}")
        for line in lines
    ]

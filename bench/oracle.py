"""The roll-up check: every node's figures against an independent SQL computation.

Independent of ``shared.rollup``: the registry's placements (each site with its ancestors by depth
in each tree, read from the nodes' parent links) go into one table, the accepted versions the
benchmark filed (numbers and the server's acceptance time) into another, and SQL does the rest —
the counted version is the latest accepted one, a site is on time when its first accepted version
reached the server by the deadline, and every node is a group. PostgreSQL computes all levels in
one ``GROUP BY ROLLUP``; SQLite, which has none, one ``GROUP BY`` per depth.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.registry import Registry

FIGURES = ("expected", "reported", "on_time", "late")


@dataclass(frozen=True)
class AcceptedVersion:
    code: str
    version: int
    received_at: datetime
    report: dict[str, Any]


def ancestry(registry: Registry, node: str) -> list[str]:
    """Root first, by the nodes' parent links."""
    chain = []
    current: str | None = node
    while current is not None:
        chain.append(current)
        current = registry.nodes[current].parent
    return chain[::-1]


def placements(registry: Registry, year: int) -> tuple[int, list[tuple[Any, ...]]]:
    """(columns, rows of (code, tree, d0, d1, …)) for every site active in ``year``, per tree."""
    rows: list[list[Any]] = []
    for site in registry.sites.values():
        if not site.active_in(year):
            continue
        for node in site.nodes():
            chain = ancestry(registry, node)
            rows.append([site.code, registry.nodes[node].tree.value, *chain])
    depth = max((len(r) - 2 for r in rows), default=1)
    return depth, [tuple(r + [None] * (depth + 2 - len(r))) for r in rows]


def value_at(report: Mapping[str, Any], path: str) -> Any:
    current: Any = report
    for key in path.split("."):
        current = current.get(key) if isinstance(current, dict) else None
    return current


def accepted_rows(
    versions: Sequence[AcceptedVersion], counts: Sequence[str], yes_no: Sequence[str]
) -> list[tuple[Any, ...]]:
    out = []
    for v in versions:
        numbers = [int(value_at(v.report, p) or 0) for p in counts]
        yeses = [int(value_at(v.report, p) is True) for p in yes_no]
        out.append((v.code, v.version, v.received_at.timestamp(), *numbers, *yeses))
    return out


def _aggregates(n_counts: int, n_yes: int) -> str:
    sums = [f"COALESCE(SUM(c.c{i}), 0)" for i in range(n_counts)]
    yeses = [f"COALESCE(SUM(c.y{i}), 0)" for i in range(n_yes)]
    return ", ".join(
        [
            "COUNT(*)",
            "COALESCE(SUM(c.on_time), 0) + COALESCE(SUM(c.late), 0)",
            "COALESCE(SUM(c.on_time), 0)",
            "COALESCE(SUM(c.late), 0)",
            *sums,
            *yeses,
        ]
    )


def _counted_sql(n_counts: int, n_yes: int, deadline: float) -> str:
    """Per reporting site: the latest accepted version's numbers; on time by its first one."""
    columns = ", ".join([*(f"a.c{i}" for i in range(n_counts)), *(f"a.y{i}" for i in range(n_yes))])
    return f"""
        SELECT a.code,
               CASE WHEN f.first_at <= {deadline} THEN 1 ELSE 0 END AS on_time,
               CASE WHEN f.first_at <= {deadline} THEN 0 ELSE 1 END AS late,
               {columns}
        FROM accepted a
        JOIN (SELECT code, MAX(version) AS version, FLOOR(MIN(received_at)) AS first_at
              FROM accepted GROUP BY code) f
          ON f.code = a.code AND f.version = a.version
    """


def _schema(depth: int, n_counts: int, n_yes: int, big: str, real: str) -> list[str]:
    ancestors = ", ".join(f"d{i} TEXT" for i in range(depth))
    numbers = ", ".join(
        [*(f"c{i} {big}" for i in range(n_counts)), *(f"y{i} INT" for i in range(n_yes))]
    )
    return [
        f"CREATE TEMP TABLE placements (code TEXT, tree TEXT, {ancestors})",
        f"CREATE TEMP TABLE accepted (code TEXT, version INT, received_at {real}, {numbers})",
    ]


def _figures(row: Sequence[Any], counts: Sequence[str], yes_no: Sequence[str]) -> dict[str, Any]:
    values = [int(v) for v in row]
    head = dict(zip(FIGURES, values[:4], strict=True))
    sums = dict(zip(counts, values[4 : 4 + len(counts)], strict=True))
    yeses = dict(zip(yes_no, values[4 + len(counts) :], strict=True))
    return {**head, "sums": sums, "yes_counts": yeses}


def sqlite_oracle(
    registry: Registry,
    year: int,
    versions: Sequence[AcceptedVersion],
    counts: Sequence[str],
    yes_no: Sequence[str],
    deadline: datetime,
) -> dict[str, dict[str, Any]]:
    """Every node's figures, one GROUP BY per depth (SQLite has no ROLLUP)."""
    depth, placed = placements(registry, year)
    db = sqlite3.connect(":memory:")
    try:
        for statement in _schema(depth, len(counts), len(yes_no), "INTEGER", "REAL"):
            db.execute(statement)
        marks = ", ".join("?" * (depth + 2))
        db.executemany(f"INSERT INTO placements VALUES ({marks})", placed)
        rows = accepted_rows(versions, counts, yes_no)
        marks = ", ".join("?" * (3 + len(counts) + len(yes_no)))
        db.executemany(f"INSERT INTO accepted VALUES ({marks})", rows)
        counted = _counted_sql(len(counts), len(yes_no), math.floor(deadline.timestamp()))
        aggregates = _aggregates(len(counts), len(yes_no))
        out: dict[str, dict[str, Any]] = {}
        for level in range(depth):
            query = f"""
                SELECT p.d{level}, {aggregates}
                FROM placements p LEFT JOIN ({counted}) c ON c.code = p.code
                WHERE p.d{level} IS NOT NULL
                GROUP BY p.tree, p.d{level}
            """
            for node, *figures in db.execute(query):
                out[node] = _figures(figures, counts, yes_no)
        return out
    finally:
        db.close()


async def postgres_oracle(
    url: str,
    registry: Registry,
    year: int,
    versions: Sequence[AcceptedVersion],
    counts: Sequence[str],
    yes_no: Sequence[str],
    deadline: datetime,
) -> dict[str, dict[str, Any]]:
    """Every node's figures in one ``GROUP BY tree, ROLLUP(d0, d1, …)`` over temporary tables."""
    import asyncpg

    depth, placed = placements(registry, year)
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"), timeout=5)
    try:
        async with conn.transaction():
            for statement in _schema(depth, len(counts), len(yes_no), "BIGINT", "DOUBLE PRECISION"):
                await conn.execute(statement + " ON COMMIT DROP")
            await conn.copy_records_to_table("placements", records=placed)
            rows = accepted_rows(versions, counts, yes_no)
            await conn.copy_records_to_table("accepted", records=rows)
            levels = ", ".join(f"p.d{i}" for i in range(depth))
            counted = _counted_sql(len(counts), len(yes_no), math.floor(deadline.timestamp()))
            query = f"""
                SELECT GROUPING({levels}) AS g, {levels}, {_aggregates(len(counts), len(yes_no))}
                FROM placements p LEFT JOIN ({counted}) c ON c.code = p.code
                GROUP BY p.tree, ROLLUP({levels})
            """
            out: dict[str, dict[str, Any]] = {}
            for record in await conn.fetch(query):
                values = list(record.values())
                grouped, ancestors, figures = values[0], values[1 : depth + 1], values[depth + 1 :]
                # GROUPING's bits are the columns rolled up, d0 highest: 0 = every column kept
                kept = depth - bin(grouped).count("1")
                if kept == 0 or ancestors[kept - 1] is None:
                    continue  # the tree's grand total, or sites that sit above this depth
                out[ancestors[kept - 1]] = _figures(figures, counts, yes_no)
            return out
    finally:
        await conn.close()


def compare(
    registry: Registry, system: Mapping[str, Mapping[str, Any]], oracle: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """Every difference between the system's roll-ups (tallies by node) and the oracle's figures;
    a node the oracle has no group for has no active site below it (all zero)."""
    differences: list[dict[str, Any]] = []
    for node in sorted(registry.nodes):
        tally = system.get(node)
        expected: dict[str, Any] | None = oracle.get(node)
        if tally is None:
            differences.append({"node": node, "field": "*", "system": None, "oracle": expected})
            continue
        if expected is None:
            expected = dict.fromkeys(FIGURES, 0) | {
                "sums": dict.fromkeys(tally.get("sums", {}), 0),
                "yes_counts": dict.fromkeys(tally.get("yes_counts", {}), 0),
            }
        for name in FIGURES:
            if int(tally[name]) != expected[name]:
                differences.append(
                    {"node": node, "field": name, "system": tally[name], "oracle": expected[name]}
                )
        for group in ("sums", "yes_counts"):
            figures: dict[str, int] = expected[group]
            for path, value in figures.items():
                have = tally.get(group, {}).get(path)
                if have != value:
                    differences.append(
                        {"node": node, "field": f"{group}.{path}", "system": have, "oracle": value}
                    )
    return differences

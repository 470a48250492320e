"""Plausibility (work report rule 14): exact peer sums, the context, and the warnings it gives."""

from __future__ import annotations

import random
import statistics
from collections.abc import Sequence
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest

from services.validator.handlers import Validator
from shared.contracts import ReportSubmitted
from shared.forms import check_report
from shared.plausibility import (
    MIN_PEERS,
    PeerBook,
    PeerStats,
    figures_of,
    nested,
    peer_group,
    plausibility_context,
)
from shared.registry.demo import demo_registry
from shared.runtime.messaging import Envelope
from tests.support.reports import work_report_for

YEAR = 2025
UV = "traffic.unique_visitors"


def test_peer_groups_are_a_level_and_a_department_system() -> None:
    registry = demo_registry()
    assert peer_group(registry, "5109030001") == "county.none"
    assert peer_group(registry, "5109000001") == "city.none"
    assert peer_group(registry, "bm29230001") == "province.bm29"
    assert peer_group(registry, "bm29000002") == "national.bm29"
    assert peer_group(registry, "nope") is None


def test_peer_sums_are_exact_and_a_site_is_taken_out_of_its_own_group() -> None:
    rng = random.Random(7)
    values = [rng.randrange(10**9, 10**12) for _ in range(40)]
    stats = PeerStats()
    for v in values:
        stats.add({UV: v})
    mean, stdev = stats.distribution()[UV]
    assert mean == pytest.approx(statistics.fmean(values))
    assert stdev == pytest.approx(statistics.pstdev(values))
    alone = stats.without({UV: values[0]}).distribution()[UV]
    assert alone == pytest.approx((statistics.fmean(values[1:]), statistics.pstdev(values[1:])))
    assert stats.distribution()[UV] == (mean, stdev)  # without() copies


def test_a_small_group_gives_no_distribution() -> None:
    stats = PeerStats()
    for v in range(MIN_PEERS):
        stats.add({UV: v})
    assert UV in stats.distribution()
    assert plausibility_context(None, {UV: 0}, stats).peers is None


def test_the_peer_book_replaces_and_removes_a_sites_figures() -> None:
    book = PeerBook(demo_registry())
    assert book.update(YEAR, "5109030001", {UV: 10}) == "county.none"
    assert book.update(YEAR, "5109030001", {UV: 10}) is None  # unchanged
    book.update(YEAR, "5109040001", {UV: 30})
    book.update(YEAR, "5109030001", {UV: 20})
    assert book.stats[(YEAR, "county.none")].total[UV] == 50
    book.update(YEAR, "5109030001", None)
    stats = book.stats[(YEAR, "county.none")]
    assert (stats.n[UV], stats.total[UV], stats.squares[UV]) == (1, 30, 900)


def _report(code: str, scale: int = 1) -> dict[str, object]:
    return work_report_for(demo_registry().sites[code], YEAR, scale)


def test_a_jump_from_last_year_is_warned_and_accepted() -> None:
    registry = demo_registry()
    report = _report("5109030001", scale=50)
    last_year = figures_of(_report("5109030001"), [UV, "traffic.page_views"])
    context = plausibility_context(last_year, None, None)
    result = check_report(report, registry, context)
    found = [i for i in result.issues if i.rule_id == "wr.plausibility_year_over_year"]
    assert result.accepted and found and all(i.severity == "warning" for i in found)
    assert {p for i in found for p in i.paths} == {UV, "traffic.page_views"}
    assert check_report(report, registry).issues == []


def test_a_peer_outlier_is_warned_and_accepted() -> None:
    registry = demo_registry()
    stats = PeerStats()
    for n in range(1, 9):
        stats.add({UV: 1000 * n})
    outlier = _report("5109030001")
    outlier["traffic"] = {"unique_visitors": 900_000, "page_views": 2_000_000}  # type: ignore[index]
    result = check_report(outlier, registry, plausibility_context(None, None, stats))
    found = [i for i in result.issues if i.rule_id == "wr.plausibility_peers"]
    assert result.accepted and [i.paths for i in found] == [[UV]]
    assert "偏离同类网站均值" in found[0].message_zh


def test_nested_figures_read_back_flat() -> None:
    flat = {UV: 3, "services.cases.total": 4}
    assert figures_of(nested(flat), flat) == flat


async def test_the_validator_judges_with_the_figures_it_reads_and_without_when_it_cannot() -> None:
    registry = demo_registry()
    code = "5109030001"
    submitted = ReportSubmitted(
        receipt_id="r1",
        content_hash="h",
        form="work-report",
        form_version="2018",
        year=YEAR,
        code=code,
        version=1,
        received_at=datetime(2026, 1, 10, tzinfo=UTC),
        submitted_by=code,
        report=_report(code, scale=50),
    )
    last_year = figures_of(_report(code), [UV])
    asked: list[list[str]] = []

    async def read(keys: Sequence[str]) -> dict[str, Any]:
        asked.append(list(keys))
        return {f"site.{YEAR - 1}.{code}": last_year}

    async def broken(keys: Sequence[str]) -> dict[str, Any]:
        raise ConnectionError("no NATS")

    published: list[Any] = []

    async def publish(items: Sequence[Any]) -> None:
        published.extend(v for _s, v, _id in items)

    envelope = Envelope(SimpleNamespace(subject="x"), submitted)  # type: ignore[arg-type]
    await Validator(registry, publish, read).on_submitted([envelope])
    assert asked == [
        [f"peers.{YEAR}.county.none", f"site.{YEAR - 1}.{code}", f"site.{YEAR}.{code}"]
    ]
    assert [i.rule_id for i in published[0].issues] == ["wr.plausibility_year_over_year"]
    assert published[0].outcome == "accepted"
    await Validator(registry, publish, broken).on_submitted([envelope])
    assert published[1].outcome == "accepted" and published[1].issues == []

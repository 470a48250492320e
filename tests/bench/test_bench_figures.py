"""The benchmark's derived figures without a system: the floor anchor, idle CPU, flatness."""

from __future__ import annotations

import json
from typing import Any

import pytest
import typer

from bench.cli import parse_sizes
from bench.compare import EACH, TOTAL, comparison, comparison_table, flatness
from bench.figures import idle_figures
from bench.floor import STAGES, floor_anchor, floor_sample, pipeline_multiple
from bench.reports import work_report
from shared.registry.national import national_registry

YEAR = 2026


def test_the_floor_times_each_stage_of_a_reports_unavoidable_work() -> None:
    registry = national_registry(300, seed=5)
    bodies = {
        code: json.dumps(work_report(site, YEAR, seed=5), ensure_ascii=False).encode()
        for code, site in registry.sites.items()
        if site.active_in(YEAR)
    }
    floor = floor_anchor(registry, YEAR, bodies, size=20)
    assert floor["reports"] == 20
    assert set(floor["by_stage_ms"]) == set(STAGES)
    assert all(ms > 0 for ms in floor["by_stage_ms"].values()), floor
    assert floor["ms_per_report"] == pytest.approx(sum(floor["by_stage_ms"].values()), abs=0.01)
    assert floor["wall_ms_per_report"] > 0
    assert floor["files_per_report"] >= 1  # the site page's files were written


def test_the_floor_sample_is_spread_over_every_site() -> None:
    codes = [f"s{i:04d}" for i in range(1000)]
    sample = floor_sample(codes, 10)
    assert sample == [f"s{i:04d}" for i in range(0, 1000, 100)]
    assert floor_sample(codes[:5], 10) == codes[:5]


def test_the_pipelines_multiple_counts_the_system_not_the_benchmark() -> None:
    per_report = {"intake": 3.0, "publisher": 5.0, "bench (this process)": 2.0, "all": 10.0}
    assert pipeline_multiple(per_report, 2.0) == {"system_ms_per_report": 8.0, "multiple": 4.0}
    assert pipeline_multiple({}, 2.0) == {} and pipeline_multiple(per_report, 0) == {}


def test_idle_cores_are_cpu_seconds_over_the_window_per_process() -> None:
    before = {"intake": 10.0, "nats-server": 4.0, "bench (this process)": 1.0, "gone": None}
    after = {"intake": 10.6, "nats-server": 4.3, "bench (this process)": 9.0, "gone": 2.0}
    idle = idle_figures(before, after, 60.0)
    assert idle["cores_by_process"] == {"intake": 0.01, "nats-server": 0.005}
    assert idle["cores_all"] == pytest.approx(0.015) and idle["seconds"] == 60.0


def run(sites: int, **figures: Any) -> dict[str, Any]:
    return {"sites": sites, **figures}


def test_flatness_is_per_site_for_totals_and_as_is_for_per_report_figures() -> None:
    assert flatness([10.0, 100.0, 400.0], [100, 1000, 2000], TOTAL) == [1.0, 1.0, 2.0]
    assert flatness([2.0, 2.0, 3.0], [100, 1000, 2000], EACH) == [1.0, 1.0, 1.5]
    assert flatness([0.0, 1.0], [1, 2], EACH) == [None, None]
    assert flatness([1.0, None], [1, 2], TOTAL) == [1.0, None]


def test_a_comparison_lists_every_figure_at_each_size_with_its_flatness() -> None:
    small = run(
        100,
        end_to_end={"seconds": 10.0, "rate_per_s": 10.0},
        cpu_ms_per_report={"intake": 4.0, "publisher": 8.0},
        idle={"cores_all": 0.1, "cores_by_process": {"intake": 0.05}},
    )
    large = run(
        1000,
        end_to_end={"seconds": 300.0, "rate_per_s": 3.3},
        cpu_ms_per_report={"intake": 4.0, "publisher": 16.0},
        idle={"cores_all": 0.1, "cores_by_process": {"intake": 0.05}},
    )
    summary = comparison([large, small])
    assert summary["sites"] == [100, 1000]
    figures = {f["figure"]: f for f in summary["figures"]}
    assert figures["end to end (s)"]["values"] == [10.0, 300.0]
    assert figures["end to end (s)"]["flatness"] == [1.0, 3.0]  # grows faster than the sites
    assert figures["CPU ms per report: intake"]["flatness"] == [1.0, 1.0]
    assert figures["CPU ms per report: publisher"]["flatness"] == [1.0, 2.0]
    assert figures["idle cores: intake"]["flatness"] == [1.0, 1.0]
    assert "page files" not in figures  # measured in neither run
    text = comparison_table(summary)
    assert "100 sites" in text and "1000 sites" in text
    assert any(line.startswith("end to end (s)") and "(×3)" in line for line in text.splitlines())
    many = comparison([run(1000, pages={"files": 4001.0}), run(50000, pages={"files": 1234567.0})])
    assert "1234567 (×6.17)" in comparison_table(many)  # no exponent


def test_compare_sizes_are_read_smallest_first() -> None:
    assert parse_sizes("14474,1000,50_000") == [1000, 14474, 50000]
    with pytest.raises(typer.BadParameter):
        parse_sizes("1000,many")

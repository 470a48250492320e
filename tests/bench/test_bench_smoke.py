"""A small run of `nianbao bench` on the whole system: the report's shape, the roll-up check."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shared.filings import current_reporting_year
from shared.registry.demo import demo_registry
from shared.runtime.registry_files import dump_registry
from tests.support.databases import postgres_url
from tests.support.waiting import wait_until
from tools.cli import app

pytestmark = pytest.mark.e2e


def test_a_small_benchmark_run_reports_every_figure_and_the_rollups_agree_with_sql(
    tmp_path: Path,
) -> None:
    """The demo registry (~345 sites, 228 nodes) rather than a national one, whose 3,536 nodes
    take the publisher a minute to render at start; ~45 s on a quiet machine (a 2 s idle window)."""
    registry = demo_registry()
    year = current_reporting_year(datetime.now(UTC))
    sites = sum(1 for site in registry.sites.values() if site.active_in(year))
    dump_registry(registry, tmp_path / "registry.json")
    out = tmp_path / "bench.json"
    args = ["bench", "--registry", str(tmp_path / "registry.json"), "--amendments", "3"]
    args += ["--json", str(out), "--idle-seconds", "2"]
    args += ["--data-dir", str(tmp_path / "system"), "--oracle-url", postgres_url() or ""]
    run = CliRunner().invoke(app, args)
    assert run.exit_code == 0, run.output
    assert "roll-up check vs SQL oracle" in run.output

    result = json.loads(out.read_text(encoding="utf-8"))
    assert result["sites"] == sites and result["nodes"] == len(registry.nodes)
    assert result["intake"]["statuses"] == {"202": sites}
    assert set(result["intake"]["latency_ms"]) == {"p50", "p95", "p99", "max"}
    assert result["end_to_end"]["published"] == sites and result["end_to_end"]["rate_per_s"] > 0
    assert result["rollups"]["verdicts"] == {"accepted": sites, "rejected": 0}
    assert result["rollups"]["national_complete_seconds"] is not None
    amendments = result["amendments"]
    assert amendments["count"] == 3 and amendments["timeouts"] == 0
    assert amendments["to_national_rollup_ms"]["p99"] is not None
    assert amendments["to_site_page_ms"]["p99"] is not None
    machine = result["machine"]
    assert machine["check_ms_before"] > 0 and machine["check_ms_after"] > 0
    per_report = result["cpu_ms_per_report"]
    assert per_report["all"] > per_report["intake"] > 0
    assert per_report["all"] * sites / 1000 == pytest.approx(
        result["cpu_seconds_burst"]["all"], rel=0.02
    )
    assert "machine: cores" in run.output and "CPU ms per report" in run.output
    memory = result["memory_mb"]
    assert set(memory["peak_by_process"]) >= {"intake", "validator", "aggregator", "publisher"}
    peaks = memory["peak_by_process"]
    every_service = [v for k, v in peaks.items() if k != "nats-server" and v is not None]
    assert memory["services_total"] == pytest.approx(sum(every_service), abs=0.5)
    assert result["pages"]["files"] > sites and result["pages"]["megabytes"] > 0
    anchors = result["anchors"]
    assert anchors["transport"]["messages"] == sites and anchors["transport"]["rate_per_s"] > 0
    assert 0 < anchors["pipeline_fraction_of_transport"] < 1
    assert anchors["recompute_from_store"]["versions"] == sites + 3
    floor = anchors["floor"]
    assert floor["reports"] > 0 and floor["ms_per_report"] > 0
    assert all(ms > 0 for ms in floor["by_stage_ms"].values()), floor
    # the pipeline does at least the floor's work for every report (and moves it around)
    assert floor["multiple"] >= 1 and floor["system_ms_per_report"] >= floor["ms_per_report"]
    assert "× the floor" in run.output
    idle = result["idle"]
    assert idle["seconds"] >= 2
    processes = {"intake", "validator", "aggregator", "publisher", "verifier", "nats-server"}
    assert set(idle["cores_by_process"]) >= processes
    assert all(0 <= cores <= 4 for cores in idle["cores_by_process"].values()), idle
    assert idle["cores_all"] == pytest.approx(sum(idle["cores_by_process"].values()), abs=1e-3)
    assert "idle over" in run.output
    check = result["rollup_check"]
    assert check["ok"] and check["differences"] == 0 and check["nodes"] == result["nodes"]
    assert check["engine"] == ("postgresql" if postgres_url() else "sqlite")
    assert {t["target"] for t in result["targets"]} >= {"burst end to end"}
    assert result["intake"]["mode"] == "closed loop" and "late_sends" not in result["intake"]
    http = next(t for t in result["targets"] if t["target"].startswith("HTTP intake p99"))
    assert http["met"] is None and "n/a (closed loop" in run.output


def test_a_benchmark_at_a_fixed_rate_keeps_to_its_schedule(tmp_path: Path) -> None:
    """Open loop on the demo registry: every POST sent when due at 50 req/s (~7 s), answered
    202, latency counted from when each was due; nothing after the burst but one amendment."""
    registry = demo_registry()
    year = current_reporting_year(datetime.now(UTC))
    sites = sum(1 for site in registry.sites.values() if site.active_in(year))
    dump_registry(registry, tmp_path / "registry.json")
    out, rate = tmp_path / "bench.json", 50.0
    args = ["bench", "--registry", str(tmp_path / "registry.json"), "--rate", f"{rate:g}"]
    args += ["--amendments", "1", "--no-anchors", "--idle-seconds", "0", "--oracle-url", ""]
    args += ["--json", str(out), "--data-dir", str(tmp_path / "system")]
    run = CliRunner().invoke(app, args)
    assert run.exit_code == 0, run.output

    result = json.loads(out.read_text(encoding="utf-8"))
    intake = result["intake"]
    assert result["rate"] == rate and intake["mode"] == "fixed rate"
    assert intake["statuses"] == {"202": sites} and intake["requests"] == sites
    assert intake["offered_rate_per_s"] == rate
    # the schedule was kept to (sends within 10 % of the offered rate) and the service kept up
    # (answers within 20 %: the last answer's own latency counts against it)
    assert intake["sent_rate_per_s"] == pytest.approx(rate, rel=0.1)
    assert rate * 0.8 <= intake["rate_per_s"] <= rate * 1.05
    assert 0 <= intake["late_sends"] <= sites
    assert 1 <= intake["in_flight_peak"] <= intake["connections"]
    latency = intake["latency_ms"]
    assert 0 < latency["p50"] <= latency["p95"] <= latency["p99"] <= latency["max"]
    assert result["end_to_end"]["published"] == sites
    assert f"HTTP intake at fixed rate {rate:g} req/s" in run.output
    http = next(t for t in result["targets"] if t["target"].startswith("HTTP intake p99"))
    assert http["applies"] and http["met"] == (latency["p99"] <= 300)


def system_processes(data_dir: Path) -> list[int]:
    """Processes started for the system in ``data_dir`` (services by their environment,
    nats-server by its store directory on the command line)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if f"NIANBAO_DATA_DIR={data_dir}".encode() in environ or str(data_dir).encode() in cmdline:
            found.append(int(entry.name))
    return found


def test_sigterm_stops_the_benchmark_and_the_system_it_started(tmp_path: Path) -> None:
    registry = demo_registry()
    dump_registry(registry, tmp_path / "registry.json")
    system = tmp_path / "system"
    args = [sys.executable, "-m", "tools.cli", "bench", "--registry"]
    args += [str(tmp_path / "registry.json"), "--data-dir", str(system), "--no-anchors"]
    bench = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        # the benchmark, nats-server, the four services and the publisher's site page worker
        wait_until(lambda: len(system_processes(system)) >= 7 or None, timeout=120)
        bench.send_signal(signal.SIGTERM)
        output, _ = bench.communicate(timeout=60)
    finally:
        if bench.poll() is None:
            bench.kill()
    assert bench.returncode == 143, output.decode()
    assert b"stopped (SIGTERM)" in output
    assert system_processes(system) == []

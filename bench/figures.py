"""A run's figures (intake, CPU, memory) and the targets they are held to."""

from __future__ import annotations

from collections import Counter
from typing import Any

from bench.load import Posted
from bench.measure import summary_ms

#: (name, measured key, limit, unit, applies from this many sites)
TARGETS = (
    ("burst end to end", "end_to_end_seconds", 60.0, "s", 14_474),
    ("amendment → national roll-up p99", "amend_rollup_p99_ms", 250.0, "ms", 0),
    ("amendment → site page published p99", "amend_page_p99_ms", 1000.0, "ms", 0),
    ("all services' peak memory", "services_memory_mb", 1024.0, "MiB", 0),
)


def intake_figures(posted: list[Posted], fired: float) -> dict[str, Any]:
    last = max((p.done for p in posted), default=fired)
    statuses = Counter(str(p.status) for p in posted)
    return {
        "requests": len(posted),
        "statuses": dict(sorted(statuses.items())),
        "seconds": round(last - fired, 2),
        "rate_per_s": round(len(posted) / (last - fired), 1) if posted else 0.0,
        "latency_ms": summary_ms([p.done - p.sent for p in posted]),
    }


def cpu_spent(before: dict[str, float | None], after: dict[str, float | None]) -> dict[str, float]:
    """CPU seconds each process spent between two readings (first POST → last published)."""
    spent = {
        name: round(value - start, 2)
        for name, value in after.items()
        if value is not None and (start := before.get(name)) is not None
    }
    if spent:
        spent["all"] = round(sum(spent.values()), 2)
    return spent


def per_report_ms(spent: dict[str, float], reports: int) -> dict[str, float]:
    """CPU milliseconds per published report, by process: the cost that decides the burst on
    a machine with few cores (every process shares them)."""
    if not reports:
        return {}
    return {name: round(seconds * 1000 / reports, 2) for name, seconds in spent.items()}


def idle_figures(
    before: dict[str, float | None], after: dict[str, float | None], seconds: float
) -> dict[str, Any]:
    """Cores each process of the system used over a quiet window (CPU seconds ÷ seconds); the
    benchmark's own process is left out."""
    spent = {
        name: (value - start) / seconds
        for name, value in after.items()
        if value is not None
        and (start := before.get(name)) is not None
        and not name.startswith("bench")
    }
    if not spent or seconds <= 0:
        return {}
    return {
        "seconds": round(seconds, 1),
        "cores_by_process": {name: round(cores, 4) for name, cores in spent.items()},
        "cores_all": round(sum(spent.values()), 4),
    }


def memory_figures(peaks: dict[str, float | None]) -> dict[str, Any]:
    """Peaks by process; ``services_total`` is every process of the system but nats-server
    (every service, the pages server)."""
    known = {name: value for name, value in peaks.items() if value is not None}
    services = [value for name, value in known.items() if name != "nats-server"]
    return {
        "peak_by_process": peaks,
        "services_total": round(sum(services), 1) if services else None,
        "all_total": round(sum(known.values()), 1) if known else None,
    }


def targets(result: dict[str, Any]) -> list[dict[str, Any]]:
    measured = {
        "end_to_end_seconds": result.get("end_to_end", {}).get("seconds"),
        "amend_rollup_p99_ms": result["amendments"]["to_national_rollup_ms"]["p99"],
        "amend_page_p99_ms": result["amendments"]["to_site_page_ms"]["p99"],
        "services_memory_mb": result.get("memory_mb", {}).get("services_total"),
    }
    transport = result.get("anchors", {}).get("transport")
    if transport:
        result["anchors"]["pipeline_fraction_of_transport"] = round(
            result["end_to_end"]["rate_per_s"] / transport["rate_per_s"], 3
        )
    recompute = result.get("anchors", {}).get("recompute_from_store") or result.get(
        "anchors", {}
    ).get("recompute_arithmetic")
    p50 = result["amendments"]["to_national_rollup_ms"]["p50"]
    if recompute and p50:
        result["anchors"]["amendment_vs_full_recompute"] = round(
            p50 / (recompute["seconds"] * 1000), 4
        )
    out = []
    for name, key, limit, unit, applies_from in TARGETS:
        value = measured[key]
        applies = result["sites"] >= applies_from
        out.append(
            {
                "target": name,
                "limit": limit,
                "unit": unit,
                "measured": value,
                "applies": applies,
                "met": None if value is None or not applies else value < limit,
            }
        )
    return out

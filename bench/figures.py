"""A run's figures (intake, CPU, memory) and the targets they are held to."""

from __future__ import annotations

from collections import Counter
from typing import Any

from bench.load import Posted
from bench.measure import summary_ms
from bench.schedule import schedule_figures

#: (name, measured key, limit, unit, applies from this many sites)
TARGETS = (
    ("burst end to end", "end_to_end_seconds", 60.0, "s", 14_474),
    ("amendment → national roll-up p99", "amend_rollup_p99_ms", 250.0, "ms", 0),
    ("amendment → site page published p99", "amend_page_p99_ms", 1000.0, "ms", 0),
    ("all services' peak memory", "services_memory_mb", 1024.0, "MiB", 0),
)

#: held only at a fixed rate (``--rate``): in a closed loop the latency is the generator's own
#: queue (concurrency ÷ throughput), not the service's
HTTP_P99_TARGET = ("HTTP intake p99 at a fixed rate", 300.0, "ms")


def intake_figures(
    posted: list[Posted],
    fired: float,
    rate: float | None = None,
    connections: int | None = None,
    in_flight: int | None = None,
    connection_cap: int | None = None,
) -> dict[str, Any]:
    """Requests, statuses, the rate answered and the latency; at a fixed ``rate`` the latency
    counts from when each request was due, and how the sends kept to the schedule."""
    last = max((p.done for p in posted), default=fired)
    statuses = Counter(str(p.status) for p in posted)
    figures: dict[str, Any] = {
        "mode": "closed loop" if rate is None else "fixed rate",
        "requests": len(posted),
        "statuses": dict(sorted(statuses.items())),
        "seconds": round(last - fired, 2),
        "rate_per_s": round(len(posted) / (last - fired), 1) if posted else 0.0,
        "latency_ms": summary_ms([p.latency for p in posted]),
        "connections": connections,
        "in_flight_peak": in_flight,
    }
    if rate is not None:
        due = [fired if p.due is None else p.due for p in posted]
        figures |= schedule_figures(fired, due, [p.sent for p in posted], rate)
        figures["connection_cap"] = connection_cap
    return figures


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
    out = [http_target(result["intake"])]
    for name, key, limit, unit, applies_from in TARGETS:
        value = measured[key]
        applies, note = result["sites"] >= applies_from, None
        schedule = scheduled_seconds(result["intake"])
        if key == "end_to_end_seconds" and schedule is not None and schedule >= limit:
            applies, note = False, f"fixed rate: the POSTs alone take {schedule:g} s"
        out.append(
            {
                "target": name,
                "limit": limit,
                "unit": unit,
                "measured": value,
                "applies": applies,
                "met": None if value is None or not applies else value < limit,
                "note": note,
            }
        )
    return out


def scheduled_seconds(intake: dict[str, Any]) -> float | None:
    """At a fixed rate, how long the schedule of the POSTs lasts (None in a closed loop)."""
    rate = intake.get("offered_rate_per_s")
    if intake.get("mode") != "fixed rate" or not rate:
        return None
    return round(intake["requests"] / rate, 1)


def http_target(intake: dict[str, Any]) -> dict[str, Any]:
    """HTTP p99 ≤ 300 ms, held only at a fixed rate (n/a in a closed loop)."""
    name, limit, unit = HTTP_P99_TARGET
    value = intake["latency_ms"]["p99"]
    applies = intake.get("mode") == "fixed rate"
    return {
        "target": name,
        "limit": limit,
        "unit": unit,
        "comparison": "≤",
        "measured": value,
        "applies": applies,
        "met": None if value is None or not applies else value <= limit,
        "note": None if applies else "closed loop: held only with --rate",
    }

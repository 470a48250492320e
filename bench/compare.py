"""Runs at several sizes side by side: every figure at each size, and its flatness.

Flatness is a figure at a size relative to the same figure at the first (smallest) size: for a
total that grows with the sites (seconds of the burst, files, memory), per site; for a figure
that is already per report, a latency, a rate or an idle load, as it is. 1.0 is flat (a total
that grows linearly, a per-report figure that does not grow); above 1 the figure grows faster
than the sites (for a rate: the rate held up better than that).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

#: a total over the run: compared per site
TOTAL = "total"
#: per report, a latency, a rate, an idle load: compared as it is
EACH = "each"

#: (label, keys into a run's report, kind)
FIGURES: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("HTTP intake (req/s)", ("intake", "rate_per_s"), EACH),
    ("HTTP offered rate (req/s)", ("intake", "offered_rate_per_s"), EACH),
    ("HTTP sent rate (req/s)", ("intake", "sent_rate_per_s"), EACH),
    ("HTTP sends late", ("intake", "late_sends"), TOTAL),
    ("HTTP latency p50 (ms)", ("intake", "latency_ms", "p50"), EACH),
    ("HTTP latency p95 (ms)", ("intake", "latency_ms", "p95"), EACH),
    ("HTTP latency p99 (ms)", ("intake", "latency_ms", "p99"), EACH),
    ("end to end (s)", ("end_to_end", "seconds"), TOTAL),
    ("end to end (reports/s)", ("end_to_end", "rate_per_s"), EACH),
    ("national roll-up complete (s)", ("rollups", "national_complete_seconds"), TOTAL),
    ("all roll-ups final (s)", ("rollups", "all_final_seconds"), TOTAL),
    ("roll-up events", ("rollups", "events"), TOTAL),
    ("every page rendered (s)", ("pages", "settled_seconds"), TOTAL),
    ("page files", ("pages", "files"), TOTAL),
    ("pages (MiB)", ("pages", "megabytes"), TOTAL),
    ("amendment → national roll-up p50 (ms)", ("amendments", "to_national_rollup_ms", "p50"), EACH),
    ("amendment → national roll-up p99 (ms)", ("amendments", "to_national_rollup_ms", "p99"), EACH),
    ("amendment → site page p50 (ms)", ("amendments", "to_site_page_ms", "p50"), EACH),
    ("amendment → site page p99 (ms)", ("amendments", "to_site_page_ms", "p99"), EACH),
    ("peak memory, every service (MiB)", ("memory_mb", "services_total"), TOTAL),
    ("anchor: transport (msg/s)", ("anchors", "transport", "rate_per_s"), EACH),
    ("pipeline ÷ transport", ("anchors", "pipeline_fraction_of_transport"), EACH),
    ("anchor: floor (CPU ms/report)", ("anchors", "floor", "ms_per_report"), EACH),
    ("pipeline CPU ms/report (system)", ("anchors", "floor", "system_ms_per_report"), EACH),
    ("pipeline CPU ÷ floor", ("anchors", "floor", "multiple"), EACH),
    ("anchor: recompute from store (s)", ("anchors", "recompute_from_store", "seconds"), TOTAL),
    ("idle, all processes (cores)", ("idle", "cores_all"), EACH),
    ("startup (s)", ("startup_seconds",), TOTAL),
    ("machine: check_report (ms)", ("machine", "check_ms_before"), EACH),
)

#: figures by process: (label, keys of the mapping by process, kind)
BY_PROCESS: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("CPU ms per report", ("cpu_ms_per_report",), EACH),
    ("idle cores", ("idle", "cores_by_process"), EACH),
    ("peak memory (MiB)", ("memory_mb", "peak_by_process"), TOTAL),
)


def _get(result: dict[str, Any], keys: Sequence[str]) -> Any:
    value: Any = result
    for key in keys:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def flatness(values: Sequence[float | None], sites: Sequence[int], kind: str) -> list[float | None]:
    """Each value relative to the first (per site for a total); None where either is unknown
    or the first is 0."""
    first = values[0] if values else None
    if first is None or first == 0:
        return [None for _ in values]
    out: list[float | None] = []
    for value, n in zip(values, sites, strict=True):
        if value is None:
            out.append(None)
        elif kind == TOTAL:
            out.append(round((value / n) / (first / sites[0]), 2))
        else:
            out.append(round(value / first, 2))
    return out


def _figures(results: Sequence[dict[str, Any]]) -> list[tuple[str, str, list[float | None]]]:
    out = [
        (label, kind, [_number(_get(r, keys)) for r in results]) for label, keys, kind in FIGURES
    ]
    for label, keys, kind in BY_PROCESS:
        names: list[str] = []
        for r in results:
            names += [n for n in (_get(r, keys) or {}) if n not in names]
        for name in names:
            values = [_number((_get(r, keys) or {}).get(name)) for r in results]
            out.append((f"{label}: {name}", kind, values))
    return out


def comparison(results: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Every figure of runs at several sizes (smallest first) and its flatness."""
    ordered = sorted(results, key=lambda r: r["sites"])
    sites = [int(r["sites"]) for r in ordered]
    figures = [
        {
            "figure": label,
            "kind": kind,
            "values": values,
            "flatness": flatness(values, sites, kind),
        }
        for label, kind, values in _figures(ordered)
        if any(v is not None for v in values)
    ]
    return {"sites": sites, "rate": ordered[0].get("rate"), "figures": figures}


def _cell(value: float | None) -> str:
    """A value for the table: whole from 1,000 up (no exponent), else 4 significant digits."""
    if value is None:
        return "—"
    return f"{value:.0f}" if abs(value) >= 1000 else f"{value:.4g}"


def comparison_table(summary: dict[str, Any]) -> str:
    """One line per figure: its value at each size, and after the first its flatness."""
    sites = summary["sites"]
    header = ["figure (flatness: ×, per site for totals; 1 = flat)"]
    header += [f"{n} sites" for n in sites]
    rows = [header]
    rate = summary.get("rate")
    load = "closed loop" if rate is None else f"fixed rate {rate:g} req/s, latency from due time"
    rows.append([f"HTTP load: {load}", *("" for _ in sites)])
    for figure in summary["figures"]:
        cells = [_cell(figure["values"][0])]
        cells += [
            f"{_cell(v)} (×{_cell(f)})"
            for v, f in zip(figure["values"][1:], figure["flatness"][1:], strict=True)
        ]
        rows.append([figure["figure"], *cells])
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    return "\n".join(
        "  ".join(
            cell.ljust(widths[i]) if i == 0 else cell.rjust(widths[i]) for i, cell in enumerate(row)
        ).rstrip()
        for row in rows
    )

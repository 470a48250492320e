"""The benchmark's figures as a table for people (the JSON report is the full record)."""

from __future__ import annotations

from typing import Any


def _ms(figures: dict[str, Any]) -> str:
    return " / ".join("—" if figures.get(k) is None else f"{figures[k]:g}" for k in ("p50", "p99"))


def intake_rows(intake: dict[str, Any]) -> list[tuple[str, str]]:
    """The burst's HTTP figures: closed loop, or at a fixed rate with how the sends kept to the
    schedule (latency then counts from when each request was due)."""
    latency = intake["latency_ms"]
    percentiles = f"{latency['p50']} / {latency['p95']} / {latency['p99']}"
    answered = (
        f"{intake['requests']} POSTs in {intake['seconds']} s = {intake['rate_per_s']} req/s; "
        f"statuses {intake['statuses']}"
    )
    if intake.get("mode") != "fixed rate":
        return [
            ("HTTP intake (closed loop)", answered),
            ("HTTP latency p50 / p95 / p99 (ms)", percentiles),
        ]
    lag = intake["send_lag_ms"]
    return [
        ("HTTP intake", answered),
        (
            f"HTTP intake at fixed rate {intake['offered_rate_per_s']:g} req/s: "
            "p50 / p95 / p99 (ms)",
            f"{percentiles} (from when each request was due)",
        ),
        (
            "  achieved rate / late sends",
            f"sent {intake['sent_rate_per_s']}, answered {intake['rate_per_s']} req/s / "
            f"{intake['late_sends']} sent > {intake['late_after_ms']:g} ms after due "
            f"(lag p99 {lag['p99']}, max {lag['max']} ms); at most {intake['in_flight_peak']} "
            f"in flight, {intake['connections']} connections"
            + (" (the cap)" if intake["connections"] == intake.get("connection_cap") else ""),
        ),
    ]


def table(result: dict[str, Any]) -> str:
    """One line per figure: what, value, and the anchor or target it is held against."""
    rows: list[tuple[str, str]] = []
    intake, e2e = result["intake"], result["end_to_end"]
    rows.append(
        ("sites / nodes / year", f"{result['sites']} / {result['nodes']} / {result['year']}")
    )
    rows.append(
        (
            "load average before / at start",
            f"{result['load_average_before']} / {result.get('load_average_at_start')}",
        )
    )
    machine = result.get("machine") or {}
    if machine:
        steal = machine.get("steal_seconds_burst")
        rows.append(
            (
                "machine: cores / check_report ms before, after / steal in burst",
                f"{machine.get('cores')} / {machine.get('check_ms_before')}, "
                f"{machine.get('check_ms_after', '—')} / "
                f"{'—' if steal is None else f'{steal} s'}",
            )
        )
    rows += intake_rows(intake)
    rows.append(
        (
            "end to end (first POST → last published)",
            f"{e2e['published']}/{e2e['receipts']} in {e2e['seconds']} s = "
            f"{e2e['rate_per_s']} reports/s",
        )
    )
    cpu = result.get("cpu_seconds_burst") or {}
    if cpu:
        rows.append(("CPU seconds during the burst", ", ".join(f"{k} {v}" for k, v in cpu.items())))
    per_report = result.get("cpu_ms_per_report") or {}
    if per_report:
        rows.append(("CPU ms per report", ", ".join(f"{k} {v}" for k, v in per_report.items())))
    rollups = result["rollups"]
    rows.append(
        (
            "roll-ups: national complete / all final (s)",
            f"{rollups['national_complete_seconds']} / {rollups['all_final_seconds']} "
            f"({rollups['events']} roll-up events)",
        )
    )
    pages = result["pages"]
    if pages.get("files") is not None:
        rows.append(
            (
                "pages: every page rendered (s) / tree",
                f"{pages['settled_seconds']} / {pages['files']} files, {pages['megabytes']} MiB",
            )
        )
    amendments = result["amendments"]
    rows.append(
        (
            f"amendment → national roll-up p50 / p99 (ms, n={amendments['count']})",
            _ms(amendments["to_national_rollup_ms"]),
        )
    )
    rows.append(
        ("amendment → site page published p50 / p99 (ms)", _ms(amendments["to_site_page_ms"]))
    )
    if amendments["timeouts"]:
        rows.append(("amendments timed out", str(amendments["timeouts"])))
    memory = result.get("memory_mb", {})
    for name, value in memory.get("peak_by_process", {}).items():
        rows.append((f"peak memory {name} (MiB)", str(value)))
    if memory.get("services_total") is not None:
        rows.append(("peak memory, every service (MiB)", str(memory["services_total"])))
    anchors = result.get("anchors", {})
    if "transport" in anchors:
        t = anchors["transport"]
        rows.append(
            (
                "anchor: transport stage (consume → confirmed republish)",
                f"{t['rate_per_s']} msg/s ({t['messages']} × {t['message_bytes']} B); "
                f"pipeline = {anchors.get('pipeline_fraction_of_transport')} of it",
            )
        )
    floor = anchors.get("floor")
    if floor:
        stages = ", ".join(f"{k} {v}" for k, v in floor["by_stage_ms"].items())
        rows.append(
            (
                "anchor: floor, CPU ms per report in one process",
                f"{floor['ms_per_report']} ({stages}; {floor['reports']} reports, "
                f"roll-up batches of {floor.get('rollup_batch', 1)})",
            )
        )
        if "multiple" in floor:
            rows.append(
                (
                    "pipeline CPU per report ÷ floor",
                    f"{floor['system_ms_per_report']} ms = {floor['multiple']}× the floor",
                )
            )
    for key, label in (
        ("recompute_from_store", "store → every roll-up"),
        ("recompute_arithmetic", "roll-up arithmetic only"),
    ):
        if key in anchors:
            rows.append((f"anchor: full recompute, {label} (s)", str(anchors[key]["seconds"])))
    if "amendment_vs_full_recompute" in anchors:
        rows.append(("amendment p50 / full recompute", str(anchors["amendment_vs_full_recompute"])))
    idle = result.get("idle")
    if idle:
        rows.append(
            (
                f"idle over {idle['seconds']} s (cores)",
                f"all {idle['cores_all']:g}: "
                + ", ".join(f"{k} {v:g}" for k, v in idle["cores_by_process"].items()),
            )
        )
    check = result["rollup_check"]
    verdict = "OK" if check["ok"] else f"{check['differences']} DIFFERENCES"
    rows.append(
        ("roll-up check vs SQL oracle", f"{verdict}: {check['nodes']} nodes, {check['engine']}")
    )
    for t in result.get("targets", []):
        met = {True: "met", False: "MISSED", None: "n/a"}[t["met"]]
        if t.get("note"):
            met += f" ({t['note']})"
        rows.append(
            (
                f"target: {t['target']} {t.get('comparison', '<')} {t['limit']:g} {t['unit']}",
                f"{t['measured']} → {met}",
            )
        )
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)

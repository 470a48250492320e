"""The floor anchor: the work one report cannot avoid, in one process, timed per report.

For each report of a sample: parse its JSON body with the form's wire model (as the intake
does), judge it with ``check_report`` (as the validator does), apply its site's new state to an
incremental roll-up book (``RollupBook.update``: the site's ancestors, as the aggregator does),
then plan and render its site page files with the publisher's own functions and write them to a
temporary directory. Times are this thread's CPU time (``time.thread_time``), so other processes
on the machine do not enter them; files are written without a sync (durability can be batched).

The pipeline's CPU per report divided by this floor is what transport and bookkeeping cost on
top of the work itself: the figure to drive down.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

from services.publisher.main import SiteJob, VersionRecord, render_site_jobs, write_atomically
from shared.contracts import content_hash
from shared.forms import (
    WORK_REPORT,
    check_report,
    count_paths,
    load_form,
    parse_report,
    yes_no_paths,
)
from shared.registry import Registry
from shared.rollup import RollupBook, SiteState

#: reports timed (evenly spread over the registry's sites); the first is a warm-up
FLOOR_SAMPLE = 1000
STAGES = ("parse", "check", "rollup", "render", "write")
BASE_URL = "http://127.0.0.1:8080"


class _Floor:
    """One roll-up book and one page directory; ``one`` does a report's work, stage by stage."""

    def __init__(self, registry: Registry, year: int, pages: Path) -> None:
        definition = load_form(WORK_REPORT)
        self.registry, self.year, self.pages = registry, year, pages
        self.book = RollupBook(registry, year, count_paths(definition), yes_no_paths(definition))
        self.book.load({})  # every site missing, as before the burst
        self.files = 0

    def one(self, index: int, code: str, body: bytes) -> list[float]:
        """The report's work; this thread's CPU seconds per stage."""
        marks = [time.thread_time()]
        parsed = parse_report(json.loads(body))
        report = parsed.report
        if report is None:
            raise AssertionError(f"the floor's report of {code} does not parse: {parsed.issues}")
        digest = content_hash(report)
        marks.append(time.thread_time())
        result = check_report(report, self.registry)
        if not result.accepted:
            raise AssertionError(f"the floor's report of {code} is not accepted: {result.issues}")
        marks.append(time.thread_time())
        self.book.update([SiteState(site=code, status="on_time", report=report)])
        marks.append(time.thread_time())
        receipt = f"floor{index:08d}"
        record = VersionRecord(
            receipt_id=receipt,
            version=1,
            content_hash=digest,
            received_at=datetime.now(UTC),
            outcome="accepted",
            report=report,
            issues=[issue.model_dump(mode="json") for issue in result.issues],
        )
        job = SiteJob(code, self.year, (record,), receipt, "on_time", ())
        (files,) = render_site_jobs(self.registry, BASE_URL, [job])
        marks.append(time.thread_time())
        self.files += write_atomically(self.pages, files, durable=False)
        marks.append(time.thread_time())
        return [b - a for a, b in pairwise(marks)]


def floor_sample(codes: Sequence[str], size: int = FLOOR_SAMPLE) -> list[str]:
    """``size`` codes evenly spread over the sorted ``codes`` (all of them when fewer)."""
    ordered = sorted(codes)
    if len(ordered) <= size:
        return ordered
    step = len(ordered) / size
    return [ordered[int(i * step)] for i in range(size)]


def floor_anchor(
    registry: Registry, year: int, bodies: dict[str, bytes], size: int = FLOOR_SAMPLE
) -> dict[str, Any]:
    """Milliseconds of CPU per report, in all and by stage, over a sample of ``bodies`` (the
    JSON bodies the burst posted, by site code). Blocking: run it in a thread."""
    codes = floor_sample(list(bodies), size + 1)
    if len(codes) < 2:
        return {}
    pages = Path(tempfile.mkdtemp(prefix="nianbao-bench-floor-"))
    try:
        floor = _Floor(registry, year, pages)
        floor.one(0, codes[0], bodies[codes[0]])  # warm-up: templates compiled, caches filled
        totals = [0.0] * len(STAGES)
        started = time.perf_counter()
        for index, code in enumerate(codes[1:], start=1):
            for stage, seconds in enumerate(floor.one(index, code, bodies[code])):
                totals[stage] += seconds
        wall = time.perf_counter() - started
    finally:
        shutil.rmtree(pages, ignore_errors=True)
    timed = len(codes) - 1
    return {
        "reports": timed,
        "ms_per_report": round(sum(totals) * 1000 / timed, 3),
        "wall_ms_per_report": round(wall * 1000 / timed, 3),
        "by_stage_ms": {s: round(t * 1000 / timed, 3) for s, t in zip(STAGES, totals, strict=True)},
        "files_per_report": round(floor.files / timed, 2),
    }


def pipeline_multiple(cpu_ms_per_report: dict[str, float], floor_ms: float) -> dict[str, Any]:
    """The system's CPU per report (services and nats-server, not the benchmark itself) as a
    multiple of the floor."""
    system = {
        k: v for k, v in cpu_ms_per_report.items() if k != "all" and not k.startswith("bench")
    }
    if not system or floor_ms <= 0:
        return {}
    total = sum(system.values())
    return {
        "system_ms_per_report": round(total, 2),
        "multiple": round(total / floor_ms, 2),
    }

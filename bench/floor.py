"""The floor anchor: the work one report cannot avoid, in one process, timed per report.

For each report of a sample: parse its JSON body with the form's wire model (as the intake
does), judge it with ``check_report`` (as the validator does), count it in an incremental roll-up
book, then plan and render its site page files with the publisher's own functions and write them
to a temporary directory. Times are this thread's CPU time (``time.thread_time``), so other
processes on the machine do not enter them; files are written without a sync (durability can be
batched).

The roll-up stage does what the aggregator does for the same reports, no more: the sample (in a
shuffled order, as the burst posts) is counted in batches of the size the aggregator counted the
burst in (``floor_anchor(batch=…)``: the burst's reports over its national roll-up events, one
per batch the aggregator handled; 1 when unknown), each batch one ``RollupBook.update`` of the
sites' states with their counted reports' roll-up views (``rollup_view``), which recomputes each
affected node once per batch. A batch's roll-up time is shared evenly by its reports. What the
aggregator adds on top (storing versions, the journal, the figures bucket, serializing and
publishing events) is bookkeeping and transport, left out of the floor.

The pipeline's CPU per report divided by this floor is what transport and bookkeeping cost on
top of the work itself: the figure to drive down.
"""

from __future__ import annotations

import json
import random
import shutil
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
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
from shared.rollup import RollupBook, SiteState, rollup_view

#: reports timed (evenly spread over the registry's sites); the first is a warm-up
FLOOR_SAMPLE = 1000
#: the aggregator's largest batch (``services.aggregator.main``: ``batch_size``)
AGGREGATOR_MAX_BATCH = 500
STAGES = ("parse", "check", "rollup", "render", "write")
BASE_URL = "http://127.0.0.1:8080"


class _Floor:
    """One roll-up book and one page directory; ``batch`` does a batch of reports' work, stage
    by stage."""

    def __init__(self, registry: Registry, year: int, pages: Path) -> None:
        definition = load_form(WORK_REPORT)
        self.registry, self.year, self.pages = registry, year, pages
        self.paths = (*count_paths(definition), *yes_no_paths(definition))
        self.book = RollupBook(registry, year, count_paths(definition), yes_no_paths(definition))
        self.book.load({})  # every site missing, as before the burst
        self.files = 0

    def batch(self, first: int, items: Sequence[tuple[str, bytes]]) -> list[float]:
        """The work of these reports (numbered from ``first``), counted in one roll-up batch;
        this thread's CPU seconds per stage, summed over the batch."""
        spent = [0.0] * len(STAGES)
        parsed: list[tuple[str, dict[str, Any], str]] = []
        for code, body in items:
            start = time.thread_time()
            result = parse_report(json.loads(body))
            report = result.report
            if report is None:
                raise AssertionError(
                    f"the floor's report of {code} does not parse: {result.issues}"
                )
            parsed.append((code, report, content_hash(report)))
            spent[0] += time.thread_time() - start
        judged = []
        for code, report, _digest in parsed:
            start = time.thread_time()
            outcome = check_report(report, self.registry)
            if not outcome.accepted:
                raise AssertionError(
                    f"the floor's report of {code} is not accepted: {outcome.issues}"
                )
            judged.append(outcome)
            spent[1] += time.thread_time() - start
        start = time.thread_time()
        self.book.update(
            [
                SiteState(site=code, status="on_time", report=rollup_view(report, self.paths))
                for code, report, _digest in parsed
            ]
        )
        spent[2] += time.thread_time() - start
        for index, ((code, report, digest), outcome) in enumerate(
            zip(parsed, judged, strict=True), start=first
        ):
            start = time.thread_time()
            receipt = f"floor{index:08d}"
            record = VersionRecord(
                receipt_id=receipt,
                version=1,
                content_hash=digest,
                received_at=datetime.now(UTC),
                outcome="accepted",
                report=report,
                issues=[issue.model_dump(mode="json") for issue in outcome.issues],
            )
            job = SiteJob(code, self.year, (record,), receipt, "on_time", ())
            (files,) = render_site_jobs(self.registry, BASE_URL, [job])
            rendered = time.thread_time()
            self.files += write_atomically(self.pages, files, durable=False)
            spent[3] += rendered - start
            spent[4] += time.thread_time() - rendered
        return spent


def service_batch(reports: int, national_events: int) -> int:
    """The aggregator's mean batch in a burst: every batch it counted changed the national
    roll-up once (1 when nothing was seen)."""
    if reports <= 0 or national_events <= 0:
        return 1
    return max(1, min(AGGREGATOR_MAX_BATCH, round(reports / national_events)))


def floor_sample(codes: Sequence[str], size: int = FLOOR_SAMPLE) -> list[str]:
    """``size`` codes evenly spread over the sorted ``codes`` (all of them when fewer)."""
    ordered = sorted(codes)
    if len(ordered) <= size:
        return ordered
    step = len(ordered) / size
    return [ordered[int(i * step)] for i in range(size)]


def floor_anchor(
    registry: Registry,
    year: int,
    bodies: dict[str, bytes],
    size: int = FLOOR_SAMPLE,
    batch: int = 1,
) -> dict[str, Any]:
    """Milliseconds of CPU per report, in all and by stage, over a sample of ``bodies`` (the
    JSON bodies the burst posted, by site code), counted in roll-up batches of ``batch`` reports
    (the aggregator's in the burst: ``service_batch``). Blocking: run it in a thread."""
    codes = floor_sample(list(bodies), size + 1)
    if len(codes) < 2:
        return {}
    warm, timed_codes = codes[0], codes[1:]
    random.Random(0).shuffle(timed_codes)  # the burst posts in a shuffled order
    batch = max(1, batch)
    pages = Path(tempfile.mkdtemp(prefix="nianbao-bench-floor-"))
    try:
        floor = _Floor(registry, year, pages)
        floor.batch(0, [(warm, bodies[warm])])  # warm-up: templates compiled, caches filled
        totals = [0.0] * len(STAGES)
        started = time.perf_counter()
        for first in range(0, len(timed_codes), batch):
            items = [(code, bodies[code]) for code in timed_codes[first : first + batch]]
            for stage, seconds in enumerate(floor.batch(first + 1, items)):
                totals[stage] += seconds
        wall = time.perf_counter() - started
    finally:
        shutil.rmtree(pages, ignore_errors=True)
    timed = len(timed_codes)
    return {
        "reports": timed,
        "rollup_batch": batch,
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

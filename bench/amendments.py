"""Amendments after the burst: each timed to the national roll-up and to its site's page."""

from __future__ import annotations

import json
import time
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from bench.load import Connection, encode_post
from bench.measure import summary_ms
from bench.oracle import AcceptedVersion
from bench.reports import amended
from bench.system_under_test import REPORTS_PATH, Target
from bench.watch import EventWatch, NationalSeen, wait_for


async def amend(
    target: Target,
    watch: EventWatch,
    tokens: dict[str, str],
    reports: dict[str, dict[str, Any]],
    count: int,
    national_sum: int,
    within: float = 60,
) -> tuple[dict[str, Any], list[AcceptedVersion]]:
    """Correct ``count`` sites' reports one after another; time each to the national roll-up
    event that includes it and to its site's published event, both from the 202."""
    codes = sorted(reports)
    chosen = [codes[i * len(codes) // count] for i in range(count)] if count else []
    parts = urlsplit(target.intake_url)
    connection = Connection(parts.hostname or "127.0.0.1", parts.port or 80)
    to_rollup: list[float] = []
    to_page: list[float] = []
    posts: list[float] = []
    timeouts = 0
    versions: list[AcceptedVersion] = []
    for step, code in enumerate(chosen, start=1):
        report = amended(reports[code], step)
        body = json.dumps(report, ensure_ascii=False).encode()
        host = f"{parts.hostname}:{parts.port}"
        sent = time.monotonic()
        status, raw = await connection.exchange(encode_post(host, REPORTS_PATH, tokens[code], body))
        answered = time.monotonic()
        if status != 202:
            raise RuntimeError(f"amendment of {code} answered {status}: {raw[:300]!r}")
        receipt = json.loads(raw)
        reports[code] = report
        national_sum += step
        posts.append(answered - sent)
        expected, receipt_id = national_sum, str(receipt["receipt_id"])

        def counted(seen: NationalSeen, expected: int = expected) -> bool:
            return seen.tracked_sum == expected

        def in_national(sent: float = sent) -> float | None:
            return watch.national_since(sent, counted)

        def published(receipt_id: str = receipt_id) -> float | None:
            return watch.published.get(receipt_id)

        seen = await wait_for(in_national, within)
        page = await wait_for(published, within)
        if seen is None or page is None:
            timeouts += 1
        if seen is not None:
            to_rollup.append(max(0.0, seen - answered))
        if page is not None:
            to_page.append(max(0.0, page - answered))
        versions.append(
            AcceptedVersion(
                code, receipt["version"], datetime.fromisoformat(receipt["received_at"]), report
            )
        )
    await connection.close()
    return {
        "count": len(chosen),
        "timeouts": timeouts,
        "http_ms": summary_ms(posts),
        "to_national_rollup_ms": summary_ms(to_rollup),
        "to_site_page_ms": summary_ms(to_page),
    }, versions

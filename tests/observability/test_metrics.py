"""Every service's health, readiness, metrics and structured logs, with reports pushed through."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import nats
import pytest
from prometheus_client.parser import text_string_to_metric_families

from shared.registry.demo import demo_registry
from tests.support.reports import work_report_for
from tests.support.waiting import wait_until
from tools.launcher import SERVICES, System

pytestmark = pytest.mark.e2e

YEAR = 2026
REGISTRY = demo_registry()
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(system: System, service: str) -> Samples:
    response = httpx.get(f"{system.health_url(service)}/metrics", timeout=5)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_every_service_is_live_and_ready(system: System) -> None:
    for service in SERVICES:
        assert httpx.get(f"{system.health_url(service)}/healthz").status_code == 200
        ready = httpx.get(f"{system.health_url(service)}/readyz")
        assert ready.status_code == 200, ready.text
        body = ready.json()
        assert body["broker_connected"] is True and body["missing_consumers"] == []
    assert httpx.get(f"{system.health_url('validator')}/nothing").status_code == 404


def test_the_intakes_public_port_does_not_expose_metrics(system: System) -> None:
    """Metrics and readiness are on the intake's health port, like every service's; its API
    port (the one published to sites) answers 404, and keeps only its liveness."""
    for path in ("/metrics", "/readyz"):
        answer = httpx.get(f"{system.intake_url}{path}", timeout=5)
        assert answer.status_code == 404, (path, answer.status_code)
    assert httpx.get(f"{system.intake_url}/healthz", timeout=5).status_code == 200
    assert system.health_url("intake") != system.intake_url
    # the refused requests above are counted, and read on the health port
    refused = scrape(system, "intake")
    assert (
        value(refused, "nianbao_http_requests_total", method="GET", route="unmatched", status="404")
        >= 2
    )


async def _publish_undecodable(url: str) -> None:
    connection = await nats.connect(url)
    try:
        await connection.jetstream().publish(
            "nianbao.submitted.work-report.garbage",
            b"{this is not a submission",
            headers={"Nats-Msg-Id": "observability-garbage"},
        )
    finally:
        await connection.close()


def _log_lines(system: System, service: str) -> list[dict[str, Any]]:
    text = (Path(system.data_dir) / "logs" / f"{service}.log").read_text(encoding="utf-8")
    lines = []
    for line in text.splitlines():
        try:
            lines.append(json.loads(line))
        except ValueError:
            continue
    return lines


def test_pushed_reports_show_in_every_services_counters_and_logs(
    system: System, tokens: dict[str, str]
) -> None:
    before = {service: scrape(system, service) for service in SERVICES}
    good = ["1101070001", "1101070002", "1101080001"]
    bad = "1101080002"
    receipts = []
    with httpx.Client(base_url=system.intake_url, timeout=10) as client:
        for code in [*good, bad]:
            report = work_report_for(REGISTRY.sites[code], YEAR)
            if code == bad:
                report["traffic"]["unique_visitors"] = report["traffic"]["page_views"] + 1
            response = client.post(
                "/v1/reports", json=report, headers={"Authorization": f"Bearer {tokens[code]}"}
            )
            assert response.status_code == 202, response.text
            receipts.append(response.json()["receipt_id"])
    asyncio.run(_publish_undecodable(system.nats.url))

    def delta(service: str, name: str, **labels: str) -> float:
        return value(scrape(system, service), name, **labels) - value(
            before[service], name, **labels
        )

    wait_until(
        lambda: (
            delta("publisher", "nianbao_messages_received_total", consumer="publisher-aggregated")
            >= 4
        ),
        timeout=60,
    )
    wait_until(lambda: delta("publisher", "nianbao_pages_rendered_total") > 0, timeout=60)
    wait_until(
        lambda: delta("validator", "nianbao_messages_dead_lettered_total", stage="validator") == 1,
        timeout=60,
    )

    assert delta("intake", "nianbao_reports_submitted_total", form="work-report") == 4
    assert (
        delta(
            "intake",
            "nianbao_http_requests_total",
            method="POST",
            route="/v1/reports",
            status="202",
        )
        == 4
    )
    # the intake reads rejected verdicts only (an accepted one comes with its aggregated event)
    assert delta("intake", "nianbao_messages_received_total", consumer="intake-verdicts") == 1
    assert delta("validator", "nianbao_messages_received_total", consumer="validator") == 5
    assert delta("validator", "nianbao_verdicts_total", form="work-report", outcome="accepted") == 3
    assert delta("validator", "nianbao_verdicts_total", form="work-report", outcome="rejected") == 1
    assert delta("validator", "nianbao_batch_seconds_count", consumer="validator") >= 1
    assert delta("aggregator", "nianbao_messages_received_total", consumer="aggregator") == 4
    assert delta("aggregator", "nianbao_events_published_total", stream="NIANBAO_ROLLUPS") > 0
    assert delta("publisher", "nianbao_messages_received_total", consumer="publisher-rollups") > 0
    assert ("nianbao_messages_redelivered_total", frozenset({("consumer", "validator")})) in (
        scrape(system, "validator")
    )
    wait_until(
        lambda: (
            value(scrape(system, "validator"), "nianbao_consumer_pending", consumer="validator")
            == 0
            and ("nianbao_consumer_pending", frozenset({("consumer", "aggregator")}))
            in scrape(system, "aggregator")
        ),
        timeout=30,
    )

    filed = {line.get("receipt_id") for line in _log_lines(system, "intake")}
    assert set(receipts) <= filed
    for service in ("validator", "aggregator", "publisher"):
        traced = {
            rid for line in _log_lines(system, service) for rid in line.get("receipt_ids", [])
        }
        assert set(receipts) <= traced, service

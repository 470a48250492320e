"""The pipeline's guarantees on the running system (four services as processes, a test server):
consumers as the code declares them, current roll-ups for a new subscriber, the validator judging
as `nianbao forms check`, poison dead-lettered once, duplicates changing nothing."""

from __future__ import annotations

import asyncio
import base64
import json
import sqlite3
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from nats.js import api as js_api
from nats.js.errors import NotFoundError
from typer.testing import CliRunner

from shared.contracts import (
    PROGRESS,
    ROLLUPS,
    SUBMISSIONS,
    VERDICTS,
    ReportSubmitted,
    RollupUpdated,
    accepted_subject,
    aggregated_subject,
    rollup_subject,
    submitted_subject,
)
from shared.registry import Tree
from shared.registry.demo import demo_registry
from shared.runtime.messaging import SERVER_MAX_DELIVER
from tests.support.pipeline import (
    YEAR,
    jetstream,
    last_per_subject,
    post,
    reaches,
    service_consumers,
    settled_pages,
    takes,
)
from tests.support.reports import DATA, work_report_for
from tests.support.system import system_fixture, tokens_of
from tests.support.waiting import eventually
from tools.cli import app as nianbao
from tools.deadletters import list_entries
from tools.launcher import SERVICES, System

pytestmark = pytest.mark.e2e

PROVINCE = "510000"
COUNTY_SITE = "5109030001"  # 船山区 portal, under 510903 遂宁市 510900
FALLBACK_SITE = "1100000088"  # files whose code is not registered are posted with this token


system = system_fixture(scope="module", data_dir="guarantees", services=SERVICES)


# ---------------------------------------------------------------- topology and subscribers


async def test_a_new_subscriber_gets_every_current_rollup_of_its_subtree(system: System) -> None:
    registry = demo_registry()
    below = {
        node
        for node in registry.descendants(PROVINCE)
        if node != PROVINCE and registry.tree_of(node) == Tree.ADMIN
    }
    assert len(below) > 100  # 21 cities and 183 counties of 四川
    subtree = f"nianbao.rollup.{YEAR}.admin.CN.{PROVINCE}.>"

    async with jetstream(system.nats.url) as js:

        async def subjects() -> int:
            info = await js.stream_info(ROLLUPS.name, subjects_filter=subtree)
            return len(info.state.subjects or {})

        async def republished() -> bool:
            """The aggregator's republish at start is over: the count stopped growing."""
            first = await subjects()
            await asyncio.sleep(0.5)
            return 0 < first == await subjects()

        await eventually(republished, within=60, interval=0.2)

        # a supervisor that has never subscribed before, no report filed yet
        sub = await js.subscribe(
            subtree,
            stream=ROLLUPS.name,
            ordered_consumer=True,
            deliver_policy=js_api.DeliverPolicy.LAST_PER_SUBJECT,
        )
        received: list[tuple[str, RollupUpdated]] = []
        while True:
            msg = await sub.next_msg(timeout=10)
            received.append((msg.subject, RollupUpdated.model_validate_json(msg.data)))
            if msg.metadata.num_pending == 0:
                break
        await sub.unsubscribe()

    nodes = [event.node for _subject, event in received]
    assert len(nodes) == len(below) and set(nodes) == below
    for subject, event in received:
        assert subject == rollup_subject(YEAR, "admin", registry.path(event.node))
        assert event.year == YEAR and event.tree == "admin"


async def test_durable_consumers_ack_explicitly_and_count_failures_not_deliveries(
    system: System,
) -> None:
    async with jetstream(system.nats.url) as js:
        for spec in service_consumers():

            async def declared(
                stream: str = spec.stream.name, name: str = spec.durable
            ) -> js_api.ConsumerInfo | None:
                try:
                    return await js.consumer_info(stream, name)
                except NotFoundError:
                    return None  # its service is still starting

            info = await eventually(declared, within=30, interval=0.2)
            config = info.config
            assert config.ack_policy == js_api.AckPolicy.EXPLICIT, spec.durable
            # unlimited deliveries: the stage dead-letters after max_deliver handler failures
            assert config.max_deliver == SERVER_MAX_DELIVER, spec.durable
            assert config.ack_wait == spec.ack_wait_seconds, spec.durable
            assert config.deliver_policy == spec.deliver_policy, spec.durable
            wanted = sorted(spec.filter_subjects)
            have = config.filter_subjects or [config.filter_subject or ""]
            assert sorted(have) == wanted, spec.durable


# ---------------------------------------------------------------- validator = forms check


def _schema_breaks(clean: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Reports the edge must refuse with field-level reasons (schema errors)."""
    breaks: dict[str, Callable[[dict[str, Any]], None]] = {
        "unknown-field": lambda r: r["traffic"].update(extra=1),
        "string-count": lambda r: r["traffic"].update(page_views="12"),
        "negative-count": lambda r: r["info"].update(total=-1),
        "unknown-version": lambda r: r.update(form_version="1999"),
        "missing-section": lambda r: r.pop("security"),
    }
    out = {}
    for name, mutate in breaks.items():
        report = json.loads(json.dumps(clean))
        mutate(report)
        out[name] = report
    return out


def _issue_set(issues: list[dict[str, Any]]) -> set[tuple[str, str, tuple[str, ...]]]:
    return {(i["rule_id"], i["severity"], tuple(i["paths"])) for i in issues}


def forms_check(path: Path) -> tuple[int, dict[str, Any]]:
    """`nianbao forms check --json FILE` with the registry the system uses (the demo one)."""
    result = CliRunner().invoke(nianbao, ["forms", "check", "--json", str(path)])
    assert result.exit_code in (0, 1), result.output
    verdict: dict[str, Any] = json.loads(result.stdout)
    return result.exit_code, verdict


async def test_the_validator_judges_exactly_like_forms_check(
    system: System, tmp_path: Path
) -> None:
    tokens = tokens_of(system)
    files = sorted((DATA / "work-report").glob("*.json"))
    assert len(files) >= 30
    clean = json.loads((DATA / "work-report" / "clean.json").read_text(encoding="utf-8"))
    for name, report in _schema_breaks(clean).items():
        path = tmp_path / f"schema-{name}.json"
        path.write_text(json.dumps(report, ensure_ascii=False), encoding="utf-8")
        files.append(path)

    registry = demo_registry()
    judged: dict[str, tuple[str, int, dict[str, Any]]] = {}
    refused = []
    for path in files:
        raw = json.loads(path.read_text(encoding="utf-8"))
        exit_code, verdict = forms_check(path)
        code = raw["site"]["site_code"]
        response = await post(system, tokens.get(code, tokens[FALLBACK_SITE]), raw)
        registered = code in registry.sites
        schema_broken = any(i["rule_id"].startswith("schema.") for i in verdict["issues"])
        assert (response.status_code == 202) == (registered and not schema_broken), path.name
        if response.status_code == 202:
            judged[path.name] = (response.json()["receipt_id"], exit_code, verdict)
            continue
        # refused at the edge: forms check rejects it too, on the same fields
        refused.append(path.name)
        body = response.json()
        assert response.status_code == 422, (path.name, response.text)
        assert exit_code == 1 and not verdict["accepted"], path.name
        check_errors = [i for i in verdict["issues"] if i["severity"] == "error"]
        if body["error"] == "invalid_report":
            assert all(i["rule_id"].startswith("schema.") for i in verdict["issues"]), path.name
            assert _issue_set(body["issues"]) == _issue_set(verdict["issues"]), path.name
        else:
            assert body["error"] == "unknown_code", path.name
            edge_paths = {p for i in body["issues"] for p in i["paths"]}
            assert edge_paths <= {p for i in check_errors for p in i["paths"]}, path.name

    assert {f"schema-{name}.json" for name in _schema_breaks(clean)} <= set(refused)
    assert len(judged) >= 25, refused

    for name, (receipt_id, exit_code, verdict) in judged.items():
        code = json.loads((DATA / "work-report" / name).read_text(encoding="utf-8"))["site"][
            "site_code"
        ]
        final = await reaches(system, tokens[code], receipt_id, "judged", within=60)
        assert final["outcome"] == ("accepted" if exit_code == 0 else "rejected"), name
        assert verdict["accepted"] == (exit_code == 0)
        issues = final["errors"] + final["warnings"]
        assert _issue_set(issues) == _issue_set(verdict["issues"]), name


# ---------------------------------------------------------------- poison


def _future_submission() -> bytes:
    """A well-formed submission of a schema version this code does not know."""
    site = demo_registry().sites[COUNTY_SITE]
    event = ReportSubmitted(
        receipt_id=uuid.uuid4().hex,
        content_hash="0" * 64,
        form="work-report",
        form_version="2018",
        year=YEAR,
        code=COUNTY_SITE,
        version=1,
        received_at=datetime.now(UTC),
        submitted_by=f"site:{COUNTY_SITE}",
        report=work_report_for(site, YEAR),
    ).model_dump(mode="json")
    event["schema_version"] = 2
    return json.dumps(event).encode()


POISON = {
    "garbage bytes": (b"\x00\xff\xfe not json {", ("undecodable ReportSubmitted", "Invalid JSON")),
    "wrong shape": (b'{"hello": "world"}', ("undecodable ReportSubmitted", "receipt_id")),
    "unknown schema_version": (_future_submission(), ("schema_version", "Input should be 1")),
}


async def test_poison_is_dead_lettered_once_and_the_pipeline_goes_on(system: System) -> None:
    subject = "nianbao.submitted.work-report.X"
    async with jetstream(system.nats.url) as js:
        sequences = {}
        for name, (body, _words) in POISON.items():
            ack = await js.publish(subject, body, headers={"Nats-Msg-Id": f"poison:{uuid.uuid4()}"})
            sequences[ack.seq] = name

        async def dead_lettered() -> dict[int, Any] | None:
            found = {
                e.letter.stream_seq: e.letter
                for e in await list_entries(js, "validator")
                if e.letter is not None and e.letter.stream_seq in sequences
            }
            return found if len(found) == len(sequences) else None

        letters = await eventually(dead_lettered, within=30, interval=0.2)
        for seq, letter in letters.items():
            body, words = POISON[sequences[seq]]
            assert letter.subject == subject and letter.stream == SUBMISSIONS.name
            assert letter.deliveries == 1
            assert all(word in letter.reason for word in words), (sequences[seq], letter.reason)
            assert base64.b64decode(letter.body_b64) == body

        # the pipeline keeps working
        code = "5109000001"
        token = tokens_of(system)[code]
        response = await post(system, token, work_report_for(demo_registry().sites[code], YEAR))
        assert response.status_code == 202
        final = await reaches(system, token, response.json()["receipt_id"], "published")
        assert final["outcome"] == "accepted"

        # terminated, not left to time out: nothing pending, every message delivered once
        info = await js.consumer_info(SUBMISSIONS.name, "validator")
        assert info.num_ack_pending == 0 and info.num_pending == 0
        assert info.delivered.consumer_seq == info.delivered.stream_seq
        again = [e.letter.stream_seq for e in await list_entries(js, "validator") if e.letter]
        assert sorted(s for s in again if s is not None) == sorted(sequences)


# ---------------------------------------------------------------- duplicates


def _versions_of(system: System, code: str) -> dict[str, list[tuple[str, int]]]:
    """The site's versions as each service keeps them, and as its page shows them."""
    out: dict[str, list[tuple[str, int]]] = {}
    for service in ("aggregator", "publisher"):
        with sqlite3.connect(f"file:{system.data_dir / f'{service}.db'}?mode=ro", uri=True) as db:
            rows = db.execute(
                f"SELECT receipt_id, version FROM {service}_versions "
                "WHERE code = ? AND year = ? ORDER BY version",
                (code, YEAR),
            ).fetchall()
        out[service] = [(r[0], int(r[1])) for r in rows]
    page = json.loads(
        (system.data_dir / "pages" / "sites" / str(YEAR) / code / "report.json").read_text(
            encoding="utf-8"
        )
    )
    out["page"] = [(v["receipt_id"], int(v["version"])) for v in page["versions"]]
    return out


async def test_duplicated_events_change_no_rollup_and_no_page(system: System) -> None:
    registry = demo_registry()
    token = tokens_of(system)[COUNTY_SITE]
    response = await post(system, token, work_report_for(registry.sites[COUNTY_SITE], YEAR))
    receipt_id = response.json()["receipt_id"]
    await reaches(system, token, receipt_id, "published")
    consumers = service_consumers()
    before = await settled_pages(system, consumers)
    async with jetstream(system.nats.url) as js:
        rollups_before = await last_per_subject(js, ROLLUPS.name, f"nianbao.rollup.{YEAR}.>")
    versions_before = _versions_of(system, COUNTY_SITE)
    assert all(v == [(receipt_id, 1)] for v in versions_before.values()), versions_before

    county = registry.sites[COUNTY_SITE].admin_node
    originals = [
        (SUBMISSIONS.name, submitted_subject("work-report", COUNTY_SITE)),
        (VERDICTS.name, accepted_subject("work-report", COUNTY_SITE)),
        (PROGRESS.name, aggregated_subject("work-report", COUNTY_SITE)),
        (ROLLUPS.name, rollup_subject(YEAR, "admin", registry.path(county))),
    ]
    duplicates = []
    async with jetstream(system.nats.url) as js:
        for stream, subject in originals:
            original = await js.get_last_msg(stream, subject)
            headers = dict(original.headers or {})
            headers["Nats-Msg-Id"] = f"duplicate:{uuid.uuid4()}"  # past the server's dedupe
            ack = await js.publish(subject, original.data or b"", headers=headers)
            assert ack.stream == stream and not ack.duplicate
            duplicates.append((stream, subject, ack.seq))

    after = await settled_pages(system, consumers)
    async with jetstream(system.nats.url) as js:
        rollups_after = await last_per_subject(js, ROLLUPS.name, f"nianbao.rollup.{YEAR}.>")
        # every consumer of each duplicate has taken and acknowledged it
        for stream, subject, seq in duplicates:
            takers = [c for c in consumers if c.stream.name == stream and takes(c, subject)]
            assert takers, subject
            for spec in takers:
                info = await js.consumer_info(stream, spec.durable)
                assert info.ack_floor is not None and info.ack_floor.stream_seq >= seq
    assert rollups_after == rollups_before
    changed = sorted(p for p in set(before) | set(after) if before.get(p) != after.get(p))
    assert changed == []
    assert _versions_of(system, COUNTY_SITE) == versions_before

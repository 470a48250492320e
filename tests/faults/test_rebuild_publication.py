"""`nianbao rebuild` rebuilds the publication facts too: the aggregator's store of declarations,
judgements and checks is dropped with its other tables, its three publication consumers are
deleted, and once started again it replays NIANBAO_DECLARATIONS and NIANBAO_CHECKS into the
same counts and the same offices' catalogue and 专栏 states as before."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from shared.contracts import (
    CHECKED,
    CHECKS,
    DECLARATIONS,
    DECLARED,
    JUDGED,
    ROLLUPS,
    rollup_subject,
)
from shared.publication import PublicationChecked, PublicationDeclared, PublicationJudged
from tests.support.pipeline import YEAR, jetstream
from tests.support.system import running_system
from tests.support.waiting import eventually
from tools.launcher import System

pytestmark = [pytest.mark.faults, pytest.mark.nats]

PROVINCE, CITY = "510000", "510900"
SITES = ["5109030001", "5109040001", "5109000001"]
AT = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)


@pytest.fixture(scope="module")
def aggregator_only(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    with running_system(
        tmp_path_factory.mktemp("rebuild-publication"), services=("aggregator",)
    ) as system:
        yield system


def events() -> list[tuple[str, str, BaseModel, str]]:
    """(stream, subject, event, message id) of three sites' and the province's publication."""
    out: list[tuple[str, str, BaseModel, str]] = []
    for n, code in enumerate(SITES):
        url = f"https://{code}.gov.cn/nb/{YEAR}.html"
        declared = PublicationDeclared(
            declaration_id=f"d{code}", kind="report", code=code, year=YEAR, url=url,
            declared_by=code, at=AT,
        )  # fmt: skip
        out.append((DECLARATIONS.name, DECLARED.subject("report", code), declared, f"d{code}"))
        state = ("verified", "not_linked", "manual")[n]
        checked = PublicationChecked(
            check_id=f"c{code}", kind="report", code=code, year=YEAR, url=url, state=state,
            checked_at=AT + timedelta(hours=1),
            first_verified_at=AT + timedelta(hours=1) if state == "verified" else None,
        )  # fmt: skip
        out.append((CHECKS.name, CHECKED.subject("report", code), checked, f"c{code}"))
    judged = PublicationJudged(
        judgement_id="j1", code=SITES[2], year=YEAR, verdict="verified", reason="人工确认",
        office=CITY, at=AT + timedelta(hours=2),
    )  # fmt: skip
    out.append((DECLARATIONS.name, JUDGED.subject(SITES[2]), judged, "j1"))
    column = "https://www.sc.gov.cn/ndbb/"
    column_declared = PublicationDeclared(
        declaration_id="dcol", kind="column", code=PROVINCE, year=YEAR, url=column,
        declared_by=PROVINCE, at=AT,
    )  # fmt: skip
    column_checked = PublicationChecked(
        check_id="ccol", kind="column", code=PROVINCE, year=YEAR, url=column,
        state="content_differs", checked_at=AT + timedelta(hours=1), coverage=(2, 40),
    )  # fmt: skip
    out.append((DECLARATIONS.name, DECLARED.subject("column", PROVINCE), column_declared, "dcol"))
    out.append((CHECKS.name, CHECKED.subject("column", PROVINCE), column_checked, "ccol"))
    return out


async def publish(system: System) -> None:
    async with jetstream(system.nats.url) as js:
        for stream, subject, event, msg_id in events():
            ack = await js.publish(
                subject, event.model_dump_json().encode(), stream=stream,
                headers={"Nats-Msg-Id": msg_id},
            )  # fmt: skip
            assert ack.stream == stream


async def rollup_after(system: System, node_path: list[str], after_seq: int) -> dict[str, Any]:
    """The node's roll-up once one newer than ``after_seq`` shows all the publication facts."""
    subject = rollup_subject(YEAR, "admin", node_path)

    async def settled() -> dict[str, Any] | None:
        async with jetstream(system.nats.url) as js:
            try:
                msg = await js.get_last_msg(ROLLUPS.name, subject)
            except Exception:
                return None
        if msg.seq is None or msg.seq <= after_seq or msg.data is None:
            return None
        rollup: dict[str, Any] = json.loads(msg.data)["rollup"]
        office = rollup.get("office_publication")
        counts = rollup["tally"]["publication"]
        if counts.get("declared") != len(SITES) or counts.get("verified") != 2:
            return None
        if node_path[-1] == PROVINCE and (office or {}).get("column_covered") != 2:
            return None
        return rollup

    return await eventually(settled, within=90, interval=0.2)


async def last_rollup_seq(system: System) -> int:
    async with jetstream(system.nats.url) as js:
        return int((await js.stream_info(ROLLUPS.name)).state.last_seq)


def test_publication_facts_rebuild_from_their_streams(aggregator_only: System) -> None:
    system = aggregator_only
    system.wait_ready(timeout=60)
    asyncio.run(publish(system))
    province_path, city_path = ["CN", PROVINCE], ["CN", PROVINCE, CITY]
    before = {
        PROVINCE: asyncio.run(rollup_after(system, province_path, 0)),
        CITY: asyncio.run(rollup_after(system, city_path, 0)),
    }
    assert before[CITY]["tally"]["publication"]["not_linked"] == 1
    assert before[PROVINCE]["office_publication"]["column_state"] == "content_differs"

    system.stop_service("aggregator")
    nianbao = str(Path(sys.executable).parent / "nianbao")
    done = subprocess.run(
        [nianbao, "rebuild", "--data-dir", str(system.data_dir), "--service", "aggregator"],
        env=system.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    for stream, durable in (
        (DECLARATIONS.name, "aggregator-declarations"),
        (DECLARATIONS.name, "aggregator-judgements"),
        (CHECKS.name, "aggregator-checks"),
    ):
        assert f"deleted consumer {stream}/{durable}" in done.stdout, done.stdout
    assert "aggregator_publication" in done.stdout or "aggregator.db" in done.stdout
    assert not (system.data_dir / "aggregator.db").exists()

    mark = asyncio.run(last_rollup_seq(system))
    system.start_service("aggregator")
    system.wait_ready(timeout=120)
    after = {
        PROVINCE: asyncio.run(rollup_after(system, province_path, mark)),
        CITY: asyncio.run(rollup_after(system, city_path, mark)),
    }
    for node in (PROVINCE, CITY):
        assert after[node]["tally"]["publication"] == before[node]["tally"]["publication"]
        assert after[node]["office_publication"] == before[node]["office_publication"]
    assert after[CITY]["office_publication"] is None

"""Access control on NATS: each user `nianbao deploy nats-users` writes (offices and services)
against each subject family, on a real nats-server with that users file (the fixture of
tests/conftest.py). Allowed messages arrive; refused ones are reported as permission
violations and never delivered."""

from __future__ import annotations

import asyncio
from typing import Any

import nats
import pytest
from nats.aio.client import Client

from shared.contracts import FIGURES, FIGURES_BUCKET
from shared.runtime.messaging import ensure_streams
from tests.support.figures import SECURITY_FIGURES
from tests.support.waiting import eventually
from tools.natsserver import NatsServer

pytestmark = pytest.mark.deploy

Y = "2026"
#: user -> [(pub|sub, subject, allowed)]; offices of tests/data/registry-mini.json
PROBES: dict[str, list[tuple[str, str, bool]]] = {
    "office-110000": [
        ("sub", f"nianbao.rollup.{Y}.admin.CN.110000", True),
        ("sub", f"nianbao.rollup.{Y}.admin.CN.110000.>", True),
        ("sub", f"nianbao.review.{Y}.admin.CN.110000.>", True),
        ("sub", f"nianbao.reminder.{Y}.admin.CN.110000", True),
        ("sub", f"nianbao.rollup.{Y}.admin.CN", False),
        ("sub", f"nianbao.rollup.{Y}.admin.>", False),
        ("sub", f"nianbao.rollup.{Y}.dept.bm29.>", False),
        ("sub", "nianbao.submitted.>", False),
        ("sub", "nianbao.accepted.>", False),
        ("sub", "nianbao.review.*.admin.>", False),
        ("sub", "nianbao.>", False),
        ("sub", ">", False),
        ("sub", "_INBOX.>", False),
        ("sub", "$JS.API.>", False),
        ("pub", "nianbao.submitted.work-report.1100000088", False),
        ("pub", "nianbao.accepted.work-report.1100000088", False),
        ("pub", f"nianbao.rollup.{Y}.admin.CN.110000", False),
        ("pub", f"nianbao.review.{Y}.admin.CN.110000.1100000088", False),
        ("pub", "$JS.API.STREAM.DELETE.NIANBAO_SUBMISSIONS", False),
        ("pub", "$JS.API.STREAM.PURGE.NIANBAO_VERDICTS", False),
        ("pub", "$JS.API.CONSUMER.CREATE.NIANBAO_SUBMISSIONS", False),
        ("pub", "$JS.API.DIRECT.GET.NIANBAO_ROLLUPS.nianbao.rollup.2026.admin.CN", False),
    ],
    "office-bm29": [
        ("sub", f"nianbao.rollup.{Y}.dept.bm29", True),
        ("sub", f"nianbao.rollup.{Y}.dept.bm29.>", True),
        ("sub", f"nianbao.rollup.{Y}.admin.CN.110000", False),
        ("sub", f"nianbao.review.{Y}.admin.CN.110000.>", False),
        ("pub", f"nianbao.rollup.{Y}.dept.bm29", False),
    ],
    "office-CN": [
        ("sub", f"nianbao.rollup.{Y}.admin.CN.>", True),
        ("sub", f"nianbao.rollup.{Y}.dept.bm29", False),
        ("pub", "nianbao.submitted.work-report.1100000088", False),
    ],
    "intake": [
        ("pub", "nianbao.submitted.work-report.1100000088", True),
        ("pub", "nianbao.registry.imported", True),
        ("pub", "nianbao.declared.report.1100000088", True),
        ("pub", f"nianbao.recheck.{Y}.110000", True),
        ("pub", "nianbao.checked.report.1100000088", False),
        ("sub", "_INBOX_intake.>", True),
        ("sub", "_INBOX_validator.>", False),
        ("sub", "_INBOX_office-110000.>", False),
        ("pub", "nianbao.accepted.work-report.1100000088", False),
        ("pub", f"nianbao.rollup.{Y}.admin.CN", False),
        ("pub", "$JS.API.STREAM.DELETE.NIANBAO_SUBMISSIONS", False),
        ("sub", "nianbao.>", False),
    ],
    "validator": [
        ("pub", "nianbao.accepted.work-report.1100000088", True),
        ("sub", "_INBOX_validator.>", True),
        ("sub", "_INBOX_intake.>", False),
        ("pub", "nianbao.rejected.work-report.1100000088", True),
        ("pub", "nianbao.submitted.work-report.1100000088", False),
        ("pub", "nianbao.registry.imported", False),
        ("pub", f"nianbao.rollup.{Y}.admin.CN", False),
        ("pub", "$JS.API.STREAM.PURGE.NIANBAO_SUBMISSIONS", False),
        ("sub", "nianbao.submitted.>", False),
    ],
    "aggregator": [
        ("pub", f"nianbao.rollup.{Y}.admin.CN", True),
        ("pub", "nianbao.registry.imported", False),
        ("sub", "_INBOX_aggregator.>", True),
        ("sub", "_INBOX_publisher.>", False),
        ("pub", "nianbao.submitted.work-report.1100000088", False),
        ("pub", "nianbao.accepted.work-report.1100000088", False),
        ("sub", "nianbao.>", False),
    ],
    "publisher": [
        ("pub", "nianbao.published.1100000088", True),
        ("pub", "nianbao.registry.imported", False),
        ("sub", "_INBOX_publisher.>", True),
        ("sub", "_INBOX_aggregator.>", False),
        ("pub", f"nianbao.rollup.{Y}.admin.CN", False),
        ("pub", "nianbao.submitted.work-report.1100000088", False),
        ("pub", "$JS.API.STREAM.DELETE.NIANBAO_VERDICTS", False),
    ],
    "verifier": [
        ("pub", "nianbao.checked.report.1100000088", True),
        ("sub", f"nianbao.recheck.{Y}.110000", True),
        ("sub", "_INBOX_verifier.>", True),
        ("sub", "_INBOX_intake.>", False),
        ("pub", "nianbao.declared.report.1100000088", False),
        ("pub", "nianbao.accepted.work-report.1100000088", False),
        ("pub", "nianbao.registry.imported", False),
        ("pub", f"nianbao.recheck.{Y}.110000", False),
        ("pub", "$JS.API.STREAM.DELETE.NIANBAO_DECLARATIONS", False),
        ("sub", "nianbao.>", False),
    ],
}
SERVICES = ("intake", "validator", "aggregator", "publisher", "verifier")
#: what no service may do to any stream: only the admin step creates or changes streams
STREAM_VERBS = ("CREATE", "UPDATE", "DELETE", "PURGE")
STREAM_PROBES = [
    ("pub", f"$JS.API.STREAM.{verb}.{stream}", False)
    for verb in STREAM_VERBS
    for stream in ("NIANBAO_SUBMISSIONS", "NIANBAO_REVIEWS", "NIANBAO_VERDICTS")
] + [
    ("pub", "$JS.API.STREAM.MSG.DELETE.NIANBAO_SUBMISSIONS", False),
    ("pub", "$JS.API.STREAM.MSG.GET.NIANBAO_SUBMISSIONS", False),
    ("pub", "$JS.API.CONSUMER.DELETE.NIANBAO_SUBMISSIONS.validator", False),
    ("sub", "_INBOX.>", False),
    ("sub", ">", False),
]
#: every service is woken by registry imports (it reads the last one by direct get)
FOLLOW_PROBES = [("sub", "nianbao.registry.imported", True)]
for _service in SERVICES:
    PROBES[_service] += STREAM_PROBES + FOLLOW_PROBES


async def connect_as(server: NatsServer, user: str, password: str, errors: list[str]) -> Client:
    async def on_error(exc: Exception) -> None:
        errors.append(str(exc).lower())

    options: dict[str, Any] = {"inbox_prefix": f"_INBOX_{user}"}
    return await nats.connect(
        server.url,
        user=user,
        password=password,
        error_cb=on_error,
        allow_reconnect=False,
        **options,
    )


def refused(errors: list[str], kind: str, subject: str) -> bool:
    what = "subscription" if kind == "sub" else "publish"
    return any(f'{what} to "{subject.lower()}"' in e for e in errors)


async def probe(
    server: NatsServer,
    user: str,
    password: str,
    checks: list[tuple[str, str, bool]],
    operator: Client,
    seen: list[str],
) -> None:
    """One user's probes: refusals reported, allowed messages delivered, refused ones not."""
    errors: list[str] = []
    delivered: list[str] = []
    client = await connect_as(server, user, password, errors)

    async def mine(msg: Any) -> None:
        delivered.append(msg.subject)

    try:
        for kind, subject, _allowed in checks:
            if kind == "sub":
                await client.subscribe(subject, cb=mine)
            else:
                await client.publish(subject, f"probe from {user}".encode())
        await client.flush()
        denials = [(k, s) for k, s, allowed in checks if not allowed]

        async def all_refused() -> bool:
            return all(refused(errors, k, s) for k, s in denials)

        await eventually(all_refused, within=10)
        for kind, subject, allowed in checks:
            if allowed:
                assert not refused(errors, kind, subject), (user, kind, subject, errors)
        published = [s for k, s, allowed in checks if k == "pub" and allowed]

        async def arrived() -> bool:
            return all(s in seen for s in published)

        await eventually(arrived, within=10)
        forbidden = {s for k, s, allowed in checks if k == "pub" and not allowed}
        await asyncio.sleep(0.2)  # a refused publish would have arrived by now
        assert not forbidden & set(seen), (user, forbidden & set(seen))
        # live messages on each concrete subject reach only the permitted subscriptions
        concrete = [s for k, s, _a in checks if k == "sub" and "*" not in s and ">" not in s]
        for subject in concrete:
            await operator.publish(subject, b"live")
        await operator.flush()
        permitted = {s for k, s, a in checks if k == "sub" and a and s in concrete}

        async def received() -> bool:
            return permitted <= set(delivered)

        await eventually(received, within=10)
        await asyncio.sleep(0.2)
        assert set(delivered) == permitted, (user, permitted, delivered)
    finally:
        await client.close()


async def test_each_user_against_each_subject_family(
    secured_nats: tuple[NatsServer, dict[str, str]],
    admin: Client,
) -> None:
    server, passwords = secured_nats
    passwords = passwords | {user: f"pw-{user}" for user in SERVICES}
    seen: list[str] = []

    async def collect(msg: Any) -> None:
        seen.append(msg.subject)

    await admin.subscribe("nianbao.>", cb=collect)
    await admin.flush()
    for user, checks in PROBES.items():
        await probe(server, user, passwords[user], checks, admin, seen)
        seen.clear()

    async def quiet(_exc: Exception) -> None:
        pass

    for user, password in (("office-110000", "wrong"), ("admin", ""), ("", "")):
        with pytest.raises(Exception):  # noqa: B017 - refused at connect
            await nats.connect(
                server.url,
                user=user or None,
                password=password or None,
                allow_reconnect=False,
                max_reconnect_attempts=0,
                error_cb=quiet,
            )
    probes = sum(len(c) for c in PROBES.values())
    SECURITY_FIGURES["NATS access probes"] = (
        f"{probes} over {len(PROBES)} users, plus 3 refused logins"
    )


async def test_no_service_can_rewrite_delete_or_purge_a_stream(
    secured_nats: tuple[NatsServer, dict[str, str]], admin: Client
) -> None:
    """Logged in as each service, JetStream's own calls to shrink, seal, purge or delete the audit
    streams are refused; the streams keep their messages and their configuration."""
    from nats.js.errors import Error as JetStreamError

    from shared.contracts import REVIEWS, SUBMISSIONS
    from shared.runtime.messaging import _STREAM_FIELDS, _differences, ensure_streams, stream_config

    server, _ = secured_nats
    admin_js = admin.jetstream()
    await ensure_streams(admin_js, [SUBMISSIONS, REVIEWS], 1)
    for n in range(5):
        await admin_js.publish(f"nianbao.submitted.work-report.site{n}", b"{}")
        await admin_js.publish(f"nianbao.review.{Y}.admin.CN.site{n}", b"{}")
    attempts = 0
    for service in SERVICES:
        errors: list[str] = []
        client = await connect_as(server, service, f"pw-{service}", errors)
        js = client.jetstream(timeout=0.5)
        try:
            for spec in (SUBMISSIONS, REVIEWS):
                wanted = stream_config(spec, 1)
                calls = [
                    js.update_stream(wanted.evolve(max_msgs=1)),
                    js.update_stream(wanted.evolve(sealed=True)),
                    js.purge_stream(spec.name),
                    js.delete_stream(spec.name),
                    js.add_stream(wanted.evolve(name=f"{spec.name}_COPY")),
                ]
                for call in calls:
                    attempts += 1
                    with pytest.raises((JetStreamError, asyncio.TimeoutError, TimeoutError)):
                        await call
        finally:
            await client.close()
        assert any("permissions violation" in e for e in errors), (service, errors)
    for spec in (SUBMISSIONS, REVIEWS):
        info = await admin_js.stream_info(spec.name)
        assert info.state.messages == 5, (spec.name, info.state)
        assert _differences(info.config, stream_config(spec, 1), _STREAM_FIELDS) == {}
    SECURITY_FIGURES["NATS stream changes refused"] = (
        f"{attempts} over {len(SERVICES)} service users (update, seal, purge, delete, create)"
    )


async def test_every_service_reads_the_last_registry_import_and_no_office_does(
    secured_nats: tuple[NatsServer, dict[str, str]],
    admin: Client,
) -> None:
    """Each process of each service follows imports by direct get of the last message."""
    from nats.js.errors import APIError

    from shared.contracts import REGISTRY_CHANGES, REGISTRY_IMPORTED_SUBJECT, STREAMS
    from shared.runtime.messaging import ensure_streams

    server, passwords = secured_nats
    await ensure_streams(admin.jetstream(), STREAMS, 1)
    await admin.jetstream().publish(REGISTRY_IMPORTED_SUBJECT, b'{"probe": 1}')
    for user in SERVICES:
        client = await connect_as(server, user, f"pw-{user}", [])
        try:
            js = client.jetstream()
            last = await js.get_last_msg(
                REGISTRY_CHANGES.name, REGISTRY_IMPORTED_SUBJECT, direct=True
            )
            assert last.data == b'{"probe": 1}', user
        finally:
            await client.close()
    office = await connect_as(server, "office-110000", passwords["office-110000"], [])
    try:
        with pytest.raises((APIError, TimeoutError, nats.errors.Error)):
            await office.jetstream().get_last_msg(
                REGISTRY_CHANGES.name, REGISTRY_IMPORTED_SUBJECT, direct=True
            )
    finally:
        await office.close()


async def test_the_figures_bucket_is_written_by_the_aggregator_and_read_by_the_validator(
    secured_nats: tuple[NatsServer, dict[str, str]],
    admin: Client,
) -> None:
    """The plausibility bucket: the aggregator puts, the validator gets by key, nobody else."""
    server, passwords = secured_nats
    key, body = "site.2026.1100000088", b'{"traffic.unique_visitors": 1}'
    errors: list[str] = []
    aggregator = await connect_as(server, "aggregator", "pw-aggregator", errors)
    validator = await connect_as(server, "validator", "pw-validator", errors)
    office = await connect_as(server, "office-110000", passwords["office-110000"], errors)
    try:
        # the bucket's stream is created by the admin step, as every stream
        await ensure_streams(admin.jetstream(), [FIGURES], 1)
        await (await aggregator.jetstream().key_value(FIGURES_BUCKET)).put(key, body)
        readable = await validator.jetstream().key_value(FIGURES_BUCKET)
        assert (await readable.get(key)).value == body
        with pytest.raises(Exception):  # noqa: B017 - refused: a timeout, never an ack
            await readable.put(key, b"{}")
        direct_get = f"$JS.API.DIRECT.GET.{FIGURES.name}.$KV.{FIGURES_BUCKET}.{key}"

        async def office_refused() -> bool:
            return refused(errors, "pub", direct_get)

        await office.publish(direct_get)
        await office.flush()
        await eventually(office_refused, within=10)
        assert (await readable.get(key)).value == body
    finally:
        for client in (aggregator, validator, office):
            await client.close()


async def test_the_intake_asks_for_a_recheck_and_only_the_verifier_answers(
    secured_nats: tuple[NatsServer, dict[str, str]],
) -> None:
    """Re-check requests are core request/reply: the verifier answers into the intake's own
    inbox; no other service may listen to the requests."""
    server, _ = secured_nats
    errors: list[str] = []
    intake = await connect_as(server, "intake", "pw-intake", errors)
    verifier = await connect_as(server, "verifier", "pw-verifier", errors)
    validator = await connect_as(server, "validator", "pw-validator", errors)
    try:

        async def answer(msg: Any) -> None:
            await msg.respond(b'{"started": true}')

        await verifier.subscribe("nianbao.recheck.*.*", queue="verifier", cb=answer)
        await validator.subscribe("nianbao.recheck.*.*", cb=answer)
        await verifier.flush()
        await validator.flush()
        reply = await intake.request(f"nianbao.recheck.{Y}.110000", b"", timeout=5)
        assert reply.data == b'{"started": true}'
        assert reply.subject.startswith("_INBOX_intake.")

        async def validator_refused() -> bool:
            return refused(errors, "sub", "nianbao.recheck.*.*")

        await eventually(validator_refused, within=10)
    finally:
        for client in (intake, verifier, validator):
            await client.close()

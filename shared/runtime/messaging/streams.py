"""Streams checked (services) or reconciled (the admin step), durable consumers reconciled."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any, Literal

from nats.js import JetStreamContext
from nats.js import api as js_api
from nats.js.errors import NotFoundError

from shared.contracts import StreamSpec
from shared.topology import ConsumerSpec

log = logging.getLogger(__name__)


#: deliveries the server makes of one message: no limit (``ConsumerSpec.max_deliver`` bounds the
#: handler's failures instead, counted by the stage; the server cannot tell them from crashes)
SERVER_MAX_DELIVER = -1


class TopologyDrift(RuntimeError):
    """The server's stream or consumer differs from the code (and this process may not, or the
    server cannot, bring it in line)."""


def consumer_config(spec: ConsumerSpec) -> js_api.ConsumerConfig:
    """The server's form of a durable consumer the code wants."""
    return js_api.ConsumerConfig(
        durable_name=spec.durable,
        name=spec.durable,
        description=spec.description or None,
        ack_policy=js_api.AckPolicy.EXPLICIT,
        deliver_policy=js_api.DeliverPolicy(spec.deliver_policy),
        # unlimited on the server: a delivery to a process that was killed is no failure; the
        # stage dead-letters after ``spec.max_deliver`` failures of its handler (BatchStage)
        max_deliver=SERVER_MAX_DELIVER,
        ack_wait=spec.ack_wait_seconds,
        max_ack_pending=spec.max_ack_pending,
        filter_subjects=list(spec.filter_subjects),
    )


def stream_config(spec: StreamSpec, replicas: int) -> js_api.StreamConfig:
    """The server's form of a stream the code wants, every limit spelled out (the server's own
    defaults), so that a change to any of them shows as a difference."""
    return js_api.StreamConfig(
        name=spec.name,
        subjects=list(spec.subjects),
        description=spec.description,
        retention=js_api.RetentionPolicy.LIMITS,
        storage=js_api.StorageType.FILE,
        max_consumers=-1,
        max_msgs=-1,
        max_bytes=-1,
        max_msg_size=-1,
        discard=js_api.DiscardPolicy.OLD,
        max_age=spec.max_age_seconds,
        max_msgs_per_subject=spec.max_msgs_per_subject,
        num_replicas=replicas,
        duplicate_window=spec.duplicate_window_seconds,
        sealed=False,
        deny_delete=spec.deny_delete,
        deny_purge=spec.deny_purge,
        allow_rollup_hdrs=False,
        allow_direct=True,
    )


#: every field of a stream that decides what it keeps, refuses or loses
_STREAM_FIELDS = (
    "subjects",
    "retention",
    "storage",
    "num_replicas",
    "max_consumers",
    "max_msgs",
    "max_bytes",
    "max_age",
    "max_msgs_per_subject",
    "max_msg_size",
    "discard",
    "discard_new_per_subject",
    "duplicate_window",
    "sealed",
    "deny_delete",
    "deny_purge",
    "allow_rollup_hdrs",
    "allow_direct",
    "no_ack",
    "mirror",
    "sources",
    "republish",
    "subject_transform",
    "allow_msg_ttl",
)
_CONSUMER_FIELDS = (
    "ack_policy",
    "deliver_policy",
    "max_deliver",
    "ack_wait",
    "max_ack_pending",
    "filter_subjects",
)
#: fields the server may leave out when they hold their default
_FLAGS = {
    "sealed",
    "deny_delete",
    "deny_purge",
    "allow_rollup_hdrs",
    "allow_direct",
    "no_ack",
    "discard_new_per_subject",
    "allow_msg_ttl",
}
_LIMITS = {"max_consumers", "max_msgs", "max_bytes", "max_msg_size", "max_msgs_per_subject"}


def _normal(name: str, value: Any) -> Any:
    if name in _FLAGS:
        return bool(value)
    if name in _LIMITS:
        return -1 if value is None or value < 0 else value
    if name in ("max_age", "duplicate_window"):
        return float(value or 0)
    if name == "subjects":
        return sorted(value or [])
    if name in ("sources",):
        return value or None
    return value


def _differences(current: Any, wanted: Any, fields: Sequence[str]) -> dict[str, tuple[Any, Any]]:
    out = {}
    for name in fields:
        have, want = getattr(current, name), getattr(wanted, name)
        if name == "filter_subjects":
            have = sorted(have or ([current.filter_subject] if current.filter_subject else []))
            want = sorted(want or [])
        else:
            have, want = _normal(name, have), _normal(name, want)
        if have != want:
            out[name] = (have, want)
    return out


def describe(drift: dict[str, tuple[Any, Any]]) -> str:
    """``deliver_policy: server has 'new', the code wants 'all'; ...`` for operators."""

    def plain(value: Any) -> Any:
        return value.value if isinstance(value, Enum) else value

    return "; ".join(
        f"{name}: server has {plain(have)!r}, the code wants {plain(want)!r}"
        for name, (have, want) in drift.items()
    )


#: what an operator runs to create or update the streams (services only check them)
ADMIN_STEP = "run `nianbao deploy streams` with the admin NATS user"


@dataclass(frozen=True)
class StreamChange:
    """What the admin step did to one stream: created, updated (with what differed), or kept."""

    name: str
    action: Literal["created", "updated", "unchanged"]
    drift: dict[str, tuple[Any, Any]]


async def ensure_streams(
    js: JetStreamContext, specs: Sequence[StreamSpec], replicas: int
) -> list[StreamChange]:
    """The admin step: create missing streams and update drifted ones to the code, or raise
    TopologyDrift when the server refuses (a sealed stream, another storage or retention)."""
    changes = []
    for spec in specs:
        wanted = stream_config(spec, replicas)
        try:
            info = await js.stream_info(spec.name)
        except NotFoundError:
            await js.add_stream(wanted)
            log.info("stream created: %s", spec.name)
            changes.append(StreamChange(spec.name, "created", {}))
            continue
        drift = _differences(info.config, wanted, _STREAM_FIELDS)
        if not drift:
            changes.append(StreamChange(spec.name, "unchanged", {}))
            continue
        log.warning("stream %s differs from the code: %s; updating", spec.name, describe(drift))
        try:
            await js.update_stream(wanted)
        except Exception as exc:
            raise TopologyDrift(
                f"stream {spec.name} cannot be updated: {describe(drift)}: {exc}"
            ) from exc
        info = await js.stream_info(spec.name)
        left = _differences(info.config, wanted, _STREAM_FIELDS)
        if left:
            raise TopologyDrift(f"stream {spec.name} still differs after update: {describe(left)}")
        changes.append(StreamChange(spec.name, "updated", drift))
    return changes


async def check_streams(js: JetStreamContext, specs: Sequence[StreamSpec], replicas: int) -> None:
    """A service's start: every stream it uses exists exactly as the code wants it, or
    TopologyDrift naming each field that differs. A service never updates a stream; it creates
    a missing one only when its user may (the embedded system: no NATS users)."""
    for spec in specs:
        wanted = stream_config(spec, replicas)
        try:
            info = await js.stream_info(spec.name)
        except NotFoundError:
            try:
                await js.add_stream(wanted)
            except Exception as exc:
                raise TopologyDrift(
                    f"stream {spec.name} is missing and this user cannot create it: "
                    f"{ADMIN_STEP}: {exc!r}"
                ) from exc
            log.info("stream created: %s", spec.name)
            continue
        drift = _differences(info.config, wanted, _STREAM_FIELDS)
        if drift:
            raise TopologyDrift(
                f"stream {spec.name} differs from the code: {describe(drift)}; "
                f"refusing to run on it ({ADMIN_STEP} once the change is understood)"
            )


async def ensure_consumer(js: JetStreamContext, spec: ConsumerSpec) -> None:
    """Create the durable, or update it to the code's config, or raise TopologyDrift."""
    wanted = consumer_config(spec)
    try:
        info = await js.consumer_info(spec.stream.name, spec.durable)
    except NotFoundError:
        await js.add_consumer(spec.stream.name, wanted)
        log.info("consumer created: %s/%s", spec.stream.name, spec.durable)
        return
    drift = _differences(info.config, wanted, _CONSUMER_FIELDS)
    if not drift:
        return
    log.warning("consumer %s differs from the code: %s; updating", spec.durable, describe(drift))
    try:
        await js.add_consumer(spec.stream.name, wanted)
    except Exception as exc:
        raise TopologyDrift(
            f"consumer {spec.durable} cannot be updated: {describe(drift)}: {exc}"
        ) from exc
    info = await js.consumer_info(spec.stream.name, spec.durable)
    left = _differences(info.config, wanted, _CONSUMER_FIELDS)
    if left:
        raise TopologyDrift(f"consumer {spec.durable} still differs after update: {describe(left)}")

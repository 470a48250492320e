"""Reconciling streams and durable consumers with the code at start (or TopologyDrift)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from enum import Enum
from typing import Any

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
    """The server's stream or consumer differs from the code and cannot be updated in place."""


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
    return js_api.StreamConfig(
        name=spec.name,
        subjects=list(spec.subjects),
        description=spec.description,
        retention=js_api.RetentionPolicy.LIMITS,
        storage=js_api.StorageType.FILE,
        max_age=spec.max_age_seconds,
        max_msgs_per_subject=spec.max_msgs_per_subject,
        num_replicas=replicas,
        duplicate_window=spec.duplicate_window_seconds,
        deny_delete=spec.deny_delete,
        deny_purge=spec.deny_purge,
        allow_direct=True,
    )


_STREAM_FIELDS = (
    "subjects",
    "retention",
    "storage",
    "max_age",
    "max_msgs_per_subject",
    "num_replicas",
    "duplicate_window",
    "deny_delete",
    "deny_purge",
)
_CONSUMER_FIELDS = (
    "ack_policy",
    "deliver_policy",
    "max_deliver",
    "ack_wait",
    "max_ack_pending",
    "filter_subjects",
)


def _differences(current: Any, wanted: Any, fields: Sequence[str]) -> dict[str, tuple[Any, Any]]:
    out = {}
    for name in fields:
        have, want = getattr(current, name), getattr(wanted, name)
        if name == "filter_subjects":
            have = sorted(have or ([current.filter_subject] if current.filter_subject else []))
            want = sorted(want or [])
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


async def ensure_streams(js: JetStreamContext, specs: Sequence[StreamSpec], replicas: int) -> None:
    """Create missing streams; update drifted ones, or raise TopologyDrift when refused."""
    for spec in specs:
        wanted = stream_config(spec, replicas)
        try:
            info = await js.stream_info(spec.name)
        except NotFoundError:
            await js.add_stream(wanted)
            log.info("stream created: %s", spec.name)
            continue
        drift = _differences(info.config, wanted, _STREAM_FIELDS)
        if not drift:
            continue
        log.warning("stream %s differs from the code: %s; updating", spec.name, describe(drift))
        try:
            await js.update_stream(wanted)
        except Exception as exc:
            raise TopologyDrift(
                f"stream {spec.name} cannot be updated: {describe(drift)}: {exc}"
            ) from exc


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

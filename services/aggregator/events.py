"""The events the aggregator publishes: roll-ups of nodes, and aggregated verdicts."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
from pydantic import PrivateAttr

from services.aggregator.books import Books, FilingKey
from services.aggregator.ports import Message, Publish
from shared.contracts import (
    ReportAggregated,
    ReportJudged,
    RollupUpdated,
    SiteStatus,
    aggregated_subject,
    rollup_subject,
)
from shared.rollup import NodeRollup

#: a roll-up event lists at most this many missing sites; pages list them all
MISSING_IN_EVENT = 200


class EncodedRollupUpdated(RollupUpdated):
    """A roll-up event with its JSON, encoded when it was built: ``publish_all`` sends these
    bytes as they are (the body is not serialized a second time)."""

    _json: bytes = PrivateAttr(default=b"")

    @property
    def encoded_json(self) -> bytes:
        return self._json


#: where a roll-up's body goes in an event's JSON dumped with an empty one
_EMPTY_BODY = b'"rollup":{}'


def rollup_event(rollup: NodeRollup) -> RollupUpdated:
    # serialized once: the digest is of the whole roll-up, every missing site included (a
    # tally's keys come in a fixed order, every tally starting from the zero tally, so equal
    # roll-ups give equal bytes), and the body is read back from the same bytes
    whole = rollup.model_dump_json().encode()
    digest = hashlib.sha256(whole).hexdigest()
    body: dict[str, Any] = orjson.loads(whole)
    missing = body["tally"]["missing_sites"]
    truncated = len(missing) > MISSING_IN_EVENT
    fields: dict[str, Any] = {
        "year": rollup.year,
        "tree": rollup.tree,
        "node": rollup.node,
        "path": rollup.path,
        "missing_sites_truncated": truncated,
        "digest": digest,
    }
    # every field is built here from a valid roll-up: constructed, not validated again
    event = EncodedRollupUpdated.model_construct(**fields, rollup=body)
    if truncated:
        body["tally"]["missing_sites"] = missing[:MISSING_IN_EVENT]
        event._json = event.model_dump_json().encode()
    else:
        # the body's JSON is the whole roll-up's: spliced into the event's, not dumped again
        shell = RollupUpdated.model_construct(**fields, rollup={}).model_dump_json().encode()
        at = shell.index(_EMPTY_BODY) + len(_EMPTY_BODY) - 2
        event._json = shell[:at] + whole + shell[at + 2 :]
    return event


def rollup_message(rollup: NodeRollup) -> Message:
    event = rollup_event(rollup)
    subject = rollup_subject(event.year, event.tree, event.path)
    # a roll-up is state, kept last per subject: never deduplicated by its content, or a node
    # that goes A -> B -> A within the duplicate window (a replay, an amendment undone) keeps B
    return subject, event, f"rollup:{event.year}:{event.node}:{event.digest}:{uuid.uuid4().hex}"


def rollup_messages(rollups: list[NodeRollup]) -> list[Message]:
    return [rollup_message(r) for r in rollups]


#: roll-up events built and sent this many at a time: every node's at once (at start, after an
#: import, in a burst's batch) held ~38 MiB of events at national scale (3,568 nodes)
ROLLUP_CHUNK = 256


async def publish_rollups(publish: Publish, rollups: Sequence[NodeRollup]) -> None:
    """Send the roll-ups' events in order, building them a chunk at a time."""
    for start in range(0, len(rollups), ROLLUP_CHUNK):
        await publish(rollup_messages(list(rollups[start : start + ROLLUP_CHUNK])))


class RollupSender:
    """Sends roll-up events; a roll-up whose send failed stays owed, and goes with the next
    send as the books have it then. The books count a batch before its roll-ups are sent: when
    the send fails (no PubAck while a NATS node is lost) the batch's retry finds nothing
    changed, and without this its nodes would keep their old roll-up until their next change."""

    def __init__(self, books: Books, publish: Publish) -> None:
        self.books = books
        self.publish = publish
        #: (year, node) of the roll-ups of a failed send
        self.owed: set[tuple[int, str]] = set()

    def owe(self, rollups: Sequence[NodeRollup]) -> None:
        """The books changed these roll-ups: owed until a send succeeds (whatever fails in the
        handler between the count and the send, e.g. the figures' put)."""
        self.owed |= {(r.year, r.node) for r in rollups}

    async def send(self, rollups: Sequence[NodeRollup]) -> None:
        given = {(r.year, r.node) for r in rollups}
        owed = [
            self.books.book(year).rollup(node)
            for year, node in sorted(self.owed - given)
            if node in self.books.registry.nodes  # an import may have removed it since
        ]
        self.owed |= given
        await publish_rollups(self.publish, [*owed, *rollups])
        self.owed.clear()


def site_status(books: Books, key: FilingKey) -> SiteStatus:
    """Where a filing stands, as an event carries it."""
    code, form, year = key
    current = books.standing(key)
    counted = current.counted
    returned = current.returned
    return SiteStatus(
        code=code,
        form=form,
        year=year,
        status=current.status,
        counted_receipt=counted.receipt_id if counted else None,
        counted_version=counted.version if counted else None,
        received_at=counted.received_at if counted else None,
        deadline=books.deadlines.deadline(code, year),
        locked=current.locked,
        returned_receipt=returned.receipt_id if returned else None,
        return_reason=returned.reason if returned else None,
    )


def aggregated_message(books: Books, verdict: ReportJudged, cause: str = "") -> Message:
    """The verdict counted, with its filing's standing; a ``cause`` other than the verdict itself
    (a review, a deadline) makes it a distinct message, never dropped as a duplicate."""
    key = (verdict.code, verdict.form, verdict.year)
    in_tree = books.in_tree(verdict.code, verdict.form)
    # the verdict was validated when it was decoded: its fields are taken as they are (a
    # dump and a validation of the whole report per verdict spared)
    fields = {name: getattr(verdict, name) for name in ReportJudged.model_fields}
    event = ReportAggregated.model_construct(
        **fields,
        aggregated_at=datetime.now(UTC),
        status=site_status(books, key),
        nodes=books.registry.site_ancestors(verdict.code) if in_tree else [],
    )
    subject = aggregated_subject(verdict.form, verdict.code)
    suffix = f":{cause}" if cause else ""
    return subject, event, f"aggregated:{verdict.receipt_id}{suffix}"

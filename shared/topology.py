"""Who reads and writes what on NATS: every service's durable consumers and published subjects.

The one description of the event flow: each service's composition root builds its consumers and
publishers from it, the AsyncAPI document and the NATS permissions of each service user are
generated from it, and a test checks that every service's broker declares exactly this.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict

from shared.contracts import (
    ACCEPTED,
    AGGREGATED,
    CHECKED,
    CHECKS,
    DEAD_LETTERS,
    DEADLINE,
    DEADLINES,
    DECLARATIONS,
    DECLARED,
    FIGURES,
    JUDGED,
    PROGRESS,
    PUBLISHED,
    RECHECK,
    REGISTRY,
    REGISTRY_CHANGES,
    REGISTRY_IMPORTED_SUBJECT,
    REJECTED,
    REMINDER,
    REMINDERS,
    REVIEW,
    REVIEWS,
    ROLLUP,
    ROLLUPS,
    STREAMS,
    SUBMISSIONS,
    SUBMITTED,
    VERDICTS,
    DeadlineSet,
    Event,
    PagesPublished,
    RegistryImported,
    ReminderDue,
    ReportAccepted,
    ReportAggregated,
    ReportRejected,
    ReportSubmitted,
    ReviewRecorded,
    RollupUpdated,
    StreamSpec,
    SubjectFamily,
)
from shared.publication import (
    PublicationChecked,
    PublicationDeclared,
    PublicationJudged,
    RecheckAnswered,
    RecheckRequested,
)

DeliverPolicy = Literal["all", "new", "last", "last_per_subject"]


class ConsumerSpec(BaseModel):
    """A durable pull consumer as the code wants it (reconciled with the server at start)."""

    model_config = ConfigDict(frozen=True)

    durable: str
    stream: StreamSpec
    filter_subjects: tuple[str, ...]
    #: the handler's failures after which a message is dead-lettered
    max_deliver: int = 8
    #: deliveries after which a message that was never answered (every process handling it was
    #: killed or stalled past ``ack_wait``) is dead-lettered before the handler sees it again
    crash_deliveries: int = 50
    ack_wait_seconds: float = 60
    #: delays (s) before redelivery after the 1st, 2nd, ... failure; the last repeats
    backoff_seconds: tuple[float, ...] = (0.5, 2, 5, 15, 30)
    max_ack_pending: int = 5000
    deliver_policy: DeliverPolicy = "all"
    description: str = ""

    def delay_after(self, deliveries: int) -> float:
        index = min(max(deliveries - 1, 0), len(self.backoff_seconds) - 1)
        return self.backoff_seconds[index]


@dataclass(frozen=True)
class Publication:
    """Events a service publishes: one subject family into one stream."""

    family: SubjectFamily
    stream: StreamSpec
    event: type[Event]
    title: str


@dataclass(frozen=True)
class Followed:
    """A subject whose last message every process of a service reads by direct get (no durable:
    each replica follows it on its own)."""

    subject: str
    stream: StreamSpec
    event: type[Event]


@dataclass(frozen=True)
class Request:
    """A core NATS request/reply (no stream): the asker waits for one answer in its own inbox,
    and tells its caller the answerer is unavailable when none comes in time."""

    family: SubjectFamily
    request: type[BaseModel]
    answer: type[BaseModel]
    title: str
    description: str

    @property
    def template(self) -> str:
        return self.family.template


RECHECK_REQUEST = Request(
    RECHECK,
    RecheckRequested,
    RecheckAnswered,
    "re-check requested",
    "core NATS request/reply, no stream: an office asks (through the intake) that every "
    "publication of a node's subtree be checked now; one verifier replica answers (queue group "
    "verifier), refusing while a re-check runs; no answer within 5 s is a 503 at the intake",
)

#: registry imports: every process of every service switches to the registry the last one names
REGISTRY_FOLLOWED = Followed(REGISTRY_IMPORTED_SUBJECT, REGISTRY_CHANGES, RegistryImported)


@dataclass(frozen=True)
class ServiceTopology:
    """What one service reads (durables, followed subjects) and writes (subject families)."""

    name: str
    consumers: tuple[ConsumerSpec, ...]
    publications: tuple[Publication, ...]
    #: core NATS request/reply (no stream): what it asks, what it answers
    requests: tuple[Request, ...] = ()
    answers: tuple[Request, ...] = ()
    follows: tuple[Followed, ...] = (REGISTRY_FOLLOWED,)
    #: key-value buckets (streams ``KV_<bucket>``) it writes and reads by key
    buckets_written: tuple[StreamSpec, ...] = ()
    buckets_read: tuple[StreamSpec, ...] = ()

    def consumer(self, durable: str) -> ConsumerSpec:
        return next(c for c in self.consumers if c.durable == durable)

    @property
    def streams(self) -> tuple[StreamSpec, ...]:
        """The streams it reads (durables, followed subjects) or writes (its dead letters
        included), in STREAMS order."""
        used = {c.stream.name for c in self.consumers} | {p.stream.name for p in self.publications}
        used |= {f.stream.name for f in self.follows}
        used |= {b.name for b in (*self.buckets_written, *self.buckets_read)}
        return tuple(s for s in STREAMS if s.name in used or s is DEAD_LETTERS)

    @property
    def inbox_prefix(self) -> str:
        """Where its replies and pulled messages arrive (its NATS user may read only these)."""
        return inbox_prefix(self.name)


def inbox_prefix(user: str) -> str:
    """``_INBOX_<user>``: a NATS user's own inbox prefix (``inbox_prefix`` in nats-py), so that
    no user reads another's replies."""
    return f"_INBOX_{user}"


INTAKE = ServiceTopology(
    name="intake",
    consumers=(
        ConsumerSpec(
            durable="intake-verdicts",
            stream=VERDICTS,
            # an accepted verdict reaches the receipt with its aggregated event, which carries it
            filter_subjects=(REJECTED.everything,),
            description="intake: receipts learn they are rejected",
        ),
        ConsumerSpec(
            durable="intake-aggregated",
            stream=PROGRESS,
            filter_subjects=(AGGREGATED.everything,),
            description="intake: receipts learn they are counted",
        ),
        ConsumerSpec(
            durable="intake-published",
            stream=PROGRESS,
            filter_subjects=(PUBLISHED.everything,),
            description="intake: receipts learn their page URLs",
        ),
        ConsumerSpec(
            durable="intake-reminders",
            stream=REMINDERS,
            filter_subjects=(REMINDER.everything,),
            description="intake: the reminders each office sees at the console",
        ),
    ),
    publications=(
        Publication(SUBMITTED, SUBMISSIONS, ReportSubmitted, "submitted"),
        Publication(REVIEW, REVIEWS, ReviewRecorded, "review"),
        Publication(DEADLINE, DEADLINES, DeadlineSet, "deadline"),
        Publication(DECLARED, DECLARATIONS, PublicationDeclared, "publication declared"),
        Publication(JUDGED, DECLARATIONS, PublicationJudged, "publication judged by an office"),
        Publication(REGISTRY, REGISTRY_CHANGES, RegistryImported, "registry imported"),
    ),
    requests=(RECHECK_REQUEST,),
)

VALIDATOR = ServiceTopology(
    name="validator",
    consumers=(
        ConsumerSpec(
            durable="validator",
            stream=SUBMISSIONS,
            filter_subjects=(SUBMITTED.everything,),
            description="validator: judges every submission",
        ),
    ),
    publications=(
        Publication(ACCEPTED, VERDICTS, ReportAccepted, "verdict accepted"),
        Publication(REJECTED, VERDICTS, ReportRejected, "verdict rejected"),
    ),
    buckets_read=(FIGURES,),
)

AGGREGATOR = ServiceTopology(
    name="aggregator",
    consumers=(
        ConsumerSpec(
            durable="aggregator",
            stream=VERDICTS,
            filter_subjects=(ACCEPTED.everything, REJECTED.everything),
            description="aggregator: counts every verdict in the roll-ups",
        ),
        ConsumerSpec(
            durable="aggregator-reviews",
            stream=REVIEWS,
            filter_subjects=(REVIEW.in_tree("admin"),),
            description="aggregator: returned reports and locks (each action once, by its "
            "admin copy)",
        ),
        ConsumerSpec(
            durable="aggregator-deadlines",
            stream=DEADLINES,
            filter_subjects=(DEADLINE.everything,),
            description="aggregator: internal deadlines of provinces and departments",
        ),
        ConsumerSpec(
            durable="aggregator-declarations",
            stream=DECLARATIONS,
            filter_subjects=(DECLARED.everything,),
            description="aggregator: where sites declare they published (counted as declared)",
        ),
        ConsumerSpec(
            durable="aggregator-judgements",
            stream=DECLARATIONS,
            filter_subjects=(JUDGED.everything,),
            description="aggregator: offices' own judgements of a site's publication",
        ),
        ConsumerSpec(
            durable="aggregator-checks",
            stream=CHECKS,
            filter_subjects=(CHECKED.everything,),
            description="aggregator: the verifier's state of each publication",
        ),
    ),
    publications=(
        Publication(ROLLUP, ROLLUPS, RollupUpdated, "roll-up"),
        Publication(AGGREGATED, PROGRESS, ReportAggregated, "aggregated"),
        Publication(REMINDER, REMINDERS, ReminderDue, "reminder"),
    ),
    buckets_written=(FIGURES,),
)

PUBLISHER = ServiceTopology(
    name="publisher",
    consumers=(
        ConsumerSpec(
            durable="publisher-aggregated",
            stream=PROGRESS,
            filter_subjects=(AGGREGATED.everything,),
            description="publisher: versions and standings of every filing",
        ),
        ConsumerSpec(
            durable="publisher-rollups",
            stream=ROLLUPS,
            filter_subjects=(ROLLUP.everything,),
            description="publisher: every node's roll-up",
        ),
        ConsumerSpec(
            durable="publisher-reviews",
            stream=REVIEWS,
            filter_subjects=(REVIEW.in_tree("admin"),),
            description="publisher: review actions for the sites' version history",
        ),
    ),
    publications=(Publication(PUBLISHED, PROGRESS, PagesPublished, "published"),),
)

VERIFIER = ServiceTopology(
    name="verifier",
    consumers=(
        ConsumerSpec(
            durable="verifier-accepted",
            stream=VERDICTS,
            filter_subjects=(ACCEPTED.everything,),
            description="verifier: an accepted report is checked on the site (hash, figures)",
        ),
        ConsumerSpec(
            durable="verifier-declarations",
            stream=DECLARATIONS,
            filter_subjects=(DECLARED.everything,),
            description="verifier: where sites and offices declare they published",
        ),
    ),
    publications=(Publication(CHECKED, CHECKS, PublicationChecked, "publication checked"),),
    answers=(RECHECK_REQUEST,),
)

SERVICES: dict[str, ServiceTopology] = {
    s.name: s for s in (INTAKE, VALIDATOR, AGGREGATOR, PUBLISHER, VERIFIER)
}

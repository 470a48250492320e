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
    DEADLINE,
    DEADLINES,
    DECLARATIONS,
    DECLARED,
    JUDGED,
    PROGRESS,
    PUBLISHED,
    RECHECK,
    REJECTED,
    REMINDER,
    REMINDERS,
    REVIEW,
    REVIEWS,
    ROLLUP,
    ROLLUPS,
    SUBMISSIONS,
    SUBMITTED,
    VERDICTS,
    DeadlineSet,
    Event,
    PagesPublished,
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
from shared.publication import PublicationChecked, PublicationDeclared, PublicationJudged

DeliverPolicy = Literal["all", "new", "last", "last_per_subject"]


class ConsumerSpec(BaseModel):
    """A durable pull consumer as the code wants it (reconciled with the server at start)."""

    model_config = ConfigDict(frozen=True)

    durable: str
    stream: StreamSpec
    filter_subjects: tuple[str, ...]
    max_deliver: int = 8
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
class ServiceTopology:
    """What one service reads (durables) and writes (subject families) on NATS."""

    name: str
    consumers: tuple[ConsumerSpec, ...]
    publications: tuple[Publication, ...]
    #: core NATS request/reply (no stream): families it asks on, families it answers
    requests: tuple[SubjectFamily, ...] = ()
    answers: tuple[SubjectFamily, ...] = ()

    def consumer(self, durable: str) -> ConsumerSpec:
        return next(c for c in self.consumers if c.durable == durable)


INTAKE = ServiceTopology(
    name="intake",
    consumers=(
        ConsumerSpec(
            durable="intake-verdicts",
            stream=VERDICTS,
            filter_subjects=(ACCEPTED.everything, REJECTED.everything),
            description="intake: receipts learn their verdict",
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
    ),
    publications=(
        Publication(SUBMITTED, SUBMISSIONS, ReportSubmitted, "submitted"),
        Publication(REVIEW, REVIEWS, ReviewRecorded, "review"),
        Publication(DEADLINE, DEADLINES, DeadlineSet, "deadline"),
        Publication(DECLARED, DECLARATIONS, PublicationDeclared, "publication declared"),
        Publication(JUDGED, DECLARATIONS, PublicationJudged, "publication judged by an office"),
    ),
    requests=(RECHECK,),
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
    answers=(RECHECK,),
)

SERVICES: dict[str, ServiceTopology] = {
    s.name: s for s in (INTAKE, VALIDATOR, AGGREGATOR, PUBLISHER, VERIFIER)
}

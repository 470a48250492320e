"""Event contracts, subjects and streams: every message that crosses a service boundary.

Events are frozen pydantic models named as past facts, each with a ``schema_version``. A breaking
change is a new version. Subjects and stream definitions are constants here and nowhere else.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.filings import Outcome, Status

PREFIX = "nianbao"

#: a code, receipt id or form id as it may appear in a subject token, a URL path or a file name
CODE_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
TOKEN_RE = re.compile(CODE_PATTERN)


def safe_token(value: str) -> str:
    """Refuse anything that could change a subject's shape (dots, wildcards, spaces)."""
    if not TOKEN_RE.fullmatch(value):
        raise ValueError(f"not a safe subject token: {value!r}")
    return value


# ---------------------------------------------------------------- subjects


@dataclass(frozen=True)
class SubjectFamily:
    """One kind of subject: ``nianbao.{kind}.{token}...``. A last ``path`` token spans the node's
    path from its root (several tokens), so a subtree is a wildcard."""

    kind: str
    tokens: tuple[str, ...]

    @property
    def template(self) -> str:
        """``nianbao.rollup.{year}.{tree}.{path}``: how the family is documented."""
        return ".".join([PREFIX, self.kind, *(f"{{{t}}}" for t in self.tokens)])

    @property
    def everything(self) -> str:
        """``nianbao.rollup.>``: every subject of the family."""
        return f"{PREFIX}.{self.kind}.>"

    def in_tree(self, tree: str) -> str:
        """``nianbao.review.*.admin.>``: all of one tree (families keyed by year and tree)."""
        assert self.tokens[:2] == ("year", "tree"), self
        return f"{PREFIX}.{self.kind}.*.{safe_token(tree)}.>"

    def subject(self, *values: object) -> str:
        """The subject of these token values; a ``path`` is a sequence of node codes."""
        parts: list[str] = []
        for name, value in zip(self.tokens, values, strict=True):
            if name == "path":
                assert not isinstance(value, str), "a path is a sequence of codes"
                parts += [safe_token(str(v)) for v in value]  # type: ignore[attr-defined]
            else:
                parts.append(str(value) if name == "year" else safe_token(str(value)))
        return ".".join([PREFIX, self.kind, *parts])


SUBMITTED = SubjectFamily("submitted", ("form", "code"))
ACCEPTED = SubjectFamily("accepted", ("form", "code"))
REJECTED = SubjectFamily("rejected", ("form", "code"))
AGGREGATED = SubjectFamily("aggregated", ("form", "code"))
PUBLISHED = SubjectFamily("published", ("code",))
ROLLUP = SubjectFamily("rollup", ("year", "tree", "path"))
REVIEW = SubjectFamily("review", ("year", "tree", "path"))
REMINDER = SubjectFamily("reminder", ("year", "tree", "path"))
DEADLINE = SubjectFamily("deadline", ("year", "node"))
DEAD_LETTER = SubjectFamily("dlq", ("stage",))
#: where a site or office published its report: ``nianbao.declared.{kind}.{code}``
DECLARED = SubjectFamily("declared", ("kind", "code"))
#: an office's own judgement of a site's publication: ``nianbao.judged.{code}``
JUDGED = SubjectFamily("judged", ("code",))
#: the verifier's state of one publication after a check: ``nianbao.checked.{kind}.{code}``
CHECKED = SubjectFamily("checked", ("kind", "code"))
#: an office asks the verifier (request/reply, no stream) to re-check its subtree now
RECHECK = SubjectFamily("recheck", ("year", "node"))
REGISTRY = SubjectFamily("registry", ("change",))


def submitted_subject(form: str, code: str) -> str:
    return SUBMITTED.subject(form, code)


def accepted_subject(form: str, code: str) -> str:
    return ACCEPTED.subject(form, code)


def rejected_subject(form: str, code: str) -> str:
    return REJECTED.subject(form, code)


def aggregated_subject(form: str, code: str) -> str:
    return AGGREGATED.subject(form, code)


def published_subject(code: str) -> str:
    return PUBLISHED.subject(code)


def rollup_subject(year: int, tree: str, path: list[str]) -> str:
    """``nianbao.rollup.2025.admin.CN.130000.130100``: root first, so a subtree is a wildcard."""
    return ROLLUP.subject(year, tree, path)


def review_subject(year: int, tree: str, path: list[str], code: str) -> str:
    """``nianbao.review.2026.admin.CN.510000.510900.510903.5109030001``: under the site's node."""
    return REVIEW.subject(year, tree, [*path, code])


def reminder_subject(year: int, tree: str, path: list[str]) -> str:
    return REMINDER.subject(year, tree, path)


def deadline_subject(year: int, node: str) -> str:
    return DEADLINE.subject(year, node)


def subtree_subjects(kind: str, year: int | str, tree: str, path: list[str]) -> list[str]:
    """The subjects of one kind (rollup, review, reminder) for a node and everything below it."""
    base = f"{PREFIX}.{kind}.{year}.{safe_token(tree)}." + ".".join(safe_token(p) for p in path)
    return [base, base + ".>"]


def rollup_subtree_subjects(year: int | str, tree: str, path: list[str]) -> list[str]:
    """The two subjects a supervisor subscribes to for a node and everything below it."""
    return subtree_subjects(ROLLUP.kind, year, tree, path)


def dead_letter_subject(stage: str) -> str:
    return DEAD_LETTER.subject(stage)


#: the one subject of registry imports: every service process reads its last message
REGISTRY_IMPORTED_SUBJECT = REGISTRY.subject("imported")


# ---------------------------------------------------------------- streams


class StreamSpec(BaseModel):
    """What a stream must look like; reconciled at start by shared.runtime.messaging."""

    model_config = ConfigDict(frozen=True)

    name: str
    subjects: tuple[str, ...]
    description: str
    max_age_seconds: float = 0  # 0 = keep forever
    max_msgs_per_subject: int = -1
    deny_delete: bool = False
    deny_purge: bool = False
    duplicate_window_seconds: float = 120


SUBMISSIONS = StreamSpec(
    name="NIANBAO_SUBMISSIONS",
    subjects=(SUBMITTED.everything,),
    description="Every submission that got a 202: the audit log. Kept forever, never purged.",
    deny_delete=True,
    deny_purge=True,
)
VERDICTS = StreamSpec(
    name="NIANBAO_VERDICTS",
    subjects=(ACCEPTED.everything, REJECTED.everything),
    description="The validator's judgement of each submission. Kept forever.",
)
PROGRESS = StreamSpec(
    name="NIANBAO_PROGRESS",
    subjects=(AGGREGATED.everything, PUBLISHED.everything),
    description="Aggregated and published stages, for receipts. Kept 400 days.",
    max_age_seconds=400 * 86400,
)
ROLLUPS = StreamSpec(
    name="NIANBAO_ROLLUPS",
    subjects=(ROLLUP.everything,),
    description="The current roll-up of every node: the last message per subject.",
    max_msgs_per_subject=1,
)
DEAD_LETTERS = StreamSpec(
    name="NIANBAO_DLQ",
    subjects=(DEAD_LETTER.everything,),
    description="Messages no handler could take, with the reason. Inspect and re-drive.",
)
REVIEWS = StreamSpec(
    name="NIANBAO_REVIEWS",
    subjects=(REVIEW.everything,),
    description="Every review action of a supervisory office (return, approve, unlock). Kept "
    "forever; each action is published under the site's node in each of its trees.",
    deny_delete=True,
    deny_purge=True,
)
REMINDERS = StreamSpec(
    name="NIANBAO_REMINDERS",
    subjects=(REMINDER.everything,),
    description="Deadline reminders per supervisory node: sites still missing or returned.",
    max_age_seconds=400 * 86400,
)
DEADLINES = StreamSpec(
    name="NIANBAO_DEADLINES",
    subjects=(DEADLINE.everything,),
    description="Internal deadlines set by provinces and departments: the last per node and year.",
    max_msgs_per_subject=1,
)
DECLARATIONS = StreamSpec(
    name="NIANBAO_DECLARATIONS",
    subjects=(DECLARED.everything, JUDGED.everything),
    description="Where sites and offices declare they published, and offices' own judgements "
    "of a site's publication. Kept forever, never purged (the history is shown).",
    deny_delete=True,
    deny_purge=True,
)
CHECKS = StreamSpec(
    name="NIANBAO_CHECKS",
    subjects=(CHECKED.everything,),
    description="The verifier's state of each publication after each check. Kept 400 days.",
    max_age_seconds=400 * 86400,
)
REGISTRY_CHANGES = StreamSpec(
    name="NIANBAO_REGISTRY",
    subjects=(REGISTRY.everything,),
    description="Every registry import, in order: each service process reads the last one and "
    "switches to the registry it names. Kept forever.",
)
#: the key-value bucket of plausibility figures (shared.plausibility): the aggregator writes each
#: site's counted figures and each peer group's distribution per year, the validator reads them
FIGURES_BUCKET = "NIANBAO_FIGURES"
FIGURES = StreamSpec(
    name=f"KV_{FIGURES_BUCKET}",
    subjects=(f"$KV.{FIGURES_BUCKET}.>",),
    description="Key-value bucket: each site's counted figures and each peer group's "
    "distribution per year, for the plausibility warnings. The last value per key.",
    max_msgs_per_subject=1,
)
STREAMS = (
    SUBMISSIONS,
    VERDICTS,
    PROGRESS,
    ROLLUPS,
    DEAD_LETTERS,
    REVIEWS,
    REMINDERS,
    DEADLINES,
    DECLARATIONS,
    CHECKS,
    REGISTRY_CHANGES,
    FIGURES,
)


# ---------------------------------------------------------------- payloads


def content_hash(report: dict[str, Any]) -> str:
    """SHA-256 of the canonical JSON of a report: what 'the same report' means."""
    canonical = json.dumps(report, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


class Event(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class IssueOut(Event):
    """One finding of a rule, as it travels: rule id, severity, field paths, both messages."""

    rule_id: str
    severity: Literal["error", "warning"]
    paths: list[str]
    message_zh: str
    message_en: str
    #: for an uploaded workbook, the cells of the paths (``sheet!C27``); empty otherwise
    cells: list[str] = Field(default_factory=list)


class ReportSubmitted(Event):
    """intake → validator: a report that got a 202."""

    schema_version: Literal[1] = 1
    receipt_id: str
    content_hash: str
    form: str
    form_version: str
    year: int
    code: str = Field(description="site code, or the office's node code for a supervision report")
    version: int = Field(ge=1, description="1, 2, ... per (code, form, year)")
    received_at: datetime = Field(description="server time at intake: timeliness is judged on it")
    submitted_by: str
    report: dict[str, Any]


class ReportJudged(Event):
    """Fields shared by the validator's two outcomes; ``outcome`` says which one it is."""

    schema_version: Literal[1] = 1
    outcome: Outcome
    receipt_id: str
    content_hash: str
    form: str
    form_version: str
    year: int
    code: str
    version: int
    received_at: datetime
    judged_at: datetime
    report: dict[str, Any]
    issues: list[IssueOut]

    @model_validator(mode="before")
    @classmethod
    def _outcome_of_earlier_verdicts(cls, data: Any) -> Any:
        """Verdicts written before ``outcome`` was carried: rejected exactly when an error."""
        if isinstance(data, dict) and "outcome" not in data and "issues" in data:
            errors = any(_severity(issue) == "error" for issue in data["issues"])
            data = {**data, "outcome": "rejected" if errors else "accepted"}
        return data


def _severity(issue: Any) -> Any:
    return issue.get("severity") if isinstance(issue, dict) else getattr(issue, "severity", None)


class ReportAccepted(ReportJudged):
    """validator → aggregator, publisher: no error; warnings may be present."""

    outcome: Literal["accepted"] = "accepted"


class ReportRejected(ReportJudged):
    """validator → aggregator, publisher, intake: at least one error."""

    outcome: Literal["rejected"] = "rejected"


class SiteStatus(Event):
    """Where a site's report for a year stands, as the aggregator counts it."""

    code: str
    form: str
    year: int
    status: Status
    counted_receipt: str | None = None
    counted_version: int | None = None
    received_at: datetime | None = None
    deadline: datetime | None = None
    locked: bool = False
    returned_receipt: str | None = None
    return_reason: str | None = None


class ReportAggregated(ReportJudged):
    """aggregator → intake, publisher: a verdict is counted in the roll-ups of these nodes.

    It carries the verdict itself, so the publisher can render the version history from this
    one stream, in the order the aggregator counted the versions.
    """

    aggregated_at: datetime
    status: SiteStatus
    nodes: list[str]


class RollupUpdated(Event):
    """aggregator → supervisors, publisher: a node's roll-up changed. Last per subject kept."""

    schema_version: Literal[1] = 1
    year: int
    tree: str
    node: str
    path: list[str]
    rollup: dict[str, Any]
    #: the event lists the first missing sites only; the pages and the node's JSON list them all
    missing_sites_truncated: bool = False
    digest: str


class PagesPublished(Event):
    """publisher → intake: the pages of a receipt's site are live at these URLs."""

    schema_version: Literal[1] = 1
    receipt_id: str | None
    code: str
    year: int
    published_at: datetime
    urls: list[str]


class DeadLettered(Event):
    """Any stage → DLQ: a message that could not be handled, and why."""

    schema_version: Literal[1] = 1
    stage: str
    reason: str
    subject: str
    stream: str | None = None
    stream_seq: int | None = None
    deliveries: int | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    body_b64: str
    at: datetime


class ReviewRecorded(Event):
    """intake → aggregator, publisher, supervisors: an office returned, approved or unlocked."""

    schema_version: Literal[1] = 1
    review_id: str
    action: Literal["return", "approve", "unlock"]
    receipt_id: str | None = Field(description="the version concerned (return, approve)")
    code: str
    form: str
    year: int
    office: str = Field(description="the node code of the office that acted (or 'operator')")
    reason: str = ""
    paths: list[str] = Field(default_factory=list)
    at: datetime


class DeadlineSet(Event):
    """intake → aggregator: a province or department set an internal deadline for its sites."""

    schema_version: Literal[1] = 1
    year: int
    node: str
    deadline: datetime
    set_by: str
    at: datetime


class SiteOverdue(BaseModel):
    model_config = ConfigDict(frozen=True)

    code: str
    name: str
    status: Literal["missing", "returned", "rejected"]


class SiteUnpublished(BaseModel):
    """A site that filed but whose publication on its homepage is not verified (issue 17)."""

    model_config = ConfigDict(frozen=True)

    code: str
    name: str
    #: undeclared, pending, or the state of its last check
    state: str


class ReminderDue(Event):
    """aggregator → supervisors: a deadline approaches (or passed); these sites have not filed."""

    schema_version: Literal[1] = 1
    year: int
    tree: str
    node: str
    path: list[str]
    threshold_days: int = Field(description="days before the deadline; negative = after it")
    deadline: datetime
    sites: list[SiteOverdue]
    #: sites that filed but have not published where the notice asks (verified)
    unpublished: list[SiteUnpublished] = Field(default_factory=list)
    at: datetime


class RegistryImported(Event):
    """intake → every service process: the registry file now holds the registry of this digest.

    The file (NIANBAO_REGISTRY_FILE, else ``<data_dir>/registry.json``) stays the source of
    truth; the event says that it changed, and what changed in it."""

    schema_version: Literal[1] = 1
    digest: str = Field(description="SHA-256 of the registry document (codes sorted)")
    sites: int
    nodes: int
    sites_changed: list[str] = Field(description="site codes added, removed or changed")
    nodes_changed: list[str] = Field(description="node codes added, removed or changed")
    imported_by: str
    at: datetime

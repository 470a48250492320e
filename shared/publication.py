"""Publication duty (issue 17): declared URLs, who may declare, and a site's publication standing.

Pure: the intake validates declarations with it, the aggregator counts with it, the pages show
its labels. A site's standing is its office's latest judgement when there is one, else the state
of its report's latest check; it is on time when first verified (or judged verified) by the
deadline that applies to the site.
"""

from __future__ import annotations

import ipaddress
from datetime import datetime
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field

from shared.access import SUPERVISION_LEVELS, Caller
from shared.contracts import Event
from shared.registry import Registry

# ---------------------------------------------------------------- events (contracts.py is full)

#: report: a site's work report on its own site; catalogue: an office's supervision report in
#: its portal's 政府信息公开目录; column: a province's or department's portal 专栏
PublicationKind = Literal["report", "catalogue", "column"]
#: the end of one check (see README, 公开核验)
CheckState = Literal[
    "verified", "not_linked", "page_missing", "content_differs", "unreachable", "manual"
]
CHECK_STATES: tuple[CheckState, ...] = (
    "verified",
    "not_linked",
    "page_missing",
    "content_differs",
    "unreachable",
    "manual",
)


class PublicationDeclared(Event):
    """intake → verifier, aggregator: a site or office says where it published (a new URL is a
    new declaration; the earlier ones stay in the history)."""

    schema_version: Literal[1] = 1
    declaration_id: str
    kind: PublicationKind
    code: str = Field(description="the site code (report) or the office's node (catalogue, column)")
    year: int
    url: str
    declared_by: str
    at: datetime = Field(description="server time at intake")


class PublicationJudged(Event):
    """intake → aggregator, verifier: an office's own judgement of a site's publication (an
    audited review action: who, when, why)."""

    schema_version: Literal[1] = 1
    judgement_id: str
    code: str
    year: int
    verdict: Literal["verified", "not_published"]
    reason: str
    office: str
    at: datetime


class Finding(BaseModel):
    """What one check found or missed, in both languages."""

    model_config = ConfigDict(frozen=True)

    kind: str
    message_zh: str
    message_en: str


class PublicationChecked(Event):
    """verifier → aggregator, publisher: the state of one publication after a check."""

    schema_version: Literal[1] = 1
    check_id: str
    kind: PublicationKind
    code: str
    year: int
    url: str
    state: CheckState
    checked_at: datetime
    #: the first time this publication was verified (None while it never was)
    first_verified_at: datetime | None = None
    findings: list[Finding] = Field(default_factory=list)
    link_text: str | None = None
    link_position: str | None = None
    #: for a 专栏: how many of the sites below it the column links to, of how many
    coverage: tuple[int, int] | None = None


class RecheckRequested(BaseModel):
    """intake → verifier, a core NATS request (no stream, empty body): re-check every
    publication of ``{node}``'s subtree for ``{year}`` now (both in the subject)."""


class RecheckAnswered(BaseModel):
    """verifier → intake, the reply to RecheckRequested: started (how many publications are
    due now), or refused while another re-check runs (which node, since when)."""

    started: bool
    node: str | None = None
    year: int | None = None
    #: publications of the subtree marked due now
    queued: int | None = None
    #: the node whose re-check is running (when refused)
    running: str | None = None
    since: str | None = None
    error: str | None = None


#: the longest URL a declaration may carry (browsers and servers agree on far less than this)
MAX_URL_LENGTH = 1000

#: what a supervisor reads for each state (pages, CLI)
STATE_LABELS: dict[str, str] = {
    "verified": "已核验",
    "not_linked": "首页未链接",
    "page_missing": "页面不存在",
    "content_differs": "内容不一致",
    "unreachable": "无法访问",
    "manual": "需人工核验",
    "undeclared": "未声明",
    "pending": "待核验",
    "judged_verified": "监管单位确认已公开",
    "judged_not_published": "监管单位认定未公开",
}
KIND_LABELS: dict[str, str] = {
    "report": "工作年度报表",
    "catalogue": "政府信息公开目录中的监管年度报表",
    "column": "年度报表专栏",
}

#: the counts per node, in the order pages and CSV show them
PUBLICATION_COUNTS = (
    "declared",
    "verified",
    "verified_on_time",
    *[s for s in CHECK_STATES if s != "verified"],
)
COUNT_LABELS: dict[str, str] = {
    "declared": "已声明",
    "verified": "已核验",
    "verified_on_time": "按时公开",
    "not_linked": "首页未链接",
    "page_missing": "页面不存在",
    "content_differs": "内容不一致",
    "unreachable": "无法访问",
    "manual": "需人工核验",
}


class BadUrl(ValueError):
    """A declared URL the system will not take, with the reason in both languages."""

    def __init__(self, message_zh: str, message_en: str) -> None:
        super().__init__(message_en)
        self.message_zh = message_zh
        self.message_en = message_en


def check_declared_url(url: str) -> str:
    """The URL as declared, or BadUrl: http or https, a host name, no credentials, no spaces or
    control characters, at most MAX_URL_LENGTH characters."""
    if len(url) > MAX_URL_LENGTH:
        raise BadUrl(f"网址不得超过 {MAX_URL_LENGTH} 个字符", f"longer than {MAX_URL_LENGTH}")
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in url):
        raise BadUrl("网址不得包含空白或控制字符", "contains whitespace or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise BadUrl("网址格式不正确", f"not a URL: {exc}") from exc
    if parts.scheme not in ("http", "https"):
        raise BadUrl("网址须以 http:// 或 https:// 开头", "only http and https URLs")
    if not parts.hostname:
        raise BadUrl("网址缺少主机名", "no host name")
    if parts.username is not None or parts.password is not None:
        raise BadUrl("网址不得包含用户名或密码", "credentials in a URL are refused")
    if port == 0:
        raise BadUrl("网址端口不正确", "port 0")
    return url


def host_of(url: str) -> str:
    return (urlsplit(url).hostname or "").lower().rstrip(".")


def is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def may_declare(caller: Caller, registry: Registry, kind: PublicationKind, code: str) -> bool:
    """A site declares its own report; a province or department office its own catalogue entry
    and 专栏."""
    if kind == "report":
        return caller.kind == "site" and caller.code == code and code in registry.sites
    node = registry.nodes.get(code)
    return (
        caller.kind == "office"
        and caller.code == code
        and node is not None
        and node.level in SUPERVISION_LEVELS
    )


Verdict = Literal["verified", "not_published"]


class PublicationStanding(BaseModel):
    """A site's publication of its report for a year, as counted and shown."""

    model_config = ConfigDict(frozen=True)

    #: undeclared, pending (declared, not yet checked), a check state, or judged_*
    state: str
    declared: bool = False
    url: str | None = None
    verified: bool = False
    on_time: bool = False
    first_verified_at: datetime | None = None
    checked_at: datetime | None = None
    judged_by: str | None = None
    reason: str = ""
    judged_at: datetime | None = None
    #: the evidence summary of the latest check of the declared URL (issue 17, item 5): what
    #: it found or missed (Chinese, at most MAX_FINDINGS, each at most MAX_TEXT characters),
    #: and the homepage link that leads to the report (its text and position)
    findings: tuple[str, ...] = ()
    link_text: str | None = None
    link_position: str | None = None

    @property
    def counted_state(self) -> str | None:
        """The check state this standing counts as (judgements count as verified or
        not_linked); None when undeclared or not yet checked."""
        if self.state == "judged_verified":
            return "verified"
        if self.state == "judged_not_published":
            return "not_linked"
        return self.state if self.state in CHECK_STATES else None


def publication_standing(
    url: str | None,
    check_state: str | None,
    checked_at: datetime | None,
    first_verified_at: datetime | None,
    judgement: tuple[Verdict, str, str, datetime] | None,
    deadline: datetime,
) -> PublicationStanding:
    """The standing from the latest declaration, the latest check, the office's latest judgement
    (verdict, office, reason, at) and the site's deadline."""
    first = first_verified_at
    if judgement is not None:
        verdict, office, reason, at = judgement
        if verdict == "verified":
            first = at if first is None else min(first, at)
            return PublicationStanding(
                state="judged_verified",
                declared=url is not None,
                url=url,
                verified=True,
                on_time=first <= deadline,
                first_verified_at=first,
                checked_at=checked_at,
                judged_by=office,
                reason=reason,
                judged_at=at,
            )
        return PublicationStanding(
            state="judged_not_published",
            declared=url is not None,
            url=url,
            checked_at=checked_at,
            judged_by=office,
            reason=reason,
            judged_at=at,
        )
    if url is None:
        return PublicationStanding(state="undeclared")
    state = check_state or "pending"
    verified = state == "verified"
    return PublicationStanding(
        state=state,
        declared=True,
        url=url,
        verified=verified,
        on_time=verified and first is not None and first <= deadline,
        first_verified_at=first if verified else None,
        checked_at=checked_at,
    )


#: an evidence summary keeps this many findings, each this long at most (a roll-up event carries
#: the standings of its node's own sites: it stays small whatever a check found)
MAX_FINDINGS = 5
MAX_TEXT = 200


def _clip(text: str | None) -> str | None:
    if text is None or len(text) <= MAX_TEXT:
        return text
    return text[: MAX_TEXT - 1] + "…"


def with_evidence(standing: PublicationStanding, check: PublicationChecked) -> PublicationStanding:
    """The standing with the summary of the check it rests on: its findings in Chinese and the
    homepage link found, each capped."""
    findings = [f.message_zh for f in check.findings]
    if len(findings) > MAX_FINDINGS:
        findings = [*findings[: MAX_FINDINGS - 1], f"另有 {len(findings) - MAX_FINDINGS + 1} 项"]
    return standing.model_copy(
        update={
            "findings": tuple(_clip(f) or "" for f in findings),
            "link_text": _clip(check.link_text),
            "link_position": _clip(check.link_position),
        }
    )


class OfficePublication(BaseModel):
    """A province's or department's own publication duty, shown beside its roll-up: its
    supervision report in the portal's 政府信息公开目录 (catalogue) and its 专栏 (column) with
    the column's coverage of the sites below. A state is undeclared, pending (declared, not yet
    checked at that URL) or a check state."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    catalogue_state: str = "undeclared"
    catalogue_url: str | None = None
    catalogue_checked_at: datetime | None = None
    column_state: str = "undeclared"
    column_url: str | None = None
    column_checked_at: datetime | None = None
    #: of the sites below, how many the 专栏 links to, of how many (at the last check)
    column_covered: int | None = None
    column_sites: int | None = None


def _side_state(declared_url: str | None, check: PublicationChecked | None) -> str:
    if check is not None and (declared_url is None or check.url == declared_url):
        return check.state
    return "pending" if declared_url is not None else "undeclared"


def office_publication(
    catalogue_url: str | None,
    catalogue_check: PublicationChecked | None,
    column_url: str | None,
    column_check: PublicationChecked | None,
) -> OfficePublication | None:
    """An office's catalogue and 专栏 from their latest declarations and checks; None when it
    declared neither and neither was checked."""
    if not (catalogue_url or catalogue_check or column_url or column_check):
        return None
    column_counted = column_check if _side_state(column_url, column_check) != "pending" else None
    coverage = column_counted.coverage if column_counted else None
    catalogue_counted = (
        catalogue_check if _side_state(catalogue_url, catalogue_check) != "pending" else None
    )
    return OfficePublication(
        catalogue_state=_side_state(catalogue_url, catalogue_check),
        catalogue_url=catalogue_url or (catalogue_check.url if catalogue_check else None),
        catalogue_checked_at=catalogue_counted.checked_at if catalogue_counted else None,
        column_state=_side_state(column_url, column_check),
        column_url=column_url or (column_check.url if column_check else None),
        column_checked_at=column_counted.checked_at if column_counted else None,
        column_covered=coverage[0] if coverage else None,
        column_sites=coverage[1] if coverage else None,
    )


def publication_counts(standings: list[PublicationStanding]) -> dict[str, int]:
    """The counts of a set of sites' standings: declared, verified, verified on time, and one
    per other check state."""
    counts = dict.fromkeys(PUBLICATION_COUNTS, 0)
    for standing in standings:
        counts["declared"] += standing.declared
        counts["verified_on_time"] += standing.verified and standing.on_time
        counted = standing.counted_state
        if counted is not None:
            counts[counted] += 1
    return counts

"""What the intake's HTTP API returns: receipts, problems, registry entries."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from shared.contracts import IssueOut
from shared.filings import Outcome
from shared.publication import PublicationDeclared

#: a receipt's stages: submitted, then the verdict (an Outcome), aggregated, published
Stage = Literal["submitted", "accepted", "rejected", "aggregated", "published"]


class Problem(BaseModel):
    """Every 4xx/5xx body: a machine code, Chinese and English messages, field-level issues."""

    error: str
    message_zh: str
    message_en: str
    issues: list[IssueOut] = Field(default_factory=list)


class StageReached(BaseModel):
    stage: Stage
    at: datetime


class ReceiptOut(BaseModel):
    """A submission's receipt: identity, content hash, server time, and where it stands."""

    receipt_id: str
    code: str
    form: str
    form_version: str
    year: int
    version: int
    content_hash: str
    received_at: datetime
    status_url: str
    stage: Stage
    stages: list[StageReached]
    duplicate: bool = False
    outcome: Outcome | None = None
    errors: list[IssueOut] = Field(default_factory=list)
    warnings: list[IssueOut] = Field(default_factory=list)
    standing: dict[str, Any] | None = None
    urls: list[str] = Field(default_factory=list)
    #: where the site declared it published its work report for the year (公开声明), oldest
    #: first (a changed URL is a new declaration)
    declarations: list[PublicationDeclared] = Field(default_factory=list)


class SiteOut(BaseModel):
    code: str
    name: str
    homepage_url: str
    type: str
    type_label: str
    sponsor: str
    active_from: int
    active_to: int | None
    nodes: list[dict[str, str]]


class NodeOut(BaseModel):
    code: str
    name: str
    level: str
    level_label: str
    tree: str
    parent: str | None
    path: list[str]
    children: list[dict[str, str]]
    sites: list[dict[str, str]]

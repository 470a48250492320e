"""The registry's administration: who may, a new registry checked whole, and what it changes."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_core import ErrorDetails

from services.intake.errors import Invalid, NotAllowed
from shared.access import Caller
from shared.contracts import IssueOut
from shared.numbers import MAX_DIGITS, OVERSIZED_EN, OVERSIZED_NUMBER, OVERSIZED_ZH, is_oversized
from shared.registry import Node, Registry, Site
from shared.registry.validation import validate_registry
from shared.runtime.registry_files import dump_registry, load_registry
from shared.text import UNSAFE_EN, UNSAFE_ZH, first_unsafe, is_unsafe_error

#: services that read the registry at start
RESTART = ["intake", "validator", "aggregator", "publisher"]


class RegistryBody(BaseModel):
    """A whole registry, as in a registry JSON file."""

    model_config = ConfigDict(extra="forbid")

    nodes: list[Node]
    sites: list[Site]


class Changed(BaseModel):
    code: str
    #: field -> [before, after]
    fields: dict[str, list[Any]]


class Changes(BaseModel):
    added: list[str] = Field(default_factory=list)
    removed: list[str] = Field(default_factory=list)
    changed: list[Changed] = Field(default_factory=list)


class RegistryDiff(BaseModel):
    """What an import changes (or would change, in a dry run)."""

    dry_run: bool
    applied: bool
    sites: Changes
    nodes: Changes
    file: str
    restart_required: list[str]
    message_zh: str
    message_en: str


def require_operator(caller: Caller) -> None:
    """Only the operator token reads or changes the registry."""
    if caller.kind != "operator":
        raise NotAllowed("只有运维令牌可以读取或修改登记名录", "operator token required")


def changes(before: Mapping[str, BaseModel], after: Mapping[str, BaseModel]) -> Changes:
    """Added, removed and changed entries (field by field), codes sorted."""
    changed = []
    for code in sorted(set(before) & set(after)):
        old, new = before[code].model_dump(mode="json"), after[code].model_dump(mode="json")
        fields = {k: [old.get(k), new.get(k)] for k in sorted(old | new)}
        fields = {k: pair for k, pair in fields.items() if pair[0] != pair[1]}
        if fields:
            changed.append(Changed(code=code, fields=fields))
    return Changes(
        added=sorted(set(after) - set(before)),
        removed=sorted(set(before) - set(after)),
        changed=changed,
    )


def _invalid(issues: list[IssueOut]) -> Invalid:
    return Invalid(
        "登记名录不一致，未做任何修改",
        "the registry is inconsistent; nothing was changed",
        issues,
        error="invalid_registry",
    )


def _field_issue(err: ErrorDetails) -> IssueOut:
    path = ".".join(str(p) for p in err["loc"])
    rule, zh, en = err["type"], "登记名录字段无效", str(err["msg"])
    if is_unsafe_error(err["type"], err.get("ctx")):
        char, position = first_unsafe(str(err["input"])) or ("?", 0)
        rule = "unsafe_text"
        zh = UNSAFE_ZH.format(char=char, position=position)
        en = UNSAFE_EN.format(char=char, position=position)
    elif is_oversized(err["input"]):
        rule, zh, en = OVERSIZED_NUMBER, OVERSIZED_ZH, OVERSIZED_EN
        zh, en = zh.format(max_digits=MAX_DIGITS), en.format(max_digits=MAX_DIGITS)
    return IssueOut(
        rule_id=f"registry.{rule}",
        severity="error",
        paths=[path],
        message_zh=f"{path}：{zh}",
        message_en=f"{path}: {en}",
    )


def parse_registry(raw: Any) -> tuple[list[Node], list[Site]]:
    """Nodes and sites of a body, or Invalid listing every problem, each at its field."""
    try:
        body = RegistryBody.model_validate(raw)
    except ValidationError as exc:
        raise _invalid([_field_issue(err) for err in exc.errors(include_url=False)]) from exc
    problems = validate_registry(body.nodes, body.sites)
    if problems:
        raise _invalid(
            [
                IssueOut(
                    rule_id="registry.inconsistent",
                    severity="error",
                    paths=[],
                    message_zh=problem,
                    message_en=problem,
                )
                for problem in problems
            ]
        )
    return body.nodes, body.sites


class RegistryAdmin:
    """The registry file ``path`` (the running registry until one is written), one import at
    a time. An import is written atomically to that file (NIANBAO_REGISTRY_FILE, else
    ``<data_dir>/registry.json``). Every service reads it at start, so a change takes effect
    when intake, validator, aggregator and publisher are restarted; the answer says so."""

    def __init__(self, running: Registry, path: Path) -> None:
        self.running = running
        self.path = path
        self._lock = asyncio.Lock()

    def _stored(self) -> Registry:
        return load_registry(self.path) if self.path.exists() else self.running

    async def stored(self) -> Registry:
        """The registry as stored: what every service uses after its next start."""
        return await asyncio.to_thread(self._stored)

    async def replace(self, raw: Any, dry_run: bool) -> RegistryDiff:
        """Replace the whole registry once it is consistent (not in a dry run, nor when nothing
        changes); the sites and nodes added, removed and changed."""
        nodes, sites = parse_registry(raw)
        async with self._lock:
            before = await self.stored()
            site_changes = changes(dict(before.sites), {s.code: s for s in sites})
            node_changes = changes(dict(before.nodes), {n.code: n for n in nodes})
            empty = not any(c.added or c.removed or c.changed for c in (site_changes, node_changes))
            apply = not dry_run and not empty
            if apply:
                await asyncio.to_thread(dump_registry, Registry(nodes, sites), self.path)
        if empty:
            zh, en = "登记名录没有变化", "the registry is unchanged"
        elif dry_run:
            zh, en = "试运行：以上为将发生的变化，未做修改", "dry run: these changes were not made"
        else:
            zh = "登记名录已保存；请重启 intake、validator、aggregator、publisher 使其生效"
            en = "registry saved; restart intake, validator, aggregator and publisher to apply it"
        return RegistryDiff(
            dry_run=dry_run,
            applied=apply,
            sites=site_changes,
            nodes=node_changes,
            file=str(self.path),
            restart_required=RESTART if apply else [],
            message_zh=zh,
            message_en=en,
        )

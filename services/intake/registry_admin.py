"""The registry's administration: who may, a new registry checked whole, and what it changes."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_core import ErrorDetails

from services.intake.errors import Invalid, NotAllowed, Unavailable
from shared.access import Caller
from shared.contracts import IssueOut, RegistryImported
from shared.numbers import MAX_DIGITS, OVERSIZED_EN, OVERSIZED_NUMBER, OVERSIZED_ZH, is_oversized
from shared.registry import Node, Registry, Site, registry_digest
from shared.registry.validation import validate_registry
from shared.runtime.registry_files import dump_registry, load_registry
from shared.text import UNSAFE_EN, UNSAFE_ZH, first_unsafe, is_unsafe_error

#: tells every running service that the registry file changed (a confirmed publish)
Announce = Callable[[RegistryImported], Awaitable[None]]


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
    #: the digest of the registry saved, which every running service switches to (else null)
    digest: str | None = None
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
    ``<data_dir>/registry.json``), then announced (``RegistryImported``): every running service
    switches to it between two batches (shared.runtime.registry_follow)."""

    def __init__(self, running: Registry, path: Path, announce: Announce | None = None) -> None:
        self.running = running
        self.path = path
        self.announce = announce
        #: a registry saved but not announced (NATS did not acknowledge): announce it next time
        self.unannounced: Registry | None = None
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
            digest = None
            if apply:
                digest = await self._save(Registry(nodes, sites), site_changes, node_changes)
            elif empty and not dry_run and self.unannounced is not None:
                digest = await self.announce_current(self.unannounced)
        if empty:
            zh, en = "登记名录没有变化", "the registry is unchanged"
        elif dry_run:
            zh, en = "试运行：以上为将发生的变化，未做修改", "dry run: these changes were not made"
        else:
            zh = "登记名录已保存；各服务在处理完当前批次后切换到新名录，并重算受影响的汇总和页面"
            en = (
                "registry saved; every service switches to it after its current batch, and the "
                "roll-ups and pages it changes are recomputed"
            )
        return RegistryDiff(
            dry_run=dry_run,
            applied=apply,
            sites=site_changes,
            nodes=node_changes,
            file=str(self.path),
            digest=digest,
            message_zh=zh,
            message_en=en,
        )

    async def _save(self, registry: Registry, sites: Changes, nodes: Changes) -> str:
        """Write the file, read it back, announce it; the digest of the registry it holds."""

        def write_and_read() -> Registry:
            dump_registry(registry, self.path)
            return load_registry(self.path)

        saved = await asyncio.to_thread(write_and_read)
        changed_sites = {*sites.added, *sites.removed, *(c.code for c in sites.changed)}
        changed_nodes = {*nodes.added, *nodes.removed, *(c.code for c in nodes.changed)}
        return await self._announce(saved, sorted(changed_sites), sorted(changed_nodes))

    async def announce_current(self, saved: Registry) -> str:
        """Announce the registry the file holds (saved earlier, never announced)."""
        return await self._announce(saved, [], [])

    async def _announce(self, saved: Registry, sites: list[str], nodes: list[str]) -> str:
        digest = await asyncio.to_thread(registry_digest, saved)
        if self.announce is None:
            return digest
        event = RegistryImported(
            digest=digest,
            sites=len(saved.sites),
            nodes=len(saved.nodes),
            sites_changed=sites,
            nodes_changed=nodes,
            imported_by="operator",
            at=datetime.now(UTC),
        )
        try:
            await self.announce(event)
            self.unannounced = None
        except Exception as exc:
            self.unannounced = saved
            raise Unavailable(
                "登记名录已保存，但未能通知运行中的服务；请稍后重新导入",
                "the registry was saved but the running services could not be told; "
                "import it again later",
                error="registry_not_announced",
            ) from exc
        return digest

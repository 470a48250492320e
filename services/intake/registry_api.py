"""The registry's operator API: export it, import a new one (validated, diffed, dry run).

An import is written atomically to the registry file (NIANBAO_REGISTRY_FILE, else
``<data_dir>/registry.json``). Every service reads that file at start, so a change takes effect
when intake, validator, aggregator and publisher are restarted; the answer says so.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path as FilePath
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from services.intake.app import ERRORS, read_limited
from services.intake.filing import Intake, decode_json
from services.intake.schemas import ApiError
from shared.contracts import IssueOut
from shared.registry import Node, Registry, Site
from shared.registry.validation import validate_registry
from shared.runtime.registry_files import dump_registry, load_registry

#: services that read the registry at start
RESTART = ["intake", "validator", "aggregator", "publisher"]
MAX_REGISTRY_BYTES = 64 * 2**20


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


def registry_body(registry: Registry) -> dict[str, Any]:
    return {
        "nodes": [registry.nodes[c].model_dump(mode="json") for c in sorted(registry.nodes)],
        "sites": [registry.sites[c].model_dump(mode="json") for c in sorted(registry.sites)],
    }


def _invalid(issues: list[IssueOut]) -> ApiError:
    return ApiError(
        422,
        "invalid_registry",
        "登记名录不一致，未做任何修改",
        "the registry is inconsistent; nothing was changed",
        issues,
    )


def parse_registry(raw: Any) -> tuple[list[Node], list[Site]]:
    """Nodes and sites of a body, or ApiError(422) listing every problem."""
    try:
        body = RegistryBody.model_validate(raw)
    except ValidationError as exc:
        raise _invalid(
            [
                IssueOut(
                    rule_id=f"registry.{err['type']}",
                    severity="error",
                    paths=[".".join(str(p) for p in err["loc"])],
                    message_zh="登记名录字段无效",
                    message_en=str(err["msg"]),
                )
                for err in exc.errors(include_url=False)
            ]
        ) from exc
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


def build_registry_router(intake: Intake, path: FilePath) -> APIRouter:
    """GET and PUT /v1/registry, operator token only; ``path`` is the registry file."""
    router = APIRouter(prefix="/v1")
    lock = asyncio.Lock()

    def stored() -> Registry:
        return load_registry(path) if path.exists() else intake.registry

    async def operator(authorization: str | None) -> None:
        caller = await intake.authenticate(authorization)
        if caller.kind != "operator":
            raise ApiError(
                403, "forbidden", "只有运维令牌可以读取或修改登记名录", "operator token required"
            )

    @router.get(
        "/registry",
        responses={k: v for k, v in ERRORS.items() if k in (401, 403)},
        summary="Export the registry (导出网站登记名录) — operator",
    )
    async def export_registry(
        authorization: Annotated[str | None, Header()] = None,
    ) -> dict[str, Any]:
        """The registry as stored (what every service uses after its next start), in the
        format of a registry JSON file."""
        await operator(authorization)
        return registry_body(await asyncio.to_thread(stored))

    @router.put(
        "/registry",
        response_model=RegistryDiff,
        responses={k: v for k, v in ERRORS.items() if k in (400, 401, 403, 413, 422)},
        summary="Import a registry (导入网站登记名录) — operator",
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": RegistryBody.model_json_schema()}},
            }
        },
    )
    async def import_registry(
        request: Request,
        dry_run: Annotated[bool, Query(description="show what would change; change nothing")] = (
            False
        ),
        authorization: Annotated[str | None, Header()] = None,
    ) -> RegistryDiff:
        """Replace the whole registry after checking its consistency; answers with the sites
        and nodes added, removed and changed. Validator, aggregator, publisher and the intake
        read the registry at start: restart them to apply a change."""
        await operator(authorization)
        nodes, sites = parse_registry(decode_json(await read_limited(request, MAX_REGISTRY_BYTES)))
        async with lock:
            before = await asyncio.to_thread(stored)
            site_changes = changes(dict(before.sites), {s.code: s for s in sites})
            node_changes = changes(dict(before.nodes), {n.code: n for n in nodes})
            empty = not any(c.added or c.removed or c.changed for c in (site_changes, node_changes))
            apply = not dry_run and not empty
            if apply:
                await asyncio.to_thread(dump_registry, Registry(nodes, sites), path)
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
            file=str(path),
            restart_required=RESTART if apply else [],
            message_zh=zh,
            message_en=en,
        )

    return router

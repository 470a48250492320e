"""The registry's operator API over HTTP: export it, import a new one (validated, diffed)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from services.intake.auth import Authenticated
from services.intake.edge import decode_json, read_limited
from services.intake.problems import errors
from services.intake.registry_admin import (
    RegistryAdmin,
    RegistryBody,
    RegistryDiff,
    require_operator,
)
from shared.access import Caller
from shared.registry import registry_document

MAX_REGISTRY_BYTES = 64 * 2**20


async def operator(caller: Authenticated) -> Caller:
    """The caller, when it holds the operator token (before any body is read)."""
    require_operator(caller)
    return caller


Operator = Annotated[Caller, Depends(operator)]


def build_registry_router(admin: RegistryAdmin) -> APIRouter:
    """GET and PUT /v1/registry, operator token only."""
    router = APIRouter(prefix="/v1")

    @router.get(
        "/registry",
        responses=errors(401, 403),
        summary="Export the registry (导出网站登记名录) — operator",
    )
    async def export_registry(_caller: Operator) -> dict[str, Any]:
        """The registry as stored (what every service uses), in the format of a registry JSON
        file."""
        return registry_document(await admin.stored())

    @router.put(
        "/registry",
        response_model=RegistryDiff,
        responses=errors(400, 401, 403, 413, 422),
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
        _caller: Operator,
        dry_run: Annotated[bool, Query(description="show what would change; change nothing")] = (
            False
        ),
    ) -> RegistryDiff:
        """Replace the whole registry after checking its consistency; answers with the sites
        and nodes added, removed and changed. Every running service switches to the new
        registry after its current batch; the roll-ups and pages it changes are recomputed."""
        raw = decode_json(await read_limited(request, MAX_REGISTRY_BYTES))
        return await admin.replace(raw, dry_run)

    return router

"""Routes of the publication duty: declare a URL, read the history, judge, ask for a re-check."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from services.intake.auth import Authenticated
from services.intake.declarations import Declarations
from services.intake.edge import CODE, json_body, read_limited, read_model, required
from services.intake.problems import errors
from shared.publication import (
    MAX_URL_LENGTH,
    PublicationDeclared,
    PublicationJudged,
    PublicationKind,
)
from shared.text import SafeStr


class DeclareRequest(BaseModel):
    """Where the report (or the catalogue entry, or the 专栏) is published."""

    model_config = ConfigDict(extra="forbid")

    url: SafeStr = Field(
        min_length=8, max_length=MAX_URL_LENGTH, description="http(s) URL of the published page"
    )


class JudgeRequest(BaseModel):
    """An office's own judgement of a site's publication, with the reason."""

    model_config = ConfigDict(extra="forbid")

    verdict: Literal["verified", "not_published"] = Field(description="已公开 / 未公开")
    reason: SafeStr = Field(min_length=1, max_length=500, description="认定理由")


class PublicationsOut(BaseModel):
    """Every declaration (oldest first: the last of each kind is in force) and judgement."""

    code: str
    year: int
    declarations: list[PublicationDeclared]
    judgements: list[PublicationJudged]


Code = Annotated[str, Path(pattern=CODE)]
Year = Annotated[int, Path(ge=2000, le=2100)]
#: the largest body of a declaration or a judgement (a URL of 1,000 characters or a reason of
#: 500, escaped, fit many times over); read only after the token was checked
DECLARATION_BODY_BYTES = 16 * 1024
#: what a route that takes no body accepts all the same (an empty JSON object, say)
NO_BODY_BYTES = 1024


def build_declarations_router(declarations: Declarations) -> APIRouter:
    router = APIRouter(prefix="/v1/publications", tags=["publication"])

    @router.put(
        "/{code}/{year}/{kind}",
        response_model=PublicationDeclared,
        summary="Declare where a report, catalogue entry or 专栏 is published (公开声明)",
        responses=errors(401, 403, 413, 422, 503),
        openapi_extra=json_body(DeclareRequest),
    )
    async def declare(
        code: Code,
        year: Year,
        kind: PublicationKind,
        request: Request,
        caller: Authenticated,
        response: Response,
    ) -> PublicationDeclared:
        body = required(await read_model(request, DeclareRequest, DECLARATION_BODY_BYTES))
        event, new = await declarations.declare(caller, kind, code, year, body.url)
        response.status_code = 201 if new else 200
        return event

    @router.get(
        "/{code}/{year}",
        response_model=PublicationsOut,
        summary="A site's or office's declarations and judgements (公开声明记录)",
        responses=errors(401, 404),
    )
    async def history(code: Code, year: Year, caller: Authenticated) -> PublicationsOut:
        declared, judged = await declarations.history(caller, code, year)
        return PublicationsOut(code=code, year=year, declarations=declared, judgements=judged)

    @router.post(
        "/{code}/{year}/judgement",
        status_code=201,
        response_model=PublicationJudged,
        summary="An office's own judgement of a site's publication (人工认定)",
        responses=errors(401, 403, 404, 413, 422, 503),
        openapi_extra=json_body(JudgeRequest),
    )
    async def judge(
        code: Code, year: Year, request: Request, caller: Authenticated
    ) -> PublicationJudged:
        body = required(await read_model(request, JudgeRequest, DECLARATION_BODY_BYTES))
        return await declarations.judge(caller, code, year, body.verdict, body.reason)

    @router.post(
        "/{node}/{year}/recheck",
        status_code=202,
        summary="Re-check every publication of a node's subtree now (立即重新核验)",
        responses=errors(401, 403, 404, 413, 503) | {409: {"description": "a re-check is running"}},
    )
    async def recheck(
        node: Code, year: Year, request: Request, caller: Authenticated
    ) -> dict[str, Any]:
        await read_limited(request, NO_BODY_BYTES)  # it takes none: a large one is refused (413)
        return await declarations.recheck(caller, node, year)

    return router

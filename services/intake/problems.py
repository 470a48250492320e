"""Domain errors as HTTP answers: each kind's status and its Problem body, in this one place."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from services.intake.errors import (
    Conflict,
    IntakeError,
    Invalid,
    Malformed,
    NotAllowed,
    NotFound,
    TooLarge,
    Unauthenticated,
    Unavailable,
    UnsupportedMediaType,
)
from services.intake.schemas import Problem
from shared.contracts import IssueOut

#: each kind of domain error's status (a subclass takes its closest ancestor's)
STATUS: dict[type[IntakeError], int] = {
    Malformed: 400,
    Unauthenticated: 401,
    NotAllowed: 403,
    NotFound: 404,
    Conflict: 409,
    TooLarge: 413,
    UnsupportedMediaType: 415,
    Invalid: 422,
    Unavailable: 503,
}

#: the error answers, for the OpenAPI document of the routes
ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": Problem, "description": text}
    for status, text in {
        400: "malformed body (not JSON, not UTF-8)",
        401: "missing, wrong or expired token",
        403: "the token may not do this",
        404: "not found",
        413: "body over the size limit",
        415: "neither application/json nor an xlsx workbook",
        422: "the report does not match its form, or the code is not registered",
        503: "the stream did not acknowledge: the report is kept and re-sent; retry the same body",
    }.items()
}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI error answers of these statuses."""
    return {k: v for k, v in ERRORS.items() if k in statuses}


def status_of(exc: IntakeError) -> int:
    for kind in type(exc).__mro__:
        if kind in STATUS:
            return STATUS[kind]
    return 500


def problem_of(exc: IntakeError) -> Problem:
    return Problem(
        error=exc.error, message_zh=exc.message_zh, message_en=exc.message_en, issues=exc.issues
    )


def install_problem_handlers(app: FastAPI) -> None:
    """Every domain error, and every request FastAPI cannot decode, answers with a Problem."""

    @app.exception_handler(IntakeError)
    async def domain_error(_request: Request, exc: IntakeError) -> JSONResponse:
        return JSONResponse(problem_of(exc).model_dump(mode="json"), status_code=status_of(exc))

    @app.exception_handler(RequestValidationError)
    async def bad_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
        issues = [
            IssueOut(
                rule_id=f"request.{err['type']}",
                severity="error",
                paths=[".".join(str(p) for p in err["loc"])],
                message_zh="请求参数不符合要求",
                message_en=str(err["msg"]),
            )
            for err in exc.errors()
        ]
        problem = Problem(
            error="invalid_request",
            message_zh="请求参数不符合要求",
            message_en="invalid request parameters",
            issues=issues,
        )
        return JSONResponse(problem.model_dump(mode="json"), status_code=422)

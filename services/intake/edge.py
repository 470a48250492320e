"""What the routes share at the HTTP edge: path patterns, bounded body reading, JSON decoding."""

from __future__ import annotations

import json
from typing import Any, TypeVar

import orjson
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

from services.intake.errors import Invalid, Malformed, TooLarge
from shared.contracts import CODE_PATTERN
from shared.forms import SUPERVISION_REPORT, WORK_REPORT
from shared.numbers import json_int

Model = TypeVar("Model", bound=BaseModel)

#: a site, node or receipt code in a path
CODE = CODE_PATTERN
#: a form id in a path
FORM = f"^({WORK_REPORT}|{SUPERVISION_REPORT})$"


async def read_limited(request: Request, limit: int) -> bytes:
    """The body, or TooLarge as soon as it is declared or read past ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large(limit)
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > limit:
            raise too_large(limit)
    return bytes(body)


def too_large(limit: int) -> TooLarge:
    return TooLarge(f"请求体超过 {limit // 1024} KiB 上限", f"body exceeds the {limit} byte limit")


#: a body with every digit a 0 and every other byte a space: a run of 19 digits may be an
#: integer orjson would not read as the standard library does (past 64 bits it reads a float),
#: so such a body takes the standard library's way (a translate is a fraction of a regex's time)
DIGITS_ONLY = bytes(0x30 if 0x30 <= i <= 0x39 else 0x20 for i in range(256))
LONG_DIGITS = b"0" * 19


def has_long_digits(body: bytes) -> bool:
    """Does the body hold 19 digits in a row (anywhere, a string's too)?"""
    return LONG_DIGITS in body.translate(DIGITS_ONLY)


def decode_json(body: bytes) -> Any:
    """A body as JSON, or Malformed naming where it stops being UTF-8 or JSON. An integer too
    long for Python (over 4,300 digits) becomes an OversizedNumber, which the body's model
    refuses at its field.

    orjson reads a body several times faster and gives the same values (floats correctly
    rounded, the last of repeated keys) except for integers of 19 digits or more: those bodies,
    and every body orjson refuses (invalid UTF-8 or JSON, NaN, a BOM, a lone surrogate, deep
    nesting, a float beyond the double range), are read by the standard library, which gives
    what it always gave (a value or the Malformed naming where)."""
    if not has_long_digits(body):
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError:
            pass
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Malformed(
            "请求体不是有效的 UTF-8 编码",
            f"body is not valid UTF-8: {exc.reason} at byte {exc.start}",
            error="invalid_encoding",
        ) from exc
    try:
        return json.loads(text, parse_int=json_int)
    except (json.JSONDecodeError, RecursionError) as exc:
        where = (
            f"line {exc.lineno} column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else ""
        )
        raise Malformed(
            f"请求体不是有效的 JSON（{where}）",
            f"body is not valid JSON ({where}): {exc}",
            error="invalid_json",
        ) from exc


async def read_model(request: Request, model: type[Model], limit: int) -> Model | None:
    """A small JSON body as ``model``, read only when the route calls this (after the token was
    checked) and at most ``limit`` bytes; None for an empty body. A body FastAPI decoded from a
    parameter would be read whole before any dependency runs."""
    body = await read_limited(request, limit)
    if not body.strip():
        return None
    raw = decode_json(body)
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        errors = [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
        raise RequestValidationError(errors, body=raw) from None


def json_body(model: type[BaseModel], required: bool = True) -> dict[str, Any]:
    """The OpenAPI request body of a route that reads ``model`` itself (read_model)."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    return {
        "requestBody": {
            "required": required,
            "content": {"application/json": {"schema": schema}},
        }
    }


def required(body: Model | None) -> Model:
    """The body of a route that needs one."""
    if body is None:
        raise Invalid.field(
            "invalid_request", "request.missing", "body", "缺少请求体", "the request needs a body"
        )
    return body

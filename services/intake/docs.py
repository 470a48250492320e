"""Offline documentation pages: Swagger UI and ReDoc from packaged assets, and the AsyncAPI page."""

from __future__ import annotations

import asyncio
import re
from functools import cache
from pathlib import Path
from typing import Any

import fastapi_offline
from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape

from shared.contracts import STREAMS

ASSETS = Path(fastapi_offline.__file__).parent / "static"
STATIC_URL = "/docs/static"
TEMPLATE = "docs_asyncapi.html"


def install_docs(app: FastAPI) -> None:
    """Serve /docs (Swagger UI), /redoc, /asyncapi and /asyncapi.json from this process only.

    Nothing is loaded from another host: the Swagger UI and ReDoc bundles ship in the
    ``fastapi-offline`` wheel and are served by the intake under ``/docs/static``; the AsyncAPI
    page is one self-contained HTML rendering (Jinja2, inline CSS) of ``asyncapi_document()``.

    The app must be created with ``docs_url=None, redoc_url=None`` (FastAPI's own pages load
    their scripts from a CDN).
    """
    app.mount(STATIC_URL, StaticFiles(directory=ASSETS), name="docs-static")
    openapi_url = app.openapi_url or "/openapi.json"

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=f"{root}{openapi_url}",
            title=f"{app.title} — API",
            swagger_js_url=f"{root}{STATIC_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{STATIC_URL}/swagger-ui.css",
            swagger_favicon_url=f"{root}{STATIC_URL}/favicon.png",
            # the validator badge would call validator.swagger.io
            swagger_ui_parameters={"validatorUrl": None, "tryItOutEnabled": False},
        )

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_redoc_html(
            openapi_url=f"{root}{openapi_url}",
            title=f"{app.title} — API",
            redoc_js_url=f"{root}{STATIC_URL}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{STATIC_URL}/favicon.png",
            with_google_fonts=False,
        )

    @app.get("/asyncapi", include_in_schema=False)
    async def asyncapi_page() -> HTMLResponse:
        return HTMLResponse(await asyncio.to_thread(asyncapi_html))

    @app.get("/asyncapi.json", include_in_schema=False)
    async def asyncapi_json() -> JSONResponse:
        return JSONResponse(await asyncio.to_thread(_document))


@cache
def _document() -> dict[str, Any]:
    from shared.runtime.asyncapi import asyncapi_document

    return asyncapi_document()


@cache
def asyncapi_html() -> str:
    """The AsyncAPI document as one page: streams, subjects, consumers, payload schemas."""
    env = Environment(
        loader=FileSystemLoader(Path(__file__).parent),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env.get_template(TEMPLATE).render(**asyncapi_view(_document()))


# ---------------------------------------------------------------- the page's data


def _ref_name(ref: str) -> str:
    return ref.rsplit("/", 1)[-1].replace("%20", " ").replace("%3E", ">")


def subject_matches(pattern: str, address: str) -> bool:
    """Whether a subscription ``pattern`` (``*``, ``>``) receives what is published on
    ``address`` (whose ``{placeholders}`` stand for any one token)."""
    want = pattern.split(".")
    have = address.split(".")
    for i, token in enumerate(want):
        if token == ">":
            return len(have) > i
        if i >= len(have):
            return False
        if token != "*" and not re.fullmatch(r"\{\w+\}", have[i]) and token != have[i]:
            return False
    return len(want) == len(have)


def _payload_name(doc: dict[str, Any], channel: dict[str, Any]) -> str | None:
    for message in channel.get("messages", {}).values():
        resolved = doc["components"]["messages"].get(_ref_name(message.get("$ref", "")), {})
        ref = resolved.get("payload", {}).get("$ref")
        if ref:
            return _ref_name(ref)
    return None


def _type_of(schema: dict[str, Any]) -> tuple[str, str | None]:
    """(readable type, name of a referenced schema to link to)."""
    if "$ref" in schema:
        name = _ref_name(schema["$ref"])
        return name, name
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            parts = [_type_of(s) for s in schema[key]]
            link = next((link for _, link in parts if link), None)
            return " | ".join(text for text, _ in parts), link
    kind = schema.get("type", "any")
    if kind == "array":
        inner, link = _type_of(schema.get("items", {}))
        return f"list[{inner}]", link
    if "const" in schema:
        return f"{kind} = {schema['const']}", None
    if "enum" in schema:
        return " | ".join(str(v) for v in schema["enum"]), None
    fmt = schema.get("format")
    return (f"{kind} ({fmt})" if fmt else str(kind)), None


def _fields(schema: dict[str, Any]) -> list[dict[str, Any]]:
    required = set(schema.get("required", []))
    rows = []
    for name, prop in schema.get("properties", {}).items():
        text, link = _type_of(prop)
        rows.append(
            {
                "name": name,
                "type": text,
                "link": link,
                "required": name in required,
                "description": prop.get("description", ""),
            }
        )
    return rows


def asyncapi_view(doc: dict[str, Any]) -> dict[str, Any]:
    """What the AsyncAPI page shows, from the document (pure)."""
    channels = doc.get("channels", {})
    operations = list(doc.get("operations", {}).values())
    sends: list[dict[str, Any]] = []
    receives: list[dict[str, Any]] = []
    requests: list[dict[str, Any]] = []
    for operation in operations:
        name = _ref_name(operation["channel"]["$ref"])
        channel = channels.get(name)
        if channel is None:
            continue
        entry = {
            "name": name,
            "address": channel["address"],
            "description": channel.get("description", ""),
            "payload": _payload_name(doc, channel),
        }
        if "reply" in operation:  # core NATS request/reply: no stream, no durable
            reply = channels.get(_ref_name(operation["reply"]["channel"]["$ref"]), {})
            entry["answer"] = _payload_name(doc, reply)
            entry["action"] = operation["action"]
            requests.append(entry)
            continue
        (sends if operation["action"] == "send" else receives).append(entry)
    for consumer in receives:
        consumer["durable"] = consumer["name"].split(":", 1)[0]
        matched = [s for s in sends if subject_matches(consumer["address"], s["address"])]
        consumer["payload"] = next((s["payload"] for s in matched if s["payload"]), None)
    for subject in sends:
        subject["consumers"] = sorted(
            {c["durable"] for c in receives if subject_matches(c["address"], subject["address"])}
        )
    schemas = {
        name: schema
        for name, schema in doc.get("components", {}).get("schemas", {}).items()
        if ":" not in name
    }
    info = dict(doc.get("info", {}))
    # the streams are a table of their own on the page
    info["description"] = str(info.get("description", "")).split(" Streams: ")[0]
    return {
        "info": info,
        "version": doc.get("asyncapi", ""),
        "servers": doc.get("servers", {}),
        "streams": STREAMS,
        "subjects": sorted(sends, key=lambda s: s["address"]),
        "consumers": sorted(receives, key=lambda c: (c["durable"], c["address"])),
        "requests": sorted(requests, key=lambda r: (r["address"], r["name"])),
        "schemas": [
            {
                "name": name,
                "description": schema.get("description", ""),
                "fields": _fields(schema),
            }
            for name, schema in sorted(schemas.items())
        ],
    }

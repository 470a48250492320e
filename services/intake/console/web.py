"""The console's HTTP plumbing: templates, the session cookie, CSRF checks, bounded form bodies,
domain errors as pages."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from starlette.datastructures import FormData

from services.intake.auth import authenticate
from services.intake.console.sessions import SESSION_MAX_SECONDS, Session, Sessions
from services.intake.errors import IntakeError, Malformed, TooLarge, Unauthenticated
from services.intake.store import IntakeStore
from shared.access import Caller
from shared.deadlines import BEIJING_TIME

HERE = Path(__file__).parent
COOKIE = "nianbao_console"
#: most inputs a form of the console has (the supervision report has ~120, records ~250)
MAX_FIELDS = 2000


@cache
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        auto_reload=False,
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["beijing"] = beijing_time
    env.filters["page_kind"] = page_kind
    return env


def beijing_time(value: datetime | None, seconds: bool = False) -> str:
    """A time as Beijing time, as people in the offices read it."""
    if value is None:
        return ""
    return value.astimezone(BEIJING_TIME).strftime(
        "%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M"
    )


def page_kind(url: str) -> str:
    """What a published URL is, in words: the page, its JSON or CSV copy, the badge."""
    path = url.split("?")[0]
    for suffix, label in ((".json", "数据（JSON）"), (".csv", "表格（CSV）"), (".svg", "标识图片")):
        if path.endswith(suffix):
            return label
    return "报表页面"


class SignInRequired(Exception):
    """No session, or its token no longer works: to the sign-in page."""


class CsrfRefused(Exception):
    """A form post without this session's CSRF token."""


@dataclass
class Visit:
    """Who is at the console: the session and the caller its token stands for now."""

    session: Session
    caller: Caller


def render(
    request: Request,
    template: str,
    session: Session | None,
    status_code: int = 200,
    caller: Caller | None = None,
    **context: Any,
) -> HTMLResponse:
    flash = list(session.flash) if session else []
    if session:
        session.flash.clear()
    html = (
        environment()
        .get_template(template)
        .render(
            request=request,
            csrf=session.csrf if session else "",
            caller=caller,
            flash=flash,
            root=request.scope.get("root_path", ""),
            **context,
        )
    )
    return HTMLResponse(html, status_code=status_code, headers=PAGE_HEADERS)


#: console pages hold what only the signed-in may see: no cache keeps them, no frame shows them
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    #: only the console's own stylesheet and script; forms post back to it only
    "Content-Security-Policy": "default-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'; object-src 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


def set_session_cookie(request: Request, response: Response, session: Session) -> None:
    response.set_cookie(
        COOKIE,
        session.sid,
        max_age=SESSION_MAX_SECONDS,
        path=request.scope.get("root_path", "") or "/",
        httponly=True,
        secure=request.url.scheme == "https",
        samesite="strict",
    )


def redirect(request: Request, path: str) -> RedirectResponse:
    return RedirectResponse(request.scope.get("root_path", "") + path, status_code=303)


async def visitor(request: Request, sessions: Sessions, store: IntakeStore) -> Visit:
    """The signed-in session and its caller, or SignInRequired (the session then ends)."""
    session = sessions.get(request.cookies.get(COOKIE))
    if session is None or session.token is None:
        raise SignInRequired
    try:
        caller = await authenticate(store, session.token)
    except Unauthenticated:
        sessions.end(session.sid)
        raise SignInRequired from None
    return Visit(session, caller)


async def read_form(request: Request, session: Session, limit: int) -> FormData:
    """A posted form (urlencoded or multipart), read only after the session is known, within
    ``limit`` bytes, with this session's CSRF token or CsrfRefused."""
    declared = request.headers.get("content-length", "")
    if not declared.isdigit():
        raise Malformed("请求缺少长度（Content-Length）", "a form post needs a Content-Length")
    if int(declared) > limit:
        raise TooLarge(f"提交内容超过 {limit // 1024} KiB 上限", f"body exceeds {limit} bytes")
    try:
        form = await request.form(max_files=1, max_fields=MAX_FIELDS, max_part_size=limit)
    except Exception as exc:  # multipart's own errors: a body that is not a form
        raise Malformed("提交内容无法读取", f"the form cannot be read: {exc}") from exc
    sent = form.get("csrf")
    if not session.csrf_ok(sent if isinstance(sent, str) else None):
        raise CsrfRefused
    return form


def as_lists(form: FormData) -> Mapping[str, list[str]]:
    """The text fields of a form, each name with every value posted under it."""
    out: dict[str, list[str]] = {}
    for name, value in form.multi_items():
        if isinstance(value, str):
            out.setdefault(name, []).append(value)
    return out


def error_page(
    request: Request, session: Session | None, exc: IntakeError, status: int, caller: Caller | None
) -> HTMLResponse:
    return render(request, "error.html", session, status, caller, error=exc)

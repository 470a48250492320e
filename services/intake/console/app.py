"""The console as an app mounted under /console: sign-in, sign-out, errors as pages, its assets."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.intake.auth import authenticate
from services.intake.console.context import Console, anonymous
from services.intake.console.office_routes import office_router
from services.intake.console.site_routes import site_router
from services.intake.console.web import (
    COOKIE,
    HERE,
    PAGE_HEADERS,
    CsrfRefused,
    SignInRequired,
    error_page,
    read_form,
    redirect,
    render,
    set_session_cookie,
    visitor,
)
from services.intake.errors import IntakeError, Unauthenticated
from services.intake.problems import status_of
from shared.access import Caller

log = logging.getLogger(__name__)
#: a sign-in form is small: a token and a CSRF token
SIGN_IN_LIMIT = 4096


def build_console(console: Console) -> FastAPI:
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    store = console.intake.store

    @app.exception_handler(SignInRequired)
    async def to_sign_in(request: Request, _exc: SignInRequired) -> Response:
        return redirect(request, "/sign-in")

    @app.exception_handler(CsrfRefused)
    async def csrf_refused(request: Request, _exc: CsrfRefused) -> Response:
        session = console.sessions.get(request.cookies.get(COOKIE))
        error = IntakeError("表单已过期或来源不明，请返回重新操作", "CSRF token missing or wrong")
        return error_page(request, session, error, 403, None)

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> Response:
        session = console.sessions.get(request.cookies.get(COOKIE))
        fields = "、".join(str(err["loc"][-1]) for err in exc.errors())
        error = IntakeError(f"请求参数不符合要求：{fields}", "invalid request parameters")
        return error_page(request, session, error, 422, None)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        session = console.sessions.get(request.cookies.get(COOKIE))
        text = {404: "页面不存在", 405: "不支持该请求方式"}.get(exc.status_code, "请求无法处理")
        error = IntakeError(text, str(exc.detail))
        return error_page(request, session, error, exc.status_code, None)

    @app.exception_handler(IntakeError)
    async def domain_error(request: Request, exc: IntakeError) -> Response:
        session = console.sessions.get(request.cookies.get(COOKIE))
        return error_page(request, session, exc, status_of(exc), None)

    @app.get("/", include_in_schema=False)
    async def start(request: Request) -> Response:
        await visitor(request, console.sessions, store)
        return redirect(request, "/home")

    @app.get("/sign-in", response_class=HTMLResponse)
    async def sign_in_page(request: Request) -> Response:
        session, fresh = anonymous(request, console)
        response = render(request, "sign_in.html", session)
        if fresh:
            set_session_cookie(request, response, session)
        return response

    @app.post("/sign-in", response_class=HTMLResponse)
    async def sign_in(request: Request) -> Response:
        address = request.client.host if request.client else "?"
        session, fresh = anonymous(request, console)
        wait = console.throttle.wait_seconds(address)
        if wait:
            response = render(request, "sign_in.html", session, 429, wait=wait)
            response.headers["Retry-After"] = str(wait)
            return response
        if fresh:  # no session to hold a CSRF token: this post was not made from the page
            raise CsrfRefused
        form = await read_form(request, session, SIGN_IN_LIMIT)
        token = form.get("token")
        token = token.strip() if isinstance(token, str) else ""
        try:
            if not token:
                raise Unauthenticated("请输入访问令牌", "no token")
            caller = await _authenticate(console, token)
        except Unauthenticated as exc:
            console.throttle.failed(address)
            log.info("console sign-in refused", extra={"address": address})
            return render(request, "sign_in.html", session, 401, problem=exc.message_zh)
        console.throttle.succeeded(address)
        signed = console.sessions.sign_in(session, token)
        log.info("console sign-in", extra={"caller": f"{caller.kind}:{caller.code}"})
        moved = redirect(request, "/home")
        set_session_cookie(request, moved, signed)
        moved.headers.update(PAGE_HEADERS)
        return moved

    @app.post("/sign-out")
    async def sign_out(request: Request) -> Response:
        visit = await visitor(request, console.sessions, store)
        await read_form(request, visit.session, SIGN_IN_LIMIT)
        console.sessions.end(visit.session.sid)
        response = redirect(request, "/sign-in")
        response.delete_cookie(COOKIE, path=request.scope.get("root_path", "") or "/")
        return response

    app.include_router(site_router(console))
    app.include_router(office_router(console))
    return app


async def _authenticate(console: Console, token: str) -> Caller:
    caller = await authenticate(console.intake.store, token)
    if caller.kind == "operator":
        raise Unauthenticated(
            "控制台供网站和监管单位使用，运维令牌请使用命令行或接口",
            "the console is for sites and offices; operators use the API",
        )
    return caller

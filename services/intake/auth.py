"""Who is calling: the holder of the request's bearer token, as one FastAPI dependency."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, FastAPI, Header, Request

from services.intake.errors import Unauthenticated
from services.intake.store import IntakeStore
from shared.access import Caller


def bearer_token(authorization: str | None) -> str:
    """The token of an ``Authorization: Bearer …`` header, or Unauthenticated."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated(
            "缺少访问令牌（Authorization: Bearer …）",
            "missing bearer token (Authorization: Bearer ...)",
        )
    return token.strip()


async def authenticate(store: IntakeStore, token: str) -> Caller:
    """The token's holder now (the store caches lookups a few seconds, batches concurrent
    ones), or Unauthenticated: unknown, revoked or expired."""
    caller = await store.caller(token, datetime.now(UTC))
    if caller is None:
        raise Unauthenticated("访问令牌无效或已过期", "the bearer token is invalid or expired")
    return caller


def install_tokens(app: FastAPI, store: IntakeStore) -> None:
    """Where the app's routes look tokens up."""
    app.state.tokens = store


async def authenticated(
    request: Request, authorization: Annotated[str | None, Header()] = None
) -> Caller:
    """The caller, for every route that needs one. A dependency runs before the route reads
    its body (routes that take a large body read it from the Request themselves)."""
    store: IntakeStore = request.app.state.tokens
    return await authenticate(store, bearer_token(authorization))


async def maybe_authenticated(
    request: Request, authorization: Annotated[str | None, Header()] = None
) -> Caller | None:
    """The caller when a token is sent (and must be valid), None without one."""
    if authorization is None:
        return None
    return await authenticated(request, authorization)


Authenticated = Annotated[Caller, Depends(authenticated)]
MaybeAuthenticated = Annotated[Caller | None, Depends(maybe_authenticated)]

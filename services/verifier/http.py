"""The verifier's HTTP port: health, metrics, and the evidence of every check (public: it is
what anyone could fetch from the sites themselves; copies are served as text, never as HTML)."""

from __future__ import annotations

import gzip
import re
from typing import Any

from fastapi import FastAPI, HTTPException, Path, Request
from fastapi.responses import Response

from services.verifier.store import VerifierStore
from shared.contracts import CODE_PATTERN
from shared.runtime.metrics import Health


def create_app(store: VerifierStore, health: Health, lifespan: Any = None) -> FastAPI:
    app = FastAPI(
        title="nianbao verifier",
        summary="公开核验 — evidence of publication checks",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )

    @app.get("/healthz", include_in_schema=False)
    @app.get("/readyz", include_in_schema=False)
    @app.get("/metrics", include_in_schema=False)
    async def health_answer(request: Request) -> Response:
        if request.url.path != "/healthz":
            await health.refresh()  # the consumers' lag, when the last reading is old
        status, kind, body = health.respond(request.url.path)
        return Response(body, status_code=status, media_type=kind)

    @app.get("/v1/evidence/{code}/{year}")
    async def evidence(
        code: str = Path(pattern=CODE_PATTERN), year: int = Path(ge=2000, le=2100)
    ) -> dict[str, Any]:
        """Every check of a site's or office's publications (newest first) with its fetches."""
        checks = await store.checks(code, year)
        fetches = await store.fetches([c.check_id for c in checks])
        by_check: dict[str, list[dict[str, Any]]] = {}
        for f in fetches:
            row = f.model_dump(exclude={"copy_gz"})
            row["copy"] = f"/v1/evidence/copies/{f.fetch_id}"
            by_check.setdefault(f.check_id, []).append(row)
        return {
            "code": code,
            "year": year,
            "checks": [
                {**c.model_dump(exclude={"published"}), "fetches": by_check.get(c.check_id, [])}
                for c in checks
            ],
        }

    @app.get("/v1/evidence/copies/{fetch_id}")
    async def copy(fetch_id: str = Path(pattern=r"^[0-9a-f]{32}$")) -> Response:
        """The stored copy of a fetched page, as plain text in its charset (never rendered)."""
        fetched = await store.fetch(fetch_id)
        if fetched is None or fetched.copy_gz is None:
            raise HTTPException(404, "no such copy")
        charset = fetched.charset if re.fullmatch(r"[\w-]{1,40}", fetched.charset or "") else None
        return Response(
            gzip.decompress(fetched.copy_gz),
            media_type=f"text/plain; charset={charset or 'utf-8'}",
            headers={
                "Content-Security-Policy": "default-src 'none'; sandbox",
                "X-Content-Type-Options": "nosniff",
                "Content-Disposition": f'inline; filename="{fetch_id}.html.txt"',
            },
        )

    return app

"""The intake's HTTP app: the filing routes, errors as problems, offline docs, a health check."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from services.intake.auth import install_tokens
from services.intake.docs import install_docs
from services.intake.filing import Intake
from services.intake.filing_api import build_filing_router
from services.intake.problems import install_problem_handlers


def create_app(intake: Intake, max_body_bytes: int, lifespan: Any = None) -> FastAPI:
    """The app with the filing routes; the review, template and registry routers are added to
    it (they authenticate through the same token store and answer through the same handlers)."""
    app = FastAPI(
        title="nianbao intake",
        summary="政府网站年度报表 — 报送接口 (report intake API)",
        version="1",
        lifespan=lifespan,
        docs_url=None,  # FastAPI's own pages load from a CDN: install_docs serves them offline
        redoc_url=None,
        # the intake exports Prometheus metrics itself (HttpMetrics); FastAPI's OpenTelemetry
        # hooks, unused, would look up the OTel providers and environment on every request
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    install_tokens(app, intake.store)
    app.include_router(build_filing_router(intake, max_body_bytes))
    install_docs(app)
    install_problem_handlers(app)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app

"""Operational routes: liveness, readiness, problem type pages."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from faceverdict import errors
from faceverdict.entrypoints.api import problems
from faceverdict.entrypoints.api.deps import App
from faceverdict.entrypoints.api.responses import ERROR_RESPONSES
from faceverdict.entrypoints.api.schemas import Health

router = APIRouter(tags=["operations"])


@router.get("/healthz", response_model=Health)
async def healthz() -> Health:
    """Liveness: the process is up."""
    return Health(status="ok")


@router.get("/readyz", response_model=Health, responses=ERROR_RESPONSES)
async def readyz(application: App) -> Health:
    """Readiness: the database answers and the models are loaded."""
    await run_in_threadpool(application.repository.ping)
    return Health(
        status="ready",
        policy_version=application.policy.version,
        model_versions=application.ensemble.model_versions,
    )


@router.get("/problems/{slug}", response_class=HTMLResponse, include_in_schema=False)
async def problem_page(slug: str) -> HTMLResponse:
    """Human-readable description of a problem type."""
    if slug not in problems.PROBLEMS:
        raise errors.NotFound(f"no problem type {slug!r}")
    status, title = problems.PROBLEMS[slug]
    return HTMLResponse(
        f"<h1>{title}</h1><p>HTTP {status}. Type <code>/problems/{slug}</code>.</p>"
    )

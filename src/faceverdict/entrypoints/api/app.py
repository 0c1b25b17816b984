"""FastAPI application: the route modules over one wired application.

Routes are thin (parse, call one service, map the result) and live in one module per
resource (``checks``, ``evidence``, ``subjects``, ``webhooks``, ``operations``); they reach the
application and the caller through the dependencies of ``deps.py``, which tests override.
"""

from __future__ import annotations

from fastapi import FastAPI

from faceverdict import __version__
from faceverdict.entrypoints.api import checks, evidence, operations, problems, subjects, webhooks
from faceverdict.entrypoints.api.deps import InFlight
from faceverdict.entrypoints.api.limits import BodyLimit
from faceverdict.entrypoints.web.app import create_review_app
from faceverdict.entrypoints.web.metrics import metrics_router
from faceverdict.wiring.bootstrap import Application

# Multipart framing around the image: room for the form fields and boundaries.
_FORM_OVERHEAD = 64 * 1024


def create_app(application: Application) -> FastAPI:
    """The API over an already wired application."""
    app = FastAPI(
        title="faceverdict",
        version=__version__,
        summary="Deepfake defence for identity verification: score, reasons, action per capture.",
    )
    app.state.application = application
    app.state.in_flight = InFlight(application.settings.max_checks_in_flight)
    app.add_middleware(BodyLimit, max_bytes=application.settings.max_upload_bytes + _FORM_OVERHEAD)
    problems.install(app)
    for router in (
        checks.router,
        evidence.router,
        subjects.router,
        webhooks.router,
        operations.router,
    ):
        app.include_router(router)
    review = application.review  # the reviewer UI and its metrics
    app.mount("/review", create_review_app(review))
    app.include_router(metrics_router(review.reports, review.settings.metrics_token))
    return app

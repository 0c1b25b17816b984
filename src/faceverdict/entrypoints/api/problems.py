"""RFC 9457 problem details: every error crosses the HTTP edge as application/problem+json."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from faceverdict import errors

log = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"

# slug -> (HTTP status, title). The slug is the stable part of the type URI.
PROBLEMS: dict[str, tuple[int, str]] = {
    errors.UnsupportedFormat.slug: (415, "Unsupported image format"),
    errors.CorruptedImage.slug: (422, "Corrupted image"),
    errors.ImageTooLarge.slug: (413, "Image too large"),
    errors.AnimatedImage.slug: (422, "Animated image"),
    errors.CaptureRejected.slug: (422, "Capture rejected"),
    errors.InvalidRequest.slug: (422, "Invalid request"),
    errors.UnknownFlow.slug: (422, "Unknown flow"),
    errors.UnsafeWebhookTarget.slug: (422, "Webhook target not allowed"),
    errors.IdempotencyConflict.slug: (409, "Idempotency-Key reused"),
    errors.NotFound.slug: (404, "Not found"),
    errors.CaptureGone.slug: (410, "Capture gone (erased or past retention)"),
    errors.IntegrityFailure.slug: (500, "Evidence integrity failure"),
    errors.KeyUnavailable.slug: (503, "Data key unavailable"),
    errors.Overloaded.slug: (503, "Too many checks in flight"),
    errors.Unavailable.slug: (503, "Service unavailable"),
    errors.Unauthorized.slug: (401, "Missing or invalid API key"),
    "method-not-allowed": (405, "Method not allowed"),
    "http-error": (400, "Bad request"),
    "internal": (500, "Internal error"),
}

RETRY_AFTER_SECONDS = 5


class Problem(BaseModel):
    """An RFC 9457 problem details object."""

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    errors: list[dict[str, Any]] | None = None


def problem_type(slug: str) -> str:
    """The type URI of a problem; it resolves to a description served by this API."""
    return f"/problems/{slug}"


def problem_response(
    slug: str,
    detail: str,
    request: Request | None = None,
    status: int | None = None,
    extra: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """A problem+json response for ``slug``."""
    known_status, title = PROBLEMS.get(slug, (status or 400, slug.replace("-", " ").capitalize()))
    body: dict[str, Any] = {
        "type": problem_type(slug),
        "title": title,
        "status": status or known_status,
        "detail": detail,
    }
    if request is not None:
        body["instance"] = request.url.path
    body.update(extra or {})
    return JSONResponse(
        body, status_code=body["status"], media_type=PROBLEM_MEDIA_TYPE, headers=headers
    )


def install(app: FastAPI) -> None:
    """Register the exception handlers that turn every error into problem+json."""

    @app.exception_handler(errors.FaceverdictError)
    async def _domain(request: Request, exc: errors.FaceverdictError) -> JSONResponse:
        headers = None
        if isinstance(exc, errors.Overloaded):
            headers = {"Retry-After": "1"}
        elif isinstance(exc, errors.Unavailable):
            headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
        elif isinstance(exc, errors.Unauthorized):
            headers = {"WWW-Authenticate": "Bearer"}
        extra = {}
        if isinstance(exc, errors.CaptureRejected):
            extra["abstention"] = exc.abstention.value
        return problem_response(exc.slug, exc.detail, request, extra=extra, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        details = [
            {"field": ".".join(str(p) for p in e.get("loc", ())), "message": e.get("msg", "")}
            for e in exc.errors()
        ]
        summary = "; ".join(f"{d['field']}: {d['message']}" for d in details[:5])
        return problem_response(
            errors.InvalidRequest.slug,
            summary or "invalid request",
            request,
            extra={"errors": details},
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        slug = {401: "unauthorized", 404: "not-found", 405: "method-not-allowed"}.get(
            exc.status_code, "http-error"
        )
        headers = dict(exc.headers or {})
        return problem_response(
            slug, str(exc.detail), request, status=exc.status_code, headers=headers or None
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s", request.url.path)
        return problem_response("internal", "an unexpected error occurred", request)

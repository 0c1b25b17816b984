"""The problem responses the API documents on its routes (RFC 9457 problem+json)."""

from __future__ import annotations

from faceverdict.entrypoints.api import problems

ERROR_RESPONSES: dict[int | str, dict[str, object]] = {
    status: {
        "model": problems.Problem,
        "content": {problems.PROBLEM_MEDIA_TYPE: {}},
        "description": description,
    }
    for status, description in {
        401: "Missing or invalid API key",
        404: "Unknown check",
        410: "The capture was erased or is past retention",
        409: "Idempotency-Key reused with a different request",
        413: "Upload over the byte or pixel limit",
        415: "Not an accepted image format",
        422: "Invalid field, unknown flow, corrupted or animated image",
        503: "A backing service is down, or too many checks are in flight: retry after Retry-After",
    }.items()
}

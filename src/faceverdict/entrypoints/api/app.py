"""FastAPI application: thin routes that parse, call one service, and map the result."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, FastAPI, File, Form, Header, Query, Request, Response, UploadFile
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse
from starlette.concurrency import run_in_threadpool

from faceverdict import __version__, errors
from faceverdict.bootstrap import Application
from faceverdict.domain.policy import ClientSignals
from faceverdict.entrypoints.api import problems
from faceverdict.entrypoints.api.evidence_schemas import (
    ConsistencyOut,
    ErasureOut,
    EvidencePackageOut,
)
from faceverdict.entrypoints.api.limits import BodyLimit
from faceverdict.entrypoints.api.schemas import CheckOut, Health
from faceverdict.entrypoints.api.webhooks import webhooks_router
from faceverdict.entrypoints.web.app import create_review_app
from faceverdict.entrypoints.web.metrics import metrics_router
from faceverdict.services.captures import caller_id
from faceverdict.services.checks import SubmitCheck

# Multipart framing around the image: room for the form fields and boundaries.
_FORM_OVERHEAD = 64 * 1024

_ERROR_RESPONSES: dict[int | str, dict[str, object]] = {
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
        503: "A backing service is unavailable; retry after the Retry-After delay",
    }.items()
}


def create_app(application: Application) -> FastAPI:
    """The API over an already wired application."""
    settings = application.settings
    app = FastAPI(
        title="faceverdict",
        version=__version__,
        summary="Deepfake defence for identity verification: score, reasons, action per capture.",
    )
    app.add_middleware(BodyLimit, max_bytes=settings.max_upload_bytes + _FORM_OVERHEAD)
    problems.install(app)
    keys = [k.get_secret_value().encode() for k in settings.api_keys]

    def authorise(authorization: Annotated[str | None, Header()] = None) -> str:
        """The caller: a short hash of its API key (never the key), for the evidence log."""
        if not keys:
            return "anonymous"  # development without keys (refused in production by settings)
        token = (authorization or "").removeprefix("Bearer ").strip().encode()
        if not any(hmac.compare_digest(token, k) for k in keys):
            raise errors.Unauthorized("send 'Authorization: Bearer <API key>'")
        return caller_id(token.decode())

    auth = [Depends(authorise)]

    @app.post(
        "/v1/checks",
        response_model=CheckOut,
        status_code=201,
        dependencies=auth,
        responses={
            200: {"model": CheckOut, "description": "Idempotent replay"},
            **_ERROR_RESPONSES,
        },
        tags=["checks"],
    )
    async def submit_check(
        response: Response,
        image: Annotated[UploadFile, File(description="JPEG, PNG, WebP or AVIF face capture")],
        subject_ref: Annotated[str, Form(min_length=1, max_length=256)],
        flow: Annotated[str, Form(min_length=1, max_length=64)],
        liveness_score: Annotated[float | None, Form(ge=0, le=1)] = None,
        device_risk: Annotated[float | None, Form(ge=0, le=1)] = None,
        document_match_score: Annotated[float | None, Form(ge=0, le=1)] = None,
        idempotency_key: Annotated[str | None, Header(max_length=255)] = None,
    ) -> CheckOut:
        """Judge a face capture and decide what to do with it."""
        data = await image.read(settings.max_upload_bytes + 1)
        if len(data) > settings.max_upload_bytes:
            raise errors.ImageTooLarge(f"image exceeds {settings.max_upload_bytes} bytes")
        command = SubmitCheck(
            image=data,
            subject_ref=subject_ref,
            flow=flow,
            signals=ClientSignals(
                liveness_score=liveness_score,
                device_risk=device_risk,
                document_match_score=document_match_score,
            ),
            idempotency_key=idempotency_key,
        )
        submitted = await run_in_threadpool(application.checks.submit, command)
        response.status_code = 201 if submitted.created else 200
        response.headers["Location"] = f"/v1/checks/{submitted.check.check_id}"
        return CheckOut.of(submitted.check)

    @app.get(
        "/v1/checks/{check_id}",
        response_model=CheckOut,
        dependencies=auth,
        responses=_ERROR_RESPONSES,
        tags=["checks"],
    )
    async def get_check(check_id: str) -> CheckOut:
        """The current state of a check, with its decision history."""
        check = await run_in_threadpool(application.checks.get, check_id)
        return CheckOut.of(check)

    records = application.records

    @app.get(
        "/v1/checks/{check_id}/evidence",
        response_model=EvidencePackageOut,
        dependencies=auth,
        responses=_ERROR_RESPONSES,
        tags=["evidence"],
    )
    async def get_evidence(check_id: str) -> JSONResponse:
        """The check's evidence package: entries with inclusion proofs against a signed
        checkpoint, the decision rationale and retention. Verify it offline with
        `faceverdict evidence verify PACKAGE.json --public-key VKEY`."""
        package = await run_in_threadpool(records.packages.package, check_id)
        # Returned as built: the entries must reach the auditor exactly as they were hashed.
        return JSONResponse(package)

    @app.get(
        "/v1/checks/{check_id}/capture",
        response_class=Response,
        responses={
            200: {
                "content": {"image/jpeg": {}, "image/png": {}, "image/webp": {}, "image/avif": {}},
                "description": "The raw capture (decrypted); this read is in the evidence log",
            },
            **_ERROR_RESPONSES,
        },
        tags=["evidence"],
    )
    async def get_capture(
        check_id: str,
        access_reason: Annotated[
            str,
            Header(
                alias="X-Access-Reason",
                min_length=1,
                max_length=500,
                description="why the raw image is needed (e.g. a case number); logged",
            ),
        ],
        caller: str = Depends(authorise),
    ) -> Response:
        """The raw capture of a check, decrypted. Every read is logged as a `capture.read`
        evidence entry naming the caller (a hash of its API key) and the reason."""
        copy = await run_in_threadpool(
            records.captures.read, check_id, caller=caller, reason=access_reason, channel="api"
        )
        return Response(
            content=copy.data,
            media_type=copy.media_type,
            headers={
                "Cache-Control": "no-store",
                "X-Evidence-Seq": str(copy.evidence_seq),
                "X-Content-Sha256": copy.sha256,
            },
        )

    @app.delete(
        "/v1/subjects/{subject_ref:path}",
        response_model=ErasureOut,
        responses=_ERROR_RESPONSES,
        tags=["subjects"],
    )
    async def erase_subject(subject_ref: str, caller: str = Depends(authorise)) -> ErasureOut:
        """Erase a subject: destroy its data key (crypto-shredding), delete its captures and
        log the erasure. Decisions and evidence stay verifiable by hashes and codes."""
        erasure = await run_in_threadpool(records.erasure.erase, subject_ref, requested_by=caller)
        return ErasureOut.of(erasure)

    @app.get(
        "/v1/evidence/checkpoint",
        response_class=PlainTextResponse,
        dependencies=auth,
        responses=_ERROR_RESPONSES,
        tags=["evidence"],
    )
    async def latest_checkpoint() -> PlainTextResponse:
        """A signed checkpoint of the whole log now (C2SP signed note), e.g. for witnesses."""
        signed = await run_in_threadpool(records.evidence.checkpoint)
        return PlainTextResponse(signed.note)

    @app.get(
        "/v1/evidence/consistency",
        response_model=ConsistencyOut,
        dependencies=auth,
        responses=_ERROR_RESPONSES,
        tags=["evidence"],
    )
    async def consistency(
        old_size: Annotated[int, Query(ge=0, description="size of a checkpoint you hold")],
    ) -> JSONResponse:
        """A signed checkpoint of the log now and the RFC 9162 consistency proof from your
        older checkpoint to it: `faceverdict evidence verify-consistency` checks both."""
        body = await run_in_threadpool(records.evidence.consistency_since, old_size)
        return JSONResponse(body)

    @app.get(
        "/v1/evidence/public-key",
        response_class=PlainTextResponse,
        dependencies=auth,
        responses=_ERROR_RESPONSES,
        tags=["evidence"],
    )
    async def public_key() -> PlainTextResponse:
        """The log's verifier key (vkey). Auditors should also get it through another channel."""
        return PlainTextResponse(records.evidence.signer.vkey + "\n")

    @app.get("/healthz", response_model=Health, tags=["operations"])
    async def healthz() -> Health:
        """Liveness: the process is up."""
        return Health(status="ok")

    @app.get("/readyz", response_model=Health, responses=_ERROR_RESPONSES, tags=["operations"])
    async def readyz() -> Health:
        """Readiness: the database answers and the models are loaded."""
        await run_in_threadpool(application.repository.ping)
        return Health(
            status="ready",
            policy_version=application.policy.version,
            model_versions=application.ensemble.model_versions,
        )

    @app.get("/problems/{slug}", response_class=HTMLResponse, include_in_schema=False)
    async def problem_page(slug: str, request: Request) -> HTMLResponse:
        """Human-readable description of a problem type."""
        if slug not in problems.PROBLEMS:
            raise errors.NotFound(f"no problem type {slug!r}")
        status, title = problems.PROBLEMS[slug]
        return HTMLResponse(
            f"<h1>{title}</h1><p>HTTP {status}. Type <code>/problems/{slug}</code>.</p>"
        )

    if application.review is not None:  # the reviewer UI and its metrics
        review = application.review
        app.mount("/review", create_review_app(review))
        app.include_router(metrics_router(review.reports, review.settings.metrics_token))

    if application.webhooks is not None:
        app.include_router(webhooks_router(application.webhooks, auth, _ERROR_RESPONSES))
    return app

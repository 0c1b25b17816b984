"""The evidence routes: a check's evidence package and raw capture, checkpoints, proofs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from starlette.concurrency import run_in_threadpool

from faceverdict.entrypoints.api.deps import AUTHORISED, App, Caller
from faceverdict.entrypoints.api.evidence_schemas import ConsistencyOut, EvidencePackageOut
from faceverdict.entrypoints.api.responses import ERROR_RESPONSES

router = APIRouter(tags=["evidence"], responses=ERROR_RESPONSES)


@router.get(
    "/v1/checks/{check_id}/evidence",
    response_model=EvidencePackageOut,
    dependencies=AUTHORISED,
)
async def get_evidence(application: App, check_id: str) -> JSONResponse:
    """The check's evidence package: entries with inclusion proofs against a signed
    checkpoint, the decision rationale and retention. Verify it offline with
    `faceverdict evidence verify PACKAGE.json --public-key VKEY`."""
    package = await run_in_threadpool(application.records.packages.package, check_id)
    # Returned as built: the entries must reach the auditor exactly as they were hashed.
    return JSONResponse(package)


@router.get(
    "/v1/checks/{check_id}/capture",
    response_class=Response,
    responses={
        200: {
            "content": {"image/jpeg": {}, "image/png": {}, "image/webp": {}, "image/avif": {}},
            "description": "The raw capture (decrypted); this read is in the evidence log",
        },
    },
)
async def get_capture(
    application: App,
    caller: Caller,
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
) -> Response:
    """The raw capture of a check, decrypted. Every read is logged as a `capture.read`
    evidence entry naming the caller (a hash of its API key) and the reason."""
    copy = await run_in_threadpool(
        application.records.captures.read,
        check_id,
        caller=caller,
        reason=access_reason,
        channel="api",
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


@router.get("/v1/evidence/checkpoint", response_class=PlainTextResponse, dependencies=AUTHORISED)
async def latest_checkpoint(application: App) -> PlainTextResponse:
    """A signed checkpoint of the whole log now (C2SP signed note), e.g. for witnesses."""
    signed = await run_in_threadpool(application.records.evidence.checkpoint)
    return PlainTextResponse(signed.note)


@router.get("/v1/evidence/consistency", response_model=ConsistencyOut, dependencies=AUTHORISED)
async def consistency(
    application: App,
    old_size: Annotated[int, Query(ge=0, description="size of a checkpoint you hold")],
) -> JSONResponse:
    """A signed checkpoint of the log now and the RFC 9162 consistency proof from your
    older checkpoint to it: `faceverdict evidence verify-consistency` checks both."""
    body = await run_in_threadpool(application.records.evidence.consistency_since, old_size)
    return JSONResponse(body)


@router.get("/v1/evidence/public-key", response_class=PlainTextResponse, dependencies=AUTHORISED)
async def public_key(application: App) -> PlainTextResponse:
    """The log's verifier key (vkey). Auditors should also get it through another channel."""
    return PlainTextResponse(application.records.evidence.signer.vkey + "\n")

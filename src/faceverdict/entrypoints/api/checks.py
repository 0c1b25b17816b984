"""``/v1/checks``: submit a capture to be judged, read a check."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Header, Response, UploadFile
from starlette.concurrency import run_in_threadpool

from faceverdict import errors
from faceverdict.domain.policy import ClientSignals
from faceverdict.entrypoints.api.deps import AUTHORISED, App, Slots
from faceverdict.entrypoints.api.responses import ERROR_RESPONSES
from faceverdict.entrypoints.api.schemas import CheckOut
from faceverdict.services.checks import SubmitCheck

router = APIRouter(prefix="/v1/checks", tags=["checks"], dependencies=AUTHORISED)


@router.post(
    "",
    response_model=CheckOut,
    status_code=201,
    responses={200: {"model": CheckOut, "description": "Idempotent replay"}, **ERROR_RESPONSES},
)
async def submit_check(
    application: App,
    slots: Slots,
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
    limit = application.settings.max_upload_bytes
    data = await image.read(limit + 1)
    if len(data) > limit:
        raise errors.ImageTooLarge(f"image exceeds {limit} bytes")
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
    with slots.slot():
        submitted = await run_in_threadpool(application.checks.submit, command)
    response.status_code = 201 if submitted.created else 200
    response.headers["Location"] = f"/v1/checks/{submitted.check.check_id}"
    return CheckOut.of(submitted.check)


@router.get("/{check_id}", response_model=CheckOut, responses=ERROR_RESPONSES)
async def get_check(application: App, check_id: str) -> CheckOut:
    """The current state of a check, with its decision history."""
    check = await run_in_threadpool(application.checks.get, check_id)
    return CheckOut.of(check)

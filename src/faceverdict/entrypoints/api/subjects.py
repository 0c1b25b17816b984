"""``/v1/subjects``: what the service holds about one of your users."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from faceverdict.entrypoints.api.deps import App, Caller
from faceverdict.entrypoints.api.evidence_schemas import ErasureOut
from faceverdict.entrypoints.api.responses import ERROR_RESPONSES

router = APIRouter(prefix="/v1/subjects", tags=["subjects"], responses=ERROR_RESPONSES)


@router.delete("/{subject_ref:path}", response_model=ErasureOut)
async def erase_subject(application: App, caller: Caller, subject_ref: str) -> ErasureOut:
    """Erase a subject: destroy its data key (crypto-shredding), delete its captures and
    log the erasure. Decisions and evidence stay verifiable by hashes and codes."""
    erasure = await run_in_threadpool(
        application.records.erasure.erase, subject_ref, requested_by=caller
    )
    return ErasureOut.of(erasure)

"""Webhook routes: register endpoints per event type, rotate secrets, dead letters."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from faceverdict.entrypoints.api.deps import AUTHORISED, App
from faceverdict.entrypoints.api.responses import ERROR_RESPONSES
from faceverdict.ports.webhooks import Delivery, Endpoint
from faceverdict.services.webhooks import EVENT_TYPES


class EndpointIn(BaseModel):
    """A receiver to register."""

    url: str = Field(max_length=2000, examples=["https://bank.example/hooks/faceverdict"])
    event_types: list[str] = Field(min_length=1, examples=[list(EVENT_TYPES)])
    secret: str | None = Field(
        default=None, description="whsec_ + base64; generated when absent", max_length=200
    )
    description: str = Field(default="", max_length=200)


class EndpointOut(BaseModel):
    """A registered receiver; ``secrets`` only in the answers to create and rotate."""

    endpoint_id: str
    url: str
    event_types: list[str]
    created_at: datetime
    description: str
    secrets: list[str] | None = None

    @classmethod
    def of(cls, endpoint: Endpoint, *, with_secrets: bool = False) -> EndpointOut:
        """The API view of an endpoint."""
        return cls(
            endpoint_id=endpoint.endpoint_id,
            url=endpoint.url,
            event_types=list(endpoint.event_types),
            created_at=endpoint.created_at,
            description=endpoint.description,
            secrets=[s.value for s in endpoint.secrets] if with_secrets else None,
        )


class DeliveryOut(BaseModel):
    """One delivery of one event to one endpoint; ``delivery_id`` is its ``webhook-id``."""

    delivery_id: str
    endpoint_id: str
    event_type: str
    status: str
    attempts: int
    created_at: datetime
    last_error: str | None
    payload: dict[str, Any]

    @classmethod
    def of(cls, delivery: Delivery) -> DeliveryOut:
        """The API view of a delivery."""
        return cls(
            delivery_id=delivery.delivery_id,
            endpoint_id=delivery.endpoint_id,
            event_type=delivery.event_type,
            status=delivery.status.value,
            attempts=delivery.attempts,
            created_at=delivery.created_at,
            last_error=delivery.last_error,
            payload=dict(delivery.payload),
        )


router = APIRouter(
    prefix="/v1/webhooks", tags=["webhooks"], dependencies=AUTHORISED, responses=ERROR_RESPONSES
)


@router.post("", response_model=EndpointOut, status_code=201)
async def register(application: App, body: EndpointIn) -> EndpointOut:
    """Register a receiver for some event types (the URL must be public)."""
    endpoint = await run_in_threadpool(
        application.webhooks.register, body.url, body.event_types, body.secret, body.description
    )
    return EndpointOut.of(endpoint, with_secrets=True)


@router.get("", response_model=list[EndpointOut])
async def list_endpoints(application: App) -> list[EndpointOut]:
    """Every registered receiver (secrets are not shown)."""
    endpoints = await run_in_threadpool(application.webhooks.store.endpoints)
    return [EndpointOut.of(e) for e in endpoints]


@router.get("/dead-letters", response_model=list[DeliveryOut])
async def dead_letters(application: App) -> list[DeliveryOut]:
    """Deliveries given up on after the retry window, oldest first."""
    letters = await run_in_threadpool(application.webhooks.dead_letters)
    return [DeliveryOut.of(d) for d in letters]


@router.post("/dead-letters/{delivery_id}/replay", response_model=DeliveryOut)
async def replay(application: App, delivery_id: str) -> DeliveryOut:
    """Send a dead-lettered delivery again, with the same webhook-id."""
    return DeliveryOut.of(await run_in_threadpool(application.webhooks.replay, delivery_id))


@router.post("/{endpoint_id}/rotate", response_model=EndpointOut)
async def rotate(application: App, endpoint_id: str) -> EndpointOut:
    """Add a new secret; the old ones keep signing during the overlap period."""
    endpoint = await run_in_threadpool(application.webhooks.rotate, endpoint_id)
    return EndpointOut.of(endpoint, with_secrets=True)


@router.delete("/{endpoint_id}", status_code=204)
async def delete(application: App, endpoint_id: str) -> None:
    """Stop sending to a receiver."""
    await run_in_threadpool(application.webhooks.delete, endpoint_id)

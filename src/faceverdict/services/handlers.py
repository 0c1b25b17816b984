"""The reactions to a check's events, in one table.

Each row names an event type and the handlers that react to it, in order; each handler has
a stable name (the outbox ledger marks it done per event, so a reaction runs once per event
whether it ran live or from the sweep). To react to an event, add a row here and wire the
service in ``faceverdict.wiring``; never call a reaction from another service.
"""

from __future__ import annotations

from faceverdict.domain.events import AssuranceStarted, CheckDecided, ReviewRequested
from faceverdict.services.assurance import AssuranceService
from faceverdict.services.messagebus import HandlerTable
from faceverdict.services.review.intake import ReviewIntake
from faceverdict.services.webhooks import WebhookService


def handler_table(
    *, review: ReviewIntake, assurance: AssuranceService, webhooks: WebhookService
) -> HandlerTable:
    """Event type -> (handler name, handler), in the order they run."""
    return {
        CheckDecided: [
            ("review.queue", review.on_decided),
            ("webhooks.deliver", webhooks.on_decided),
            ("assurance.select", assurance.on_decided),
        ],
        AssuranceStarted: [("assurance.enqueue", assurance.on_started)],
        ReviewRequested: [("review.queue", review.on_requested)],
    }

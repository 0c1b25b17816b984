"""memory_stores: every store of ``Stores`` in memory, over one shared world."""

from __future__ import annotations

from faceverdict.adapters.system_clock import SystemClock
from faceverdict.ports.clock import Clock
from faceverdict.testing.captures import MemoryCaptureRecords, MemorySubjectKeys
from faceverdict.testing.checks import MemoryCheckRepository
from faceverdict.testing.events import MemoryEventLedger
from faceverdict.testing.evidence import MemoryEvidenceReader
from faceverdict.testing.rescans import MemoryRescanStore
from faceverdict.testing.review import MemoryReviewAudit, MemoryReviewTasks
from faceverdict.testing.reviewers import MemoryReviewerAccounts
from faceverdict.testing.uow import MemoryUnitOfWork
from faceverdict.testing.webhooks import MemoryWebhookStore
from faceverdict.testing.world import World
from faceverdict.wiring.stores import Stores


def memory_stores(clock: Clock | None = None, world: World | None = None) -> Stores:
    """Every store on one in-memory world (a new one unless given); ``clock`` stamps the
    rows' own times (``updated_at`` of checks and re-scan runs, outbox ``recorded_at``)."""
    world = world or World(clock or SystemClock())
    return Stores(
        checks=MemoryCheckRepository(world),
        uow=MemoryUnitOfWork(world),
        evidence=MemoryEvidenceReader(world),
        captures=MemoryCaptureRecords(world),
        subject_keys=MemorySubjectKeys(world),
        events=MemoryEventLedger(world),
        review_tasks=MemoryReviewTasks(world),
        review_audit=MemoryReviewAudit(world),
        reviewers=MemoryReviewerAccounts(world),
        rescans=MemoryRescanStore(world),
        webhooks=MemoryWebhookStore(world),
    )

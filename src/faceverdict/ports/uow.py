"""The unit of work: what is written together commits or rolls back as one."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Protocol

from faceverdict.ports.captures import CaptureRecords, PrivacyWriter
from faceverdict.ports.checks import CheckRepository
from faceverdict.ports.events import EventOutbox
from faceverdict.ports.evidence import EvidenceWriter


class Transaction(Protocol):
    """Everything written together: commits or rolls back as one."""

    @property
    def checks(self) -> CheckRepository:
        """Checks and decisions."""
        ...

    @property
    def evidence(self) -> EvidenceWriter:
        """The evidence log."""
        ...

    @property
    def events(self) -> EventOutbox:
        """The event outbox: the events of what this transaction writes."""
        ...

    @property
    def captures(self) -> CaptureRecords:
        """Capture records."""
        ...

    @property
    def privacy(self) -> PrivacyWriter:
        """Erasure and retention writes."""
        ...


class UnitOfWork(Protocol):
    """Opens write transactions across the check store and the evidence log."""

    def begin(self) -> AbstractContextManager[Transaction]:
        """A transaction: committed when the block ends, rolled back if it raises."""
        ...

    def purge_deleted(self) -> bool:
        """Make deleted rows unrecoverable from the store's files; True if complete."""
        ...

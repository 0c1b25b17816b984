"""SqlUnitOfWork: one database transaction for a check, its evidence and its capture record.

See docs/decisions/0003-evidence-log.md. A write transaction on SQLite begins IMMEDIATE (the
single write lock is taken up front); on PostgreSQL the evidence writer locks the head row.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, Engine

from faceverdict.adapters.sql_check_repository import SQLITE_BEGIN, SqlCheckRepository
from faceverdict.adapters.sql_event_outbox import SqlEventOutbox
from faceverdict.adapters.sql_evidence_log import FrontierCache, SqlEvidenceWriter
from faceverdict.adapters.sql_privacy import SqlCaptureRecords, SqlPrivacyWriter
from faceverdict.adapters.sql_support import unavailable_on_outage

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SqlTransaction:
    """The repositories of one open transaction (they share its connection)."""

    checks: SqlCheckRepository
    evidence: SqlEvidenceWriter
    events: SqlEventOutbox
    captures: SqlCaptureRecords
    privacy: SqlPrivacyWriter


class SqlUnitOfWork:
    """Opens write transactions spanning checks, evidence and capture records."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._frontier = FrontierCache()
        self._sqlite = engine.dialect.name == "sqlite"

    def _write(self, conn: Connection) -> Connection:
        # SQLite: take the single write lock at BEGIN, waiting for it, so that a transaction
        # that reads before it writes never fails to upgrade (see make_engine).
        if self._sqlite:
            conn.execution_options(**{SQLITE_BEGIN: "IMMEDIATE"})
        return conn

    @contextmanager
    def begin(self) -> Iterator[SqlTransaction]:
        """A write transaction: committed when the block ends, rolled back if it raises."""
        with (
            unavailable_on_outage(),
            self._engine.connect() as conn,
            self._write(conn).begin(),
        ):
            yield SqlTransaction(
                checks=SqlCheckRepository(self._engine, conn),
                evidence=SqlEvidenceWriter(conn, self._frontier),
                events=SqlEventOutbox(conn, datetime.now(UTC)),
                captures=SqlCaptureRecords(self._engine, conn),
                privacy=SqlPrivacyWriter(conn),
            )

    def purge_deleted(self) -> bool:
        """Make deleted rows unrecoverable from the database files; True if complete.

        SQLite (with ``secure_delete``) has zeroed deleted content in the database pages, but
        older page images stay in the write-ahead log until a checkpoint resets it: a
        TRUNCATE checkpoint copies every frame back and empties the WAL file. It cannot
        complete while another connection reads; then it reports False and a later call
        (every erasure and sweep makes one) finishes the job. PostgreSQL keeps dead tuples
        until VACUUM, which its autovacuum runs; see docs/evidence.md on erasure.
        """
        if not self._sqlite:
            return True
        raw = self._engine.raw_connection()
        try:
            cursor = raw.cursor()
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            row = cursor.fetchone()
            cursor.close()
            busy = 1 if row is None else row[0]
        finally:
            raw.close()
        if busy:
            log.warning("WAL checkpoint incomplete: a reader holds the log; retried later")
        return not busy

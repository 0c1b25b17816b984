"""SqlCheckRepository: checks and decisions in SQLite (embedded) or PostgreSQL (scale-out)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    create_engine,
    event,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError

from faceverdict.adapters.sql_mapping import (
    decision_from_row,
    decision_to_row,
    result_from_json,
    result_to_json,
)
from faceverdict.adapters.sql_schema import checks, decisions
from faceverdict.adapters.sql_support import unavailable_on_outage, utc
from faceverdict.domain.check import CaptureInfo, Check, CheckState
from faceverdict.domain.policy import ClientSignals
from faceverdict.ports.checks import DecisionConflict, DuplicateIdempotencyKey

# Execution option naming the SQLite BEGIN mode of a connection's next transaction.
SQLITE_BEGIN = "faceverdict_sqlite_begin"


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets WAL, foreign keys and secure deletion.

    SQLite transactions are begun by us (the SQLAlchemy pysqlite recipe), so that a writer can
    ask for ``BEGIN IMMEDIATE`` (``execution_options(faceverdict_sqlite_begin="IMMEDIATE")``):
    it takes the single write lock up front, waiting for it, instead of failing when a read
    transaction later tries to write. ``secure_delete`` zeroes deleted content, so that an
    erased subject's wrapped key does not survive in free pages.
    """
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # we emit BEGIN ourselves, see _begin
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA secure_delete=ON")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _begin(conn: Connection) -> None:
            mode = conn.get_execution_options().get(SQLITE_BEGIN, "DEFERRED")
            conn.exec_driver_sql(f"BEGIN {mode}")

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5)


class SqlCheckRepository:
    """Stores checks through SQLAlchemy Core.

    Built on an engine, each call is its own transaction; built on a connection (by the unit
    of work), calls join that connection's transaction and commit with it.
    """

    def __init__(self, engine: Engine, connection: Connection | None = None) -> None:
        self._engine = engine
        self._conn = connection

    @contextmanager
    def _tx(self) -> Iterator[Connection]:
        if self._conn is not None:
            with unavailable_on_outage():
                yield self._conn
            return
        with unavailable_on_outage(), self._engine.begin() as conn:
            yield conn

    def _savepoint(self, conn: Connection) -> AbstractContextManager[object]:
        # Inside a shared transaction a failed insert must not abort the whole transaction.
        return conn.begin_nested() if self._conn is not None else nullcontext()

    def add(self, check: Check) -> None:
        """Insert a new check with its results and decisions, atomically."""
        now = datetime.now(UTC)
        row = {
            "check_id": check.check_id,
            "subject_pseudonym": check.subject_pseudonym,
            "flow": check.flow,
            "state": check.state.value,
            "created_at": check.created_at,
            "updated_at": now,
            "capture_sha256": check.capture.sha256,
            "media_type": check.capture.media_type,
            "width": check.capture.width,
            "height": check.capture.height,
            "byte_size": check.capture.byte_size,
            "signals": check.signals.as_dict(),
            "idempotency_key": check.idempotency_key,
            "request_fingerprint": check.request_fingerprint,
            "detector_results": [result_to_json(r) for r in check.detector_results],
        }
        try:
            with self._tx() as conn, self._savepoint(conn):
                conn.execute(insert(checks), row)
                if check.decisions:
                    conn.execute(
                        insert(decisions),
                        [decision_to_row(d, seq) for seq, d in enumerate(check.decisions)],
                    )
        except IntegrityError as exc:
            if check.idempotency_key is not None and self.get_by_idempotency_key(
                check.idempotency_key
            ):
                raise DuplicateIdempotencyKey(check.idempotency_key) from exc
            raise

    def save_decision(self, check: Check) -> None:
        """Persist the state, results and newest decision of an existing check."""
        decision = check.current_decision
        if decision is None:
            raise ValueError("check has no decision to save")
        with self._tx() as conn:
            conn.execute(
                update(checks)
                .where(checks.c.check_id == check.check_id)
                .values(
                    state=check.state.value,
                    updated_at=datetime.now(UTC),
                    detector_results=[result_to_json(r) for r in check.detector_results],
                )
            )
            try:
                with self._savepoint(conn):
                    conn.execute(
                        insert(decisions), decision_to_row(decision, len(check.decisions) - 1)
                    )
            except IntegrityError as exc:
                # (check_id, seq) is unique: a concurrent writer decided this check first.
                raise DecisionConflict(check.check_id) from exc

    def transition(self, check_id: str, source: CheckState, target: CheckState) -> bool:
        """Move a check from ``source`` to ``target`` only if it is still in ``source``.

        ``source == target`` just touches ``updated_at`` (a re-enqueued job's new lease).
        """
        with self._tx() as conn:
            result = conn.execute(
                update(checks)
                .where(checks.c.check_id == check_id, checks.c.state == source.value)
                .values(state=target.value, updated_at=datetime.now(UTC))
            )
            return bool(result.rowcount)

    def decided_since(self, cutoff: datetime, limit: int = 500) -> list[Check]:
        """Checks with a decision made at or after ``cutoff``, oldest decision first."""
        with self._tx() as conn:
            ids = conn.execute(
                select(decisions.c.check_id)
                .where(decisions.c.decided_at >= cutoff)
                .group_by(decisions.c.check_id)
                .order_by(func.min(decisions.c.decided_at))
                .limit(limit)
            ).scalars()
            found = [self.get(check_id) for check_id in list(ids)]
        return [c for c in found if c is not None]

    def stale(self, state: CheckState, updated_before: datetime, limit: int = 500) -> list[str]:
        """Ids of checks in ``state`` not updated since ``updated_before``, oldest first."""
        with self._tx() as conn:
            rows = conn.execute(
                select(checks.c.check_id)
                .where(checks.c.state == state.value, checks.c.updated_at < updated_before)
                .order_by(checks.c.updated_at)
                .limit(limit)
            ).all()
            return [r.check_id for r in rows]

    def get(self, check_id: str) -> Check | None:
        """The check with this id, or None."""
        with self._tx() as conn:
            row = conn.execute(select(checks).where(checks.c.check_id == check_id)).first()
            return None if row is None else self._load(conn, row)

    def get_by_idempotency_key(self, key: str) -> Check | None:
        """The check created with this Idempotency-Key, or None."""
        with self._tx() as conn:
            row = conn.execute(select(checks).where(checks.c.idempotency_key == key)).first()
            return None if row is None else self._load(conn, row)

    def ping(self) -> None:
        """Raise Unavailable if the database cannot be reached."""
        with self._tx() as conn:
            conn.execute(text("SELECT 1"))

    def _load(self, conn: Connection, row: Any) -> Check:
        rows = conn.execute(
            select(decisions).where(decisions.c.check_id == row.check_id).order_by(decisions.c.seq)
        ).all()
        loaded = [decision_from_row(r) for r in rows]
        return Check(
            check_id=row.check_id,
            subject_pseudonym=row.subject_pseudonym,
            flow=row.flow,
            capture=CaptureInfo(
                sha256=row.capture_sha256,
                media_type=row.media_type,
                width=row.width,
                height=row.height,
                byte_size=row.byte_size,
            ),
            signals=ClientSignals(**row.signals),
            created_at=utc(row.created_at),
            state=CheckState(row.state),
            idempotency_key=row.idempotency_key,
            request_fingerprint=row.request_fingerprint,
            detector_results=[result_from_json(r) for r in row.detector_results],
            decisions=[replace(d, decided_at=utc(d.decided_at)) for d in loaded],
        )

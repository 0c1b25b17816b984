"""Wrapped subject keys and capture records in SQL; erasure and retention writes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, Row, delete, insert, inspect, select, update
from sqlalchemy import column as sa_column
from sqlalchemy import table as sa_table
from sqlalchemy.exc import IntegrityError

from faceverdict.adapters.sql_schema import captures, checks, subject_keys
from faceverdict.adapters.sql_support import utc, utc_or_none
from faceverdict.errors import IntegrityFailure
from faceverdict.ports.captures import CaptureRecord, SubjectKey

_CHUNK = 400
_INSERT_CAPTURE = insert(captures)


def _key(row: Row[Any]) -> SubjectKey:
    return SubjectKey(
        key_id=row.key_id,
        subject_pseudonym=row.subject_pseudonym,
        wrapped=bytes(row.wrapped_key),
        kek_id=row.kek_id,
    )


def _capture(row: Row[Any]) -> CaptureRecord:
    return CaptureRecord(
        check_id=row.check_id,
        subject_pseudonym=row.subject_pseudonym,
        flow=row.flow,
        blob_key=row.blob_key,
        key_id=row.key_id,
        sha256=row.sha256,
        media_type=row.media_type,
        stored_at=utc(row.stored_at),
        deleted_at=utc_or_none(row.deleted_at),
        deleted_reason=row.deleted_reason,
    )


class SqlSubjectKeys:
    """One wrapped data key per subject; rows are deleted (never updated) on erasure."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def get(self, subject_pseudonym: str) -> SubjectKey | None:
        """The subject's key, or None."""
        with self._engine.connect() as conn:
            row = conn.execute(
                select(subject_keys).where(subject_keys.c.subject_pseudonym == subject_pseudonym)
            ).first()
        return None if row is None else _key(row)

    def get_by_id(self, key_id: str) -> SubjectKey | None:
        """The key with this id, or None (destroyed or never made)."""
        with self._engine.connect() as conn:
            row = conn.execute(select(subject_keys).where(subject_keys.c.key_id == key_id)).first()
        return None if row is None else _key(row)

    def create(self, key: SubjectKey, now: datetime) -> SubjectKey:
        """Store a new key; if the subject already has one (a race), return that one."""
        try:
            with self._engine.begin() as conn:
                conn.execute(
                    insert(subject_keys).values(
                        key_id=key.key_id,
                        subject_pseudonym=key.subject_pseudonym,
                        wrapped_key=key.wrapped,
                        kek_id=key.kek_id,
                        created_at=now,
                    )
                )
        except IntegrityError:
            existing = self.get(key.subject_pseudonym)
            if existing is None:
                raise
            return existing
        return key


class SqlCaptureRecords:
    """Capture records; bound to a connection inside a unit of work, else on the engine."""

    def __init__(self, engine: Engine, connection: Connection | None = None) -> None:
        self._engine = engine
        self._conn = connection

    def add(self, record: CaptureRecord) -> None:
        """Record a stored capture."""
        if self._conn is None:
            raise RuntimeError("capture records are added inside a unit of work")
        self._conn.execute(
            _INSERT_CAPTURE,
            {
                "check_id": record.check_id,
                "subject_pseudonym": record.subject_pseudonym,
                "flow": record.flow,
                "blob_key": record.blob_key,
                "key_id": record.key_id,
                "sha256": record.sha256,
                "media_type": record.media_type,
                "stored_at": record.stored_at,
                "deleted_at": record.deleted_at,
                "deleted_reason": record.deleted_reason,
            },
        )

    def get(self, check_id: str) -> CaptureRecord | None:
        """The capture of a check, or None if it was never stored."""
        query = select(captures).where(captures.c.check_id == check_id)
        if self._conn is not None:
            row = self._conn.execute(query).first()
        else:
            with self._engine.connect() as conn:
                row = conn.execute(query).first()
        return None if row is None else _capture(row)


class SqlPrivacyWriter:
    """Erasure and retention writes inside one transaction."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def captures_of(self, subject_pseudonym: str) -> list[CaptureRecord]:
        """Every capture record of a subject, deleted or not."""
        rows = self._conn.execute(
            select(captures)
            .where(captures.c.subject_pseudonym == subject_pseudonym)
            .order_by(captures.c.stored_at, captures.c.check_id)
        ).all()
        return [_capture(r) for r in rows]

    def captures_stored_before(self, flow: str, cutoff: datetime) -> list[CaptureRecord]:
        """Captures of ``flow`` still stored and stored at or before ``cutoff``."""
        rows = self._conn.execute(
            select(captures)
            .where(
                captures.c.flow == flow,
                captures.c.deleted_at.is_(None),
                captures.c.stored_at <= cutoff,
            )
            .order_by(captures.c.stored_at, captures.c.check_id)
        ).all()
        return [_capture(r) for r in rows]

    def stored_capture_flows(self) -> list[str]:
        """The flows that still have stored captures."""
        rows = self._conn.execute(
            select(captures.c.flow).where(captures.c.deleted_at.is_(None)).distinct()
        ).scalars()
        return sorted(rows)

    def mark_deleted(self, check_ids: Sequence[str], when: datetime, reason: str) -> None:
        """Mark captures as deleted (the blob is removed after commit)."""
        for start in range(0, len(check_ids), _CHUNK):
            chunk = list(check_ids[start : start + _CHUNK])
            self._conn.execute(
                update(captures)
                .where(captures.c.check_id.in_(chunk), captures.c.deleted_at.is_(None))
                .values(deleted_at=when, deleted_reason=reason)
            )

    def destroy_subject_keys(self, subject_pseudonym: str) -> list[str]:
        """Delete the subject's wrapped data keys; return their ids."""
        ids = sorted(
            self._conn.execute(
                select(subject_keys.c.key_id).where(
                    subject_keys.c.subject_pseudonym == subject_pseudonym
                )
            ).scalars()
        )
        if ids:
            self._conn.execute(
                delete(subject_keys).where(subject_keys.c.subject_pseudonym == subject_pseudonym)
            )
        return ids

    def checks_created_before(self, flow: str, cutoff: datetime) -> list[str]:
        """Ids of the checks of ``flow`` created at or before ``cutoff``."""
        rows = self._conn.execute(
            select(checks.c.check_id)
            .where(checks.c.flow == flow, checks.c.created_at <= cutoff)
            .order_by(checks.c.created_at, checks.c.check_id)
        ).scalars()
        return list(rows)

    def check_flows(self) -> list[str]:
        """The flows that have checks."""
        return sorted(self._conn.execute(select(checks.c.flow).distinct()).scalars())

    def delete_checks(self, check_ids: Sequence[str]) -> None:
        """Delete checks and every row that references them (evidence expiry).

        Decisions and capture records go, and so do rows other features hang off a check
        (review tasks and what references them): the foreign keys are read from the
        database itself, so a feature whose tables this module does not know is covered.
        """
        references = _references(self._conn)
        for start in range(0, len(check_ids), _CHUNK):
            chunk = list(check_ids[start : start + _CHUNK])
            _delete_rows(self._conn, references, "checks", "check_id", chunk, depth=0)


# referred table -> [(referencing table, its column, referred column)]
_References = dict[str, list[tuple[str, str, str]]]


def _references(conn: Connection) -> _References:
    """Single-column foreign keys of the current schema, by the table they point to."""
    inspector = inspect(conn)
    found: _References = {}
    for name in inspector.get_table_names():
        for fk in inspector.get_foreign_keys(name):
            local, remote = fk["constrained_columns"], fk["referred_columns"]
            if len(local) != 1 or len(remote) != 1:
                raise IntegrityFailure(f"{name}: composite foreign keys are not supported")
            found.setdefault(fk["referred_table"], []).append((name, local[0], remote[0]))
    return found


def _delete_rows(
    conn: Connection,
    references: _References,
    table_name: str,
    column_name: str,
    values: list[Any],
    depth: int,
) -> None:
    """Delete rows of ``table_name`` whose ``column_name`` is in ``values``, children first."""
    if not values:
        return
    if depth > 8:
        raise IntegrityFailure("foreign keys nest too deep to expire a check")
    target = sa_table(table_name)
    for child, child_column, referred in references.get(table_name, []):
        if child == table_name:
            continue  # self-references die with their rows
        keys = values
        if referred != column_name:
            keys = list(
                conn.execute(
                    select(sa_column(referred))
                    .select_from(target)
                    .where(sa_column(column_name).in_(values))
                ).scalars()
            )
        _delete_rows(conn, references, child, child_column, keys, depth + 1)
    conn.execute(delete(target).where(sa_column(column_name).in_(values)))

"""SqlReviewerAccounts: reviewer accounts and web sessions in SQLite or PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from faceverdict.adapters.sql_schema import review_sessions, reviewers
from faceverdict.adapters.sql_support import unavailable_on_outage, utc, utc_or_none
from faceverdict.domain.review import Role
from faceverdict.ports.review import DuplicateUsername, ReviewerAccount, SessionRecord


class SqlReviewerAccounts:
    """Accounts and sessions over SQLAlchemy Core; one transaction per call."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @contextmanager
    def _tx(self) -> Iterator[Connection]:
        with unavailable_on_outage(), self._engine.begin() as conn:
            yield conn

    # accounts

    def add_reviewer(self, account: ReviewerAccount) -> None:
        """Insert an account; DuplicateUsername if the username is taken."""
        try:
            with self._tx() as conn:
                conn.execute(insert(reviewers).values(**self._account_row(account)))
        except IntegrityError as exc:
            if self.reviewer_by_username(account.username) is not None:
                raise DuplicateUsername(account.username) from exc
            raise

    def get_reviewer(self, reviewer_id: str) -> ReviewerAccount | None:
        """The account with this id, or None."""
        return self._one_reviewer(reviewers.c.reviewer_id == reviewer_id)

    def reviewer_by_username(self, username: str) -> ReviewerAccount | None:
        """The account with this username, or None."""
        return self._one_reviewer(reviewers.c.username == username)

    def list_reviewers(self) -> list[ReviewerAccount]:
        """Every account, by username."""
        with self._tx() as conn:
            rows = conn.execute(select(reviewers).order_by(reviewers.c.username)).all()
        return [self._account(r) for r in rows]

    def update_reviewer(self, account: ReviewerAccount) -> None:
        """Store an account's changed role, hash, active flag or login counters."""
        row = self._account_row(account)
        del row["reviewer_id"], row["created_at"]
        with self._tx() as conn:
            conn.execute(
                update(reviewers)
                .where(reviewers.c.reviewer_id == account.reviewer_id)
                .values(**row)
            )

    def _one_reviewer(self, condition: Any) -> ReviewerAccount | None:
        with self._tx() as conn:
            row = conn.execute(select(reviewers).where(condition)).first()
        return None if row is None else self._account(row)

    @staticmethod
    def _account_row(a: ReviewerAccount) -> dict[str, Any]:
        return {
            "reviewer_id": a.reviewer_id,
            "username": a.username,
            "display_name": a.display_name,
            "role": a.role.value,
            "password_hash": a.password_hash,
            "active": a.active,
            "failed_logins": a.failed_logins,
            "locked_until": a.locked_until,
            "created_at": a.created_at,
        }

    @staticmethod
    def _account(r: Any) -> ReviewerAccount:
        return ReviewerAccount(
            reviewer_id=r.reviewer_id,
            username=r.username,
            display_name=r.display_name,
            role=Role(r.role),
            password_hash=r.password_hash,
            created_at=utc(r.created_at),
            active=bool(r.active),
            failed_logins=int(r.failed_logins),
            locked_until=utc_or_none(r.locked_until),
        )

    # sessions

    def add_session(self, session: SessionRecord) -> None:
        """Store a new session."""
        with self._tx() as conn:
            conn.execute(
                insert(review_sessions).values(
                    token_hash=session.token_hash,
                    reviewer_id=session.reviewer_id,
                    csrf_token=session.csrf_token,
                    created_at=session.created_at,
                    expires_at=session.expires_at,
                    last_seen_at=session.last_seen_at,
                )
            )

    def get_session(self, token_hash: str) -> SessionRecord | None:
        """The session with this token hash, or None."""
        with self._tx() as conn:
            r = conn.execute(
                select(review_sessions).where(review_sessions.c.token_hash == token_hash)
            ).first()
        if r is None:
            return None
        return SessionRecord(
            token_hash=r.token_hash,
            reviewer_id=r.reviewer_id,
            csrf_token=r.csrf_token,
            created_at=utc(r.created_at),
            expires_at=utc(r.expires_at),
            last_seen_at=utc(r.last_seen_at),
        )

    def touch_session(self, token_hash: str, now: datetime) -> None:
        """Record activity on a session."""
        with self._tx() as conn:
            conn.execute(
                update(review_sessions)
                .where(review_sessions.c.token_hash == token_hash)
                .values(last_seen_at=now)
            )

    def delete_session(self, token_hash: str) -> None:
        """End a session."""
        with self._tx() as conn:
            conn.execute(delete(review_sessions).where(review_sessions.c.token_hash == token_hash))

    def delete_sessions_of(self, reviewer_id: str) -> None:
        """End every session of a reviewer."""
        with self._tx() as conn:
            conn.execute(
                delete(review_sessions).where(review_sessions.c.reviewer_id == reviewer_id)
            )

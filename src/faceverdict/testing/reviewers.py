"""MemoryReviewerAccounts: reviewer accounts and sign-in sessions, as ``SqlReviewerAccounts``."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from faceverdict.ports.review import DuplicateUsername, ReviewerAccount, SessionRecord
from faceverdict.testing.world import IntegrityViolation, World


class MemoryReviewerAccounts:
    """Accounts (unique usernames) and sessions; each call is one transaction."""

    def __init__(self, world: World) -> None:
        self._world = world

    def add_reviewer(self, account: ReviewerAccount) -> None:
        """Insert an account; DuplicateUsername if the username is taken."""
        with self._world.transaction() as t:
            if any(a.username == account.username for a in t.reviewers.values()):
                raise DuplicateUsername(account.username)
            if account.reviewer_id in t.reviewers:
                raise IntegrityViolation(f"reviewer {account.reviewer_id} exists already")
            t.reviewers[account.reviewer_id] = account

    def get_reviewer(self, reviewer_id: str) -> ReviewerAccount | None:
        """The account with this id, or None."""
        return self._world.tables.reviewers.get(reviewer_id)

    def reviewer_by_username(self, username: str) -> ReviewerAccount | None:
        """The account with this username, or None."""
        for account in self._world.tables.reviewers.values():
            if account.username == username:
                return account
        return None

    def list_reviewers(self) -> list[ReviewerAccount]:
        """Every account, by username."""
        return sorted(self._world.tables.reviewers.values(), key=lambda a: a.username)

    def update_reviewer(self, account: ReviewerAccount) -> None:
        """Store an account's changed role, hash, active flag or login counters (its id and
        creation time stay; an unknown id changes nothing)."""
        with self._world.transaction() as t:
            stored = t.reviewers.get(account.reviewer_id)
            if stored is None:
                return
            if any(
                a.username == account.username and a.reviewer_id != account.reviewer_id
                for a in t.reviewers.values()
            ):
                raise IntegrityViolation(f"username {account.username} is taken")
            t.reviewers[account.reviewer_id] = replace(account, created_at=stored.created_at)

    def add_session(self, session: SessionRecord) -> None:
        """Store a new session."""
        with self._world.transaction() as t:
            if session.reviewer_id not in t.reviewers:
                raise IntegrityViolation(f"session of unknown reviewer {session.reviewer_id}")
            if session.token_hash in t.review_sessions:
                raise IntegrityViolation("a session with this token exists already")
            t.review_sessions[session.token_hash] = session

    def get_session(self, token_hash: str) -> SessionRecord | None:
        """The session with this token hash, or None."""
        return self._world.tables.review_sessions.get(token_hash)

    def touch_session(self, token_hash: str, now: datetime) -> None:
        """Record activity on a session."""
        with self._world.transaction() as t:
            session = t.review_sessions.get(token_hash)
            if session is not None:
                t.review_sessions[token_hash] = replace(session, last_seen_at=now)

    def delete_session(self, token_hash: str) -> None:
        """End a session."""
        with self._world.transaction() as t:
            t.review_sessions.pop(token_hash, None)

    def delete_sessions_of(self, reviewer_id: str) -> None:
        """End every session of a reviewer."""
        with self._world.transaction() as t:
            t.review_sessions = {
                k: s for k, s in t.review_sessions.items() if s.reviewer_id != reviewer_id
            }

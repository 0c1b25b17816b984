"""Reviewer accounts and browser sessions: argon2id passwords, server-side sessions, CSRF tokens.

A session token is random and only its SHA-256 is stored, so a copy of the database signs no
one in. Each session carries its own CSRF token. Repeated failures lock an account for a while;
an unknown username costs as much time as a wrong password.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, replace
from datetime import timedelta

from faceverdict.domain.review import Role
from faceverdict.errors import InvalidRequest, NotFound
from faceverdict.ports.clock import Clock
from faceverdict.ports.review import (
    PasswordHasher,
    ReviewAudit,
    ReviewerAccount,
    ReviewerAccounts,
    SessionRecord,
    StoredEvent,
)
from faceverdict.services.checks import new_id
from faceverdict.services.review.errors import SignInFailed

USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
MIN_PASSWORD = 12
MAX_PASSWORD = 1024


@dataclass(frozen=True)
class SessionOptions:
    """How long sessions last and how sign-in failures are throttled."""

    lifetime: timedelta = timedelta(hours=8)
    idle_timeout: timedelta = timedelta(minutes=30)
    max_failures: int = 5
    lockout: timedelta = timedelta(minutes=15)


@dataclass(frozen=True)
class SignedIn:
    """A new session: the cookie token (shown once) and the session's CSRF token."""

    account: ReviewerAccount
    token: str
    csrf_token: str


@dataclass(frozen=True)
class ActiveSession:
    """The reviewer behind a valid session."""

    account: ReviewerAccount
    csrf_token: str
    token_hash: str

    def csrf_ok(self, presented: str | None) -> bool:
        """Whether ``presented`` is this session's CSRF token (constant-time comparison)."""
        return presented is not None and hmac.compare_digest(
            presented.encode(), self.csrf_token.encode()
        )


def token_hash(token: str) -> str:
    """What the database stores of a session token."""
    return hashlib.sha256(token.encode()).hexdigest()


class ReviewAccounts:
    """Creates reviewer accounts and signs reviewers in and out."""

    def __init__(
        self,
        *,
        accounts: ReviewerAccounts,
        audit: ReviewAudit,
        hasher: PasswordHasher,
        clock: Clock,
        options: SessionOptions | None = None,
    ) -> None:
        self.reviewers = accounts
        self.audit = audit
        self.hasher = hasher
        self.clock = clock
        self.options = options or SessionOptions()
        self._dummy_hash: str | None = None

    def create(
        self, username: str, password: str, role: Role, display_name: str | None = None
    ) -> ReviewerAccount:
        """A new active account (DuplicateUsername if the name is taken)."""
        username = username.strip().lower()
        if not USERNAME.match(username):
            raise InvalidRequest(
                "a username is 2 to 64 characters: lower-case letters, digits, '.', '_' or '-'"
            )
        self._check_password(password, username)
        account = ReviewerAccount(
            reviewer_id=new_id("rvw"),
            username=username,
            display_name=(display_name or username).strip()[:128] or username,
            role=role,
            password_hash=self.hasher.hash(password),
            created_at=self.clock.now(),
        )
        self.reviewers.add_reviewer(account)
        self._audit("account_created", account, {"role": role.value})
        return account

    def set_password(self, username: str, password: str) -> None:
        """Replace a password and end the account's sessions."""
        account = self._by_username(username)
        self._check_password(password, account.username)
        self.reviewers.update_reviewer(
            replace(
                account,
                password_hash=self.hasher.hash(password),
                failed_logins=0,
                locked_until=None,
            )
        )
        self.reviewers.delete_sessions_of(account.reviewer_id)
        self._audit("password_changed", account, {})

    def set_active(self, username: str, active: bool) -> None:
        """Enable or disable an account; disabling ends its sessions."""
        account = self._by_username(username)
        self.reviewers.update_reviewer(replace(account, active=active))
        if not active:
            self.reviewers.delete_sessions_of(account.reviewer_id)
        self._audit("account_enabled" if active else "account_disabled", account, {})

    def accounts(self) -> list[ReviewerAccount]:
        """Every account."""
        return self.reviewers.list_reviewers()

    def sign_in(self, username: str, password: str) -> SignedIn:
        """Check a password and open a session; one generic error for every failure."""
        now = self.clock.now()
        account = self.reviewers.reviewer_by_username(username.strip().lower())
        if account is None or len(password) > MAX_PASSWORD:
            self.hasher.verify(self._dummy(), password[:MAX_PASSWORD])  # same cost as a miss
            raise SignInFailed("wrong username or password")
        if account.locked_until is not None and account.locked_until > now:
            raise SignInFailed("too many failed attempts; try again later")
        if not self.hasher.verify(account.password_hash, password) or not account.active:
            failures = account.failed_logins + 1
            locked = failures >= self.options.max_failures
            self.reviewers.update_reviewer(
                replace(
                    account,
                    failed_logins=0 if locked else failures,
                    locked_until=now + self.options.lockout if locked else None,
                )
            )
            self._audit("sign_in_failed", account, {"locked": locked})
            raise SignInFailed("wrong username or password")
        updated = replace(account, failed_logins=0, locked_until=None)
        if self.hasher.needs_rehash(account.password_hash):
            updated = replace(updated, password_hash=self.hasher.hash(password))
        if updated != account:
            self.reviewers.update_reviewer(updated)
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        self.reviewers.add_session(
            SessionRecord(
                token_hash=token_hash(token),
                reviewer_id=account.reviewer_id,
                csrf_token=csrf,
                created_at=now,
                expires_at=now + self.options.lifetime,
                last_seen_at=now,
            )
        )
        self._audit("signed_in", account, {})
        return SignedIn(account=updated, token=token, csrf_token=csrf)

    def session(self, token: str | None) -> ActiveSession | None:
        """The reviewer behind a session cookie, or None if it is unknown, expired or idle."""
        if not token or len(token) > 256:
            return None
        hashed = token_hash(token)
        record = self.reviewers.get_session(hashed)
        if record is None:
            return None
        now = self.clock.now()
        if now >= record.expires_at or now - record.last_seen_at > self.options.idle_timeout:
            self.reviewers.delete_session(hashed)
            return None
        account = self.reviewers.get_reviewer(record.reviewer_id)
        if account is None or not account.active:
            self.reviewers.delete_session(hashed)
            return None
        if now - record.last_seen_at > timedelta(minutes=1):  # one write a minute at most
            self.reviewers.touch_session(hashed, now)
        return ActiveSession(account=account, csrf_token=record.csrf_token, token_hash=hashed)

    def sign_out(self, token: str | None) -> None:
        """End the session behind a cookie (unknown tokens are ignored)."""
        if token and len(token) <= 256:
            self.reviewers.delete_session(token_hash(token))

    def _by_username(self, username: str) -> ReviewerAccount:
        account = self.reviewers.reviewer_by_username(username.strip().lower())
        if account is None:
            raise NotFound(f"no reviewer account {username!r}")
        return account

    @staticmethod
    def _check_password(password: str, username: str) -> None:
        if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
            raise InvalidRequest(f"a password is {MIN_PASSWORD} to {MAX_PASSWORD} characters")
        if username in password.lower():
            raise InvalidRequest("a password must not contain the username")

    def _dummy(self) -> str:
        if self._dummy_hash is None:
            self._dummy_hash = self.hasher.hash(secrets.token_urlsafe(16))
        return self._dummy_hash

    def _audit(
        self, kind: str, account: ReviewerAccount, detail: dict[str, str | float | bool | None]
    ) -> None:
        self.audit.add_event(
            StoredEvent(
                occurred_at=self.clock.now(),
                kind=kind,
                actor=account.reviewer_id,
                detail={"username": account.username, **detail},
            )
        )

"""Reviewer accounts: argon2id hashes, sessions with CSRF tokens, lockout, expiry."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from faceverdict.adapters.password_hasher import Argon2PasswordHasher
from faceverdict.domain.review import Role
from faceverdict.errors import InvalidRequest
from faceverdict.ports.review import DuplicateUsername
from faceverdict.services.review.accounts import token_hash
from faceverdict.services.review.errors import SignInFailed
from tests.support.review import PASSWORD, ReviewWorld, review_world, sql_review_stores


@pytest.fixture
def world(tmp_path: Path) -> Iterator[ReviewWorld]:
    w = review_world(sql_review_stores(f"sqlite:///{tmp_path / 'review.db'}"))
    yield w
    w.close()


def test_passwords_are_stored_as_argon2id(world: ReviewWorld) -> None:
    account = world.account("alice")
    assert account.password_hash.startswith("$argon2id$")
    assert PASSWORD not in account.password_hash
    hasher = Argon2PasswordHasher()  # production costs: 64 MiB, t=3
    hashed = hasher.hash("another long password")
    assert "m=65536,t=3" in hashed
    assert hasher.verify(hashed, "another long password")
    assert not hasher.verify(hashed, "wrong")
    assert not hasher.verify("not a hash", "x")
    assert hasher.needs_rehash(account.password_hash)  # made with the cheap test costs


def test_account_rules(world: ReviewWorld) -> None:
    accounts = world.review.accounts
    world.account("alice")
    with pytest.raises(DuplicateUsername):
        world.account("alice")
    with pytest.raises(InvalidRequest, match="username"):
        accounts.create("Bad Name!", PASSWORD, Role.REVIEWER)
    with pytest.raises(InvalidRequest, match="12"):
        accounts.create("bob", "short", Role.REVIEWER)
    with pytest.raises(InvalidRequest, match="username"):
        accounts.create("bobby", "bobby-is-my-password", Role.REVIEWER)
    assert [a.username for a in accounts.accounts()] == ["alice"]


def test_sign_in_opens_a_session_with_its_own_csrf_token(world: ReviewWorld) -> None:
    world.account("alice")
    accounts = world.review.accounts
    signed = accounts.sign_in("Alice", PASSWORD)
    session = accounts.session(signed.token)
    assert session is not None
    assert session.account.username == "alice"
    assert session.csrf_ok(signed.csrf_token)
    assert not session.csrf_ok("forged")
    assert not session.csrf_ok(None)
    # only a hash of the token is stored
    assert world.review.accounts.reviewers.get_session(signed.token) is None
    assert world.review.accounts.reviewers.get_session(token_hash(signed.token)) is not None
    other = accounts.sign_in("alice", PASSWORD)
    assert other.csrf_token != signed.csrf_token
    accounts.sign_out(signed.token)
    assert accounts.session(signed.token) is None
    assert accounts.session(other.token) is not None


def test_wrong_passwords_fail_alike_and_lock_the_account(world: ReviewWorld) -> None:
    world.account("alice")
    accounts = world.review.accounts
    with pytest.raises(SignInFailed, match="wrong username or password"):
        accounts.sign_in("nobody", PASSWORD)
    for _ in range(5):
        with pytest.raises(SignInFailed, match="wrong username or password"):
            accounts.sign_in("alice", "not the password")
    with pytest.raises(SignInFailed, match="later"):
        accounts.sign_in("alice", PASSWORD)
    world.clock.advance(minutes=16)
    assert accounts.sign_in("alice", PASSWORD).account.failed_logins == 0


def test_sessions_expire_when_idle_or_old_and_end_with_the_account(world: ReviewWorld) -> None:
    world.account("alice")
    accounts = world.review.accounts
    idle = accounts.sign_in("alice", PASSWORD)
    world.clock.advance(minutes=31)
    assert accounts.session(idle.token) is None
    busy = accounts.sign_in("alice", PASSWORD)
    for _ in range(17):  # active every 29 minutes, yet 8 hours is the limit
        world.clock.advance(minutes=29)
        if accounts.session(busy.token) is None:
            break
    assert accounts.session(busy.token) is None
    fresh = accounts.sign_in("alice", PASSWORD)
    accounts.set_active("alice", False)
    assert accounts.session(fresh.token) is None
    with pytest.raises(SignInFailed):
        accounts.sign_in("alice", PASSWORD)


def test_sign_in_upgrades_weak_hashes(world: ReviewWorld) -> None:
    world.account("alice")
    accounts = world.review.accounts
    accounts.hasher = Argon2PasswordHasher(time_cost=2, memory_cost_kib=2048, parallelism=1)
    upgraded = accounts.sign_in("alice", PASSWORD).account
    assert "m=2048,t=2" in upgraded.password_hash
    accounts.set_password("alice", "a brand new passphrase")
    assert accounts.sign_in("alice", "a brand new passphrase")

"""Fixtures of the review use-case tests: a review world over SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from faceverdict.domain.review import ReviewPolicy
from tests.support.review import ReviewWorld, WorldFactory, review_world


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'review.db'}"
    value: str = request.getfixturevalue("postgres_url")
    return value


@pytest.fixture
def make_world(url: str, tmp_path: Path) -> Iterator[WorldFactory]:
    made: list[ReviewWorld] = []

    def make(policy: ReviewPolicy | None = None) -> ReviewWorld:
        made.append(review_world(url, tmp_path, policy=policy))
        return made[-1]

    yield make
    for w in made:
        w.close()


@pytest.fixture
def world(make_world: WorldFactory) -> ReviewWorld:
    return make_world()

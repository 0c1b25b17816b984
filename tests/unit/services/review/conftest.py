"""Fixtures of the review use-case tests: a review world on memory stores and a manual clock.

The SQL adapters behind these use cases are held to the same behaviour by
``tests/contract/test_review_stores.py`` and ``tests/integration/test_review_repository.py``.
"""

from __future__ import annotations

import pytest

from faceverdict.domain.review import ReviewPolicy
from tests.support.review import ReviewWorld, WorldFactory, review_world


@pytest.fixture
def make_world() -> WorldFactory:
    def make(policy: ReviewPolicy | None = None) -> ReviewWorld:
        return review_world(policy=policy)

    return make


@pytest.fixture
def world(make_world: WorldFactory) -> ReviewWorld:
    return make_world()

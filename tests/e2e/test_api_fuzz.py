"""Mutated images thrown at POST /v1/checks: never a 5xx, never a hang, nothing half-stored."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from faceverdict.config import load_settings
from faceverdict.entrypoints.api.app import create_app
from faceverdict.wiring.bootstrap import Application, bootstrap
from tests.support.images import avif_bytes, jpeg_bytes, mutate, png_bytes, webp_bytes

SEEDS = {
    "jpeg": jpeg_bytes(48, 40, seed=1),
    "png": png_bytes(40, 32, seed=2),
    "webp": webp_bytes(40, 32, seed=3),
    "avif": avif_bytes(32, 32, seed=4),
}
PER_REQUEST_LIMIT_S = 5.0


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory: pytest.TempPathFactory) -> Application:
    data_dir: Path = tmp_path_factory.mktemp("fuzz")
    return bootstrap(load_settings(data_dir=data_dir))


@pytest.fixture(scope="module")
def client(fuzz_app: Application) -> Iterator[TestClient]:
    with TestClient(create_app(fuzz_app), raise_server_exceptions=False) as c:
        yield c


@settings(
    max_examples=1200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    seed=st.sampled_from(sorted(SEEDS)), salt=st.integers(0, 2**32 - 1), rounds=st.integers(1, 4)
)
def test_mutated_uploads_never_cause_a_server_error(
    client: TestClient, fuzz_app: Application, seed: str, salt: int, rounds: int
) -> None:
    rng = random.Random(salt)
    data = SEEDS[seed]
    for _ in range(rounds):
        data = mutate(data, rng)
    started = time.perf_counter()
    response = client.post(
        "/v1/checks",
        files={"image": ("x.bin", data, "application/octet-stream")},
        data={"subject_ref": "fuzz", "flow": "onboarding"},
    )
    assert time.perf_counter() - started < PER_REQUEST_LIMIT_S
    assert response.status_code in {201, 413, 415, 422}, response.text
    body = response.json()
    if response.status_code == 201:
        stored = fuzz_app.repository.get(body["check_id"])
        assert stored is not None
        assert fuzz_app.checks.blobs.exists(f"captures/{body['check_id']}")
    else:
        assert response.headers["content-type"].startswith("application/problem+json")
        assert body["type"].startswith("/problems/")

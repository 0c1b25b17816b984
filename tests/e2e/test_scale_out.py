"""The scale-out topology end to end: 2 API processes and 2 workers on PostgreSQL, Redis and
an S3 emulator, a few hundred checks, a worker killed in the middle.

Every check must settle (final), with exactly one superseding decision where assurance
changes the action, and every webhook delivered and verified with the Standard Webhooks
library. Runs the same ``Topology`` as ``scripts/scale_out_local.py``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from types import ModuleType

import httpx
import pytest
from sqlalchemy import create_engine, text
from svix.webhooks import Webhook

from tests.support.fixed_outcomes import assurance_changes
from tests.support.receiver import receiver

pytestmark = [pytest.mark.slow, pytest.mark.integration]

CHECKS = int(os.environ.get("FACEVERDICT_E2E_CHECKS", "200"))
REDIS_URL = os.environ.get("FACEVERDICT_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "scale_out_local.py"


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("scale_out_local", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


# Stand-in detectors (tests/support/fixed_detectors.py): every check is in the gray band and
# assurance changes half of them (assurance_changes).
STAND_INS = {
    "FACEVERDICT_DETECTOR_MODULES": '["tests.support.fixed_detectors"]',
    "FACEVERDICT_INLINE_DETECTORS": '["provenance", "fixed"]',
    "FACEVERDICT_ASSURANCE_DETECTORS": '["fixed_assurance"]',
}


def test_two_apis_two_workers_one_killed_every_check_settles_once(
    postgres_url: str, tmp_path: Path
) -> None:
    pytest.importorskip("redis")
    scale = load_script()
    topology = scale.Topology(
        database_url=postgres_url,
        redis_url=REDIS_URL,
        data_dir=tmp_path / "data",
        may_relax=True,  # fixed_assurance's changed opinions are relaxations
        extra_env={
            **STAND_INS,
            "FACEVERDICT_ALLOW_PRIVATE_WEBHOOK_TARGETS": "true",
            "FACEVERDICT_WEBHOOK_BACKOFF_BASE_SECONDS": "0.2",
        },
    )
    images = scale.portraits(CHECKS, seed=1000)
    try:
        topology.start(apis=2, workers=2)
        with receiver() as rx:
            created = httpx.post(
                topology.api_urls[0] + "/v1/webhooks",
                json={"url": rx.url, "event_types": ["check.decided", "decision.superseded"]},
            )
            assert created.status_code == 201, created.text
            secret = created.json()["secrets"][0]

            killer = threading.Timer(4.0, topology.kill_worker, args=(0,))
            killer.start()  # a worker dies in the middle of the run
            load = scale.submit_load(topology.api_urls, images)
            killer.join()
            assert load.rejected == 0
            assert len(load.submitted) == CHECKS

            # A repeated Idempotency-Key on the other API process gives the same check.
            again = httpx.post(
                topology.api_urls[1] + "/v1/checks",
                files={"image": ("selfie.jpg", images[0], "image/jpeg")},
                data={"subject_ref": "load-0", "flow": "onboarding"},
                headers={"Idempotency-Key": "load-0"},
                timeout=60,
            )
            assert again.status_code == 200
            assert again.json()["check_id"] in load.submitted

            settled = scale.wait_until_settled(postgres_url, list(load.submitted), timeout=600)
            elapsed = time.monotonic() - load.started
            assert Counter(state for state, _ in settled.values()) == {"final": CHECKS}

            engine = create_engine(postgres_url)
            with engine.connect() as conn:
                rows = conn.execute(
                    text(
                        "SELECT check_id, count(*) AS n, "
                        "sum(CASE WHEN stage = 'assurance' THEN 1 ELSE 0 END) AS assured "
                        "FROM decisions GROUP BY check_id"
                    )
                ).all()
                checks_total = conn.execute(text("SELECT count(*) FROM checks")).scalar()
            engine.dispose()
            assert checks_total == CHECKS  # duplicates made no second check
            decisions = {r.check_id: (r.n, r.assured) for r in rows}
            due = {c for c, image in load.submitted.items() if assurance_changes(image)}
            for check_id in load.submitted:
                expected = (2, 1) if check_id in due else (1, 0)
                assert decisions[check_id] == expected, check_id

            expected_hooks = CHECKS + len(due)

            def unique_ids() -> set[str]:
                return {r.headers["webhook-id"] for r in rx.accepted()}

            deadline = time.monotonic() + 120
            while len(unique_ids()) < expected_hooks and time.monotonic() < deadline:
                time.sleep(0.5)
            assert len(unique_ids()) == expected_hooks
            types: Counter[str] = Counter()
            seen: set[str] = set()
            for request in rx.accepted():
                Webhook(secret).verify(request.body, request.headers)
                if request.headers["webhook-id"] in seen:
                    continue  # at-least-once: a receiver drops repeats by webhook-id
                seen.add(request.headers["webhook-id"])
                types[json.loads(request.body)["type"]] += 1
            assert types == {"check.decided": CHECKS, "decision.superseded": len(due)}
            latencies = [latency for _, latency in settled.values()]
            print(
                f"\n{CHECKS} checks, 2 APIs, 2 workers (one killed): "
                f"{CHECKS / elapsed:.1f} checks/s settled; async latency "
                f"p50 {scale.percentile(latencies, 0.5):.2f} s, "
                f"p99 {scale.percentile(latencies, 0.99):.2f} s"
            )
    finally:
        topology.stop()


def test_a_worker_killed_mid_job_is_retried_by_another_and_applied_once(
    postgres_url: str, tmp_path: Path
) -> None:
    pytest.importorskip("redis")
    from faceverdict.adapters.huey_job_queue import HueyJobQueue

    scale = load_script()
    topology = scale.Topology(
        database_url=postgres_url,
        redis_url=REDIS_URL,
        data_dir=tmp_path / "data",
        may_relax=True,  # fixed_assurance's changed opinions are relaxations
        lease_seconds=3,
        extra_env={
            **STAND_INS,
            "FACEVERDICT_TEST_ASSURANCE_SECONDS": "4",
        },
    )
    image = next(i for i in scale.portraits(8, seed=2000) if assurance_changes(i))
    queue = HueyJobQueue.redis(REDIS_URL, topology.queue_name)
    try:
        topology.start(apis=1, workers=1)
        load = scale.submit_load(topology.api_urls, [image])
        [check_id] = load.submitted
        deadline = time.monotonic() + 30
        while queue.pending() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert queue.pending() == 0  # the worker took the job ...
        time.sleep(1.0)
        topology.kill_worker(0)  # ... and dies in the middle of the heavy model
        topology.add_worker()
        settled = scale.wait_until_settled(postgres_url, [check_id], timeout=120)
        assert settled[check_id][0] == "final"
        engine = create_engine(postgres_url)
        try:
            with engine.connect() as conn:
                stages = list(
                    conn.execute(
                        text("SELECT stage FROM decisions WHERE check_id = :c ORDER BY seq"),
                        {"c": check_id},
                    ).scalars()
                )
        finally:
            engine.dispose()
        assert stages == ["inline", "assurance"]  # applied once
    finally:
        queue.close()
        topology.stop()

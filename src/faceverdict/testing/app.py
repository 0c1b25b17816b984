"""memory_application: the whole service as ``bootstrap`` wires it, on in-memory adapters.

Only the checkpoint signing key and the settings' data folder touch the disk (the key is
generated into ``tmp_path / "data"`` in development mode). Pass your own ``blobs``,
``transport`` or ``jobs`` to keep a handle on them; ``stores.uow`` and friends are on
``application.records.stores``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from faceverdict.adapters.password_hasher import Argon2PasswordHasher
from faceverdict.config import load_settings
from faceverdict.detectors.ensemble import Ensemble
from faceverdict.entrypoints.worker import JobWorker
from faceverdict.policy import PolicyFile
from faceverdict.ports.captures import BlobStore, KeyStore
from faceverdict.ports.clock import Clock
from faceverdict.ports.jobs import JobQueue
from faceverdict.ports.webhooks import Resolver, WebhookTransport
from faceverdict.services.review.imaging import FaceLocator
from faceverdict.testing.captures import MemoryBlobStore, local_key_store
from faceverdict.testing.clock import ManualClock
from faceverdict.testing.detectors import FixedDetector, fixed_ensemble
from faceverdict.testing.jobs import ImmediateJobQueue
from faceverdict.testing.stores import memory_stores
from faceverdict.testing.webhooks import RecordingTransport, StaticResolver
from faceverdict.wiring.bootstrap import Application, bootstrap
from faceverdict.wiring.stores import Stores


def fast_hasher() -> Argon2PasswordHasher:
    """argon2id with the smallest costs: the same code path as production, in milliseconds."""
    return Argon2PasswordHasher(time_cost=1, memory_cost_kib=1024, parallelism=1)


def memory_application(
    tmp_path: Path,
    *,
    clock: Clock | None = None,
    ensemble: Ensemble | None = None,
    assurance_ensemble: Ensemble | None = None,
    policy: PolicyFile | None = None,
    stores: Stores | None = None,
    blobs: BlobStore | None = None,
    key_store: KeyStore | None = None,
    jobs: JobQueue | None = None,
    transport: WebhookTransport | None = None,
    resolver: Resolver | None = None,
    locate_face: FaceLocator | None = None,
    record_config: bool = True,
    run_jobs: bool = True,
    **settings: Any,
) -> Application:
    """The application over memory stores, with fixed detectors unless ``ensemble`` is given.

    Defaults: a ``ManualClock``; one ``FixedDetector("fixed", 0.05)`` behind the real capture
    gate (genuine-looking faces are accepted), reused for assurance; an ``ImmediateJobQueue``
    whose worker runs the application's jobs at once (``run_jobs=False``: they wait);
    a ``RecordingTransport`` and a ``StaticResolver`` for webhooks; a fast password hasher.
    ``settings`` override ``load_settings(data_dir=tmp_path / "data", ...)``.
    """
    clock = clock or ManualClock()
    ensemble = ensemble or fixed_ensemble(FixedDetector("fixed", 0.05))
    queue = jobs or ImmediateJobQueue(clock)
    application = bootstrap(
        load_settings(**{"data_dir": tmp_path / "data", **settings}),
        stores=stores or memory_stores(clock),
        blobs=blobs or MemoryBlobStore(),
        key_store=key_store or local_key_store(),
        clock=clock,
        ensemble=ensemble,
        policy=policy,
        record_config=record_config,
        jobs=queue,
        assurance_ensemble=assurance_ensemble or ensemble,
        transport=transport or RecordingTransport(),
        resolver=resolver or StaticResolver(),
        hasher=fast_hasher(),
        locate_face=locate_face,
    )
    if run_jobs:
        queue.start_worker(JobWorker(application).dispatch)
    return application

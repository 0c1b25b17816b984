"""The composition root: settings -> adapters -> services -> the handler table.

Everything is built once here, for every entry point: one database (one engine), the policy
file read once, the message bus with its table of reactions. Tests pass in-memory stores,
fixed detectors and a manual clock instead (``faceverdict.testing``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from faceverdict.adapters.httpx_webhook_transport import HttpxWebhookTransport, SocketResolver
from faceverdict.config import Settings
from faceverdict.detectors.ensemble import Ensemble
from faceverdict.domain.policy import Policy
from faceverdict.policy import PolicyFile, load_policy_file
from faceverdict.ports.captures import BlobStore, KeyStore
from faceverdict.ports.checks import CheckRepository
from faceverdict.ports.clock import Clock
from faceverdict.ports.jobs import JobQueue
from faceverdict.ports.review import PasswordHasher
from faceverdict.ports.webhooks import Resolver, WebhookTransport
from faceverdict.services.assurance import AssuranceService
from faceverdict.services.checks import Assessor, CheckService
from faceverdict.services.evidence_events import MODELS_ACTIVATED, POLICY_ACTIVATED, models_payload
from faceverdict.services.handlers import handler_table
from faceverdict.services.messagebus import MessageBus
from faceverdict.services.recorder import CheckRecorder
from faceverdict.services.rescan import RescanSchedule, RescanService
from faceverdict.services.review.imaging import FaceLocator
from faceverdict.services.webhooks import WebhookOptions, WebhookService
from faceverdict.wiring.ensembles import build_assurance_ensemble, build_ensemble
from faceverdict.wiring.records import Records, build_records
from faceverdict.wiring.review import (
    Review,
    build_review,
    capture_reader,
    evidence_publisher,
    review_settings,
)
from faceverdict.wiring.stores import Stores, build_job_queue


@dataclass(frozen=True)
class Application:
    """Everything an entry point needs, wired."""

    settings: Settings
    policy_file: PolicyFile
    ensemble: Ensemble
    checks: CheckService
    records: Records
    bus: MessageBus
    review: Review
    jobs: JobQueue
    assurance: AssuranceService
    webhooks: WebhookService
    rescans: RescanService
    closers: tuple[Callable[[], None], ...] = ()

    @property
    def policy(self) -> Policy:
        """The decision rules of the active policy."""
        return self.policy_file.decisions

    @property
    def repository(self) -> CheckRepository:
        """The check store."""
        return self.records.stores.checks

    @property
    def rescan_schedule(self) -> RescanSchedule | None:
        """The periodic re-scan the settings ask for, if any."""
        s = self.settings
        if s.rescan_every_hours is None or s.rescan_model is None:
            return None
        window = None if s.rescan_window_days is None else timedelta(days=s.rescan_window_days)
        return RescanSchedule(timedelta(hours=s.rescan_every_hours), s.rescan_model, window)

    def close(self) -> None:
        """Release what this application opened (job queue, transport, database pool)."""
        self.jobs.close()
        for close in self.closers:
            close()
        self.records.close()


def build_assessor(settings: Settings, assurance: bool = False) -> Assessor:
    """An assessor that judges files without any storage (``faceverdict scan``, ``eval``).

    ``assurance`` judges with the heavier ensemble of the asynchronous path instead.
    """
    ensemble = build_ensemble(settings)
    if assurance:
        ensemble = build_assurance_ensemble(settings, ensemble)
    return Assessor(
        ensemble, load_policy_file(settings.policy_file).decisions, inline=not assurance
    )


def record_configuration(records: Records, ensemble: Ensemble) -> None:
    """Log the active policy and models if they differ from the last ones recorded."""
    policy = records.policy_file
    records.evidence.record_if_changed(
        POLICY_ACTIVATED,
        {
            "policy_version": policy.version,
            "policy_sha256": policy.sha256,
            "flows": [name for name in sorted(policy.decisions.flows)],
        },
    )
    infos = [d.info for d in ensemble.detectors]
    if ensemble.gate is not None:
        infos.append(ensemble.gate.info)
    records.evidence.record_if_changed(
        MODELS_ACTIVATED, models_payload(infos, ensemble.model_versions)
    )


def bootstrap(
    settings: Settings,
    *,
    stores: Stores | None = None,
    blobs: BlobStore | None = None,
    key_store: KeyStore | None = None,
    clock: Clock | None = None,
    ensemble: Ensemble | None = None,
    policy: PolicyFile | None = None,
    record_config: bool = True,
    jobs: JobQueue | None = None,
    assurance_ensemble: Ensemble | None = None,
    transport: WebhookTransport | None = None,
    resolver: Resolver | None = None,
    hasher: PasswordHasher | None = None,
    locate_face: FaceLocator | None = None,
) -> Application:
    """Build the application from settings; any argument given replaces the default adapter.

    On start the active policy and model versions are recorded in the evidence log when
    they differ from the last recorded ones (``record_config``).
    """
    records = build_records(
        settings, policy=policy, stores=stores, blobs=blobs, key_store=key_store, clock=clock
    )
    stores, clock, policy = records.stores, records.clock, records.policy_file
    ensemble = ensemble or build_ensemble(settings)
    if record_config:
        record_configuration(records, ensemble)
    bus = MessageBus(stores.events, clock)
    recorder = CheckRecorder(uow=stores.uow, bus=bus)
    checks = CheckService(
        repository=stores.checks,
        recorder=recorder,
        blobs=records.vault,
        assessor=Assessor(ensemble, policy.decisions),
        pseudonymizer=records.pseudonymizer,
        clock=clock,
        store_captures=settings.store_captures,
    )
    review_config = review_settings(settings)
    review = build_review(
        review_config,
        tasks=stores.review_tasks,
        audit=stores.review_audit,
        reviewers=stores.reviewers,
        checks=stores.checks,
        recorder=recorder,
        clock=clock,
        policy=policy.review,
        read_capture=capture_reader(records.captures),
        hasher=hasher,
        locate_face=locate_face,
        publish=evidence_publisher(records.evidence),
    )
    jobs = jobs or build_job_queue(settings)
    heavy = _once(
        lambda: Assessor(
            assurance_ensemble or build_assurance_ensemble(settings, ensemble),
            policy.decisions,
            inline=False,
        )
    )
    assurance = AssuranceService(
        repository=stores.checks,
        recorder=recorder,
        queue=jobs,
        assessor=heavy,
        vault=records.vault,
        policy=policy.assurance,
        clock=clock,
        sample_salt=review_config.secret.hex(),
        store_captures=settings.store_captures,
    )
    rescans = RescanService(
        store=stores.rescans,
        recorder=recorder,
        repository=stores.checks,
        queue=jobs,
        assessor=heavy,
        vault=records.vault,
        policy=policy.assurance,
        clock=clock,
    )
    closers: list[Callable[[], None]] = []
    if transport is None:
        http = HttpxWebhookTransport(timeout=settings.webhook_timeout_seconds)
        closers.append(http.close)
        transport = http
    webhooks = WebhookService(
        store=stores.webhooks,
        checks=stores.checks,
        queue=jobs,
        transport=transport,
        resolver=resolver or SocketResolver(),
        clock=clock,
        options=_webhook_options(settings),
    )
    bus.register(handler_table(review=review.intake, assurance=assurance, webhooks=webhooks))
    return Application(
        settings=settings,
        policy_file=policy,
        ensemble=ensemble,
        checks=checks,
        records=records,
        bus=bus,
        review=review,
        jobs=jobs,
        assurance=assurance,
        webhooks=webhooks,
        rescans=rescans,
        closers=tuple(closers),
    )


def _webhook_options(settings: Settings) -> WebhookOptions:
    return WebhookOptions(
        retry_window=timedelta(seconds=settings.webhook_retry_window_seconds),
        backoff_base=settings.webhook_backoff_base_seconds,
        backoff_max=settings.webhook_backoff_max_seconds,
        rotation_overlap=timedelta(seconds=settings.webhook_rotation_overlap_seconds),
        allow_private_targets=settings.allow_private_webhook_targets,
    )


def _once(build: Callable[[], Assessor]) -> Callable[[], Assessor]:
    """``build`` run on first call only (thread-safe): API processes never load heavy models."""
    lock = threading.Lock()
    built: list[Assessor] = []

    def get() -> Assessor:
        with lock:
            if not built:
                built.append(build())
            return built[0]

    return get

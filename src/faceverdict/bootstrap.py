"""The composition root: settings -> adapters -> services. Tests pass fakes in instead."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from faceverdict.adapters.encrypting_blob_store import EncryptingBlobStore
from faceverdict.adapters.file_signing_key import load_signing_key
from faceverdict.adapters.httpx_webhook_transport import HttpxWebhookTransport, SocketResolver
from faceverdict.adapters.huey_job_queue import HueyJobQueue
from faceverdict.adapters.local_blob_store import LocalBlobStore
from faceverdict.adapters.local_key_store import LocalKeyStore
from faceverdict.adapters.sealed_secrets import SecretSealer
from faceverdict.adapters.sql_check_repository import SqlCheckRepository, make_engine
from faceverdict.adapters.sql_evidence_log import SqlEvidenceReader
from faceverdict.adapters.sql_privacy import SqlCaptureRecords, SqlSubjectKeys
from faceverdict.adapters.sql_rescan_store import SqlRescanStore
from faceverdict.adapters.sql_sweep_marks import SqlSweepMarks
from faceverdict.adapters.sql_unit_of_work import SqlUnitOfWork
from faceverdict.adapters.sql_webhook_store import SqlWebhookStore
from faceverdict.adapters.system_clock import SystemClock
from faceverdict.assurance_policy import load_assurance_policy
from faceverdict.config import Settings
from faceverdict.detectors.ensemble import Ensemble
from faceverdict.domain.assurance import ASSURANCE_STAGE
from faceverdict.domain.check import Check
from faceverdict.domain.policy import Action, Policy
from faceverdict.ensembles import build_assurance_ensemble, build_ensemble
from faceverdict.job_ports import CheckStates, JobQueue
from faceverdict.policy_file import load_policy, policy_digest
from faceverdict.ports import (
    BlobStore,
    CaptureRecords,
    CaptureVault,
    CheckRepository,
    Clock,
    DecisionFeed,
    EvidenceReader,
    KeyStore,
    SubjectKeys,
    UnitOfWork,
)
from faceverdict.review_wiring import Review, review_settings, wire_review
from faceverdict.services.assurance import AssuranceService
from faceverdict.services.captures import CaptureAccess
from faceverdict.services.checks import Assessor, CheckService
from faceverdict.services.evidence_events import (
    MODELS_ACTIVATED,
    POLICY_ACTIVATED,
    models_payload,
)
from faceverdict.services.evidence_log import CheckpointPolicy, CheckpointSigner, EvidenceLog
from faceverdict.services.evidence_package import EvidencePackager
from faceverdict.services.privacy import ErasureService
from faceverdict.services.pseudonyms import Pseudonymizer
from faceverdict.services.rescan import RescanSchedule, RescanService
from faceverdict.services.retention import RetentionSweeper
from faceverdict.services.webhooks import WebhookOptions, WebhookService

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Records:
    """Storage and record keeping: the evidence log, captures, erasure and retention."""

    settings: Settings
    policy: Policy
    repository: CheckRepository
    uow: UnitOfWork
    vault: CaptureVault
    capture_records: CaptureRecords
    pseudonymizer: Pseudonymizer
    clock: Clock
    evidence: EvidenceLog
    packages: EvidencePackager
    captures: CaptureAccess
    erasure: ErasureService
    retention: RetentionSweeper
    closers: tuple[Callable[[], None], ...] = ()

    def close(self) -> None:
        """Release what was opened here (database connection pools)."""
        for close in self.closers:
            close()


@dataclass(frozen=True)
class Application:
    """Everything an entry point needs, wired."""

    settings: Settings
    policy: Policy
    ensemble: Ensemble
    checks: CheckService
    repository: CheckRepository
    records: Records
    review: Review | None = None
    jobs: JobQueue | None = None
    assurance: AssuranceService | None = None
    webhooks: WebhookService | None = None
    rescans: RescanService | None = None
    closers: tuple[Callable[[], None], ...] = ()

    @property
    def rescan_schedule(self) -> RescanSchedule | None:
        """The periodic re-scan the settings ask for, if any."""
        s = self.settings
        if s.rescan_every_hours is None or s.rescan_model is None:
            return None
        window = None if s.rescan_window_days is None else timedelta(days=s.rescan_window_days)
        return RescanSchedule(timedelta(hours=s.rescan_every_hours), s.rescan_model, window)

    def close(self) -> None:
        """Release what this application opened (job queue, review and record pools)."""
        if self.jobs is not None:
            self.jobs.close()
        for close in self.closers:
            close()
        if self.review is not None:
            self.review.close()
        self.records.close()


def build_blob_store(settings: Settings) -> BlobStore:
    """The capture store named by the settings (the data folder, or S3)."""
    if settings.blob_store == "s3":
        from faceverdict.adapters.s3_blob_store import S3BlobStore

        return S3BlobStore.connect(
            settings.s3_bucket or "",
            prefix=settings.s3_prefix,
            region=settings.aws_region,
            endpoint_url=settings.s3_endpoint_url,
            create_bucket=settings.s3_create_bucket,
        )
    return LocalBlobStore(settings.data_dir / "blobs")


def build_job_queue(settings: Settings) -> JobQueue:
    """The job queue named by the settings (SQLite file, or Redis)."""
    if settings.job_queue == "redis":
        return HueyJobQueue.redis(settings.redis_url, settings.job_queue_name)
    return HueyJobQueue.sqlite(settings.resolved_job_queue_file)


def build_assessor(settings: Settings, assurance: bool = False) -> Assessor:
    """An assessor that judges files without any storage (``faceverdict scan``, ``eval``).

    ``assurance`` judges with the heavier ensemble of the asynchronous path instead.
    """
    ensemble = build_ensemble(settings)
    if assurance:
        ensemble = build_assurance_ensemble(settings, ensemble)
    return Assessor(ensemble, load_policy(settings.policy_file))


def build_key_store(settings: Settings) -> KeyStore:
    """The key-encryption key named by the settings (local file, or AWS KMS)."""
    if settings.keystore == "aws-kms":
        from faceverdict.adapters.aws_kms_key_store import AwsKmsKeyStore

        return AwsKmsKeyStore.connect(
            settings.aws_kms_key_id or "",
            region=settings.aws_region,
            endpoint_url=settings.aws_endpoint_url,
        )
    return LocalKeyStore.from_file(settings.resolved_kek_file, create=settings.development)


def build_signer(settings: Settings) -> CheckpointSigner:
    """The checkpoint signer (the key is generated into data_dir only in development)."""
    origin = settings.evidence_origin
    key = load_signing_key(
        settings.resolved_signing_key_file, name=origin, create=settings.development
    )
    return CheckpointSigner(key, origin)


def build_records(
    settings: Settings,
    *,
    policy: Policy | None = None,
    repository: CheckRepository | None = None,
    uow: UnitOfWork | None = None,
    evidence_reader: EvidenceReader | None = None,
    capture_records: CaptureRecords | None = None,
    subject_keys: SubjectKeys | None = None,
    blobs: BlobStore | None = None,
    key_store: KeyStore | None = None,
    clock: Clock | None = None,
) -> Records:
    """Storage and record-keeping services, without the detectors (CLI maintenance commands).

    The SQL adapters are the default for every store not given. A fake ``repository`` needs
    a matching ``uow``: checks are written through the unit of work.
    """
    if repository is not None and uow is None:
        raise ValueError("pass a unit of work with a custom repository: writes go through it")
    policy = policy or load_policy(settings.policy_file)
    clock = clock or SystemClock()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    needs_sql = None in (repository, uow, evidence_reader, capture_records, subject_keys)
    closers: list[Callable[[], None]] = []
    if needs_sql:
        engine = make_engine(settings.resolved_database_url)
        closers.append(engine.dispose)
        sql_uow = SqlUnitOfWork(engine)
        sql_uow.create_schema()
        repository = repository or SqlCheckRepository(engine)
        if uow is None:
            uow = sql_uow
        evidence_reader = evidence_reader or SqlEvidenceReader(engine)
        capture_records = capture_records or SqlCaptureRecords(engine)
        subject_keys = subject_keys or SqlSubjectKeys(engine)
    if not (repository and uow and evidence_reader and capture_records and subject_keys):
        raise AssertionError("unreachable: every store was built above")
    vault = EncryptingBlobStore(
        blobs or build_blob_store(settings),
        key_store or build_key_store(settings),
        subject_keys,
        clock,
    )
    pseudonymizer = Pseudonymizer(settings.pseudonym_key.get_secret_value().encode())
    evidence = EvidenceLog(
        uow=uow,
        reader=evidence_reader,
        signer=build_signer(settings),
        clock=clock,
        policy=CheckpointPolicy(
            every_entries=settings.checkpoint_every_entries,
            every_seconds=settings.checkpoint_every_seconds,
        ),
    )
    return Records(
        closers=tuple(closers),
        settings=settings,
        policy=policy,
        repository=repository,
        uow=uow,
        vault=vault,
        capture_records=capture_records,
        pseudonymizer=pseudonymizer,
        clock=clock,
        evidence=evidence,
        packages=EvidencePackager(
            evidence=evidence,
            repository=repository,
            records=capture_records,
            policy=policy,
            clock=clock,
        ),
        captures=CaptureAccess(
            repository=repository, records=capture_records, vault=vault, evidence=evidence
        ),
        erasure=ErasureService(uow=uow, vault=vault, pseudonymizer=pseudonymizer, clock=clock),
        retention=RetentionSweeper(uow=uow, vault=vault, policy=policy, clock=clock),
    )


def record_configuration(records: Records, ensemble: Ensemble) -> None:
    """Log the active policy and models if they differ from the last ones recorded."""
    settings = records.settings
    records.evidence.record_if_changed(
        POLICY_ACTIVATED,
        {
            "policy_version": records.policy.version,
            "policy_sha256": policy_digest(settings.policy_file),
            "flows": [name for name in sorted(records.policy.flows)],
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
    repository: CheckRepository | None = None,
    uow: UnitOfWork | None = None,
    blobs: BlobStore | None = None,
    key_store: KeyStore | None = None,
    clock: Clock | None = None,
    ensemble: Ensemble | None = None,
    policy: Policy | None = None,
    record_config: bool = True,
    jobs: JobQueue | None = None,
    assurance_ensemble: Ensemble | None = None,
    webhooks: WebhookService | None = None,
) -> Application:
    """Build the application from settings; any argument given replaces the default adapter.

    On start the active policy and model versions are recorded in the evidence log when
    they differ from the last recorded ones (``record_config``).
    """
    records = build_records(
        settings,
        policy=policy,
        repository=repository,
        uow=uow,
        blobs=blobs,
        key_store=key_store,
        clock=clock,
    )
    ensemble = ensemble or build_ensemble(settings)
    if record_config:
        record_configuration(records, ensemble)
    checks = CheckService(
        repository=records.repository,
        uow=records.uow,
        blobs=records.vault,
        assessor=Assessor(ensemble, records.policy),
        pseudonymizer=records.pseudonymizer,
        clock=records.clock,
        store_captures=settings.store_captures,
    )
    review = wire_review(
        settings,
        checks=checks,
        repository=records.repository,
        clock=records.clock,
        captures=records.captures,
        evidence=records.evidence,
    )
    jobs = jobs or build_job_queue(settings)
    heavy = _once(
        lambda: Assessor(
            assurance_ensemble or build_assurance_ensemble(settings, ensemble), records.policy
        )
    )
    assurance = None
    if isinstance(records.repository, CheckStates):
        assurance = AssuranceService(
            checks=checks,
            repository=records.repository,
            states=records.repository,
            queue=jobs,
            assessor=heavy,
            vault=records.vault,
            policy=load_assurance_policy(settings.policy_file),
            clock=records.clock,
            sample_salt=review_settings(settings).secret.hex(),
        )
    closers: list[Callable[[], None]] = []
    rescan_engine = make_engine(settings.resolved_database_url)
    closers.append(rescan_engine.dispose)
    rescan_store = SqlRescanStore(rescan_engine)
    rescan_store.create_schema()
    rescans = RescanService(
        store=rescan_store,
        checks=checks,
        repository=records.repository,
        queue=jobs,
        assessor=heavy,
        vault=records.vault,
        clock=records.clock,
    )
    if webhooks is None:
        feed = records.repository if isinstance(records.repository, DecisionFeed) else None
        webhooks, close_webhooks = build_webhooks(
            settings, jobs, records.clock, feed, key_store or build_key_store(settings)
        )
        closers.append(close_webhooks)
    checks.on_decided = after_decision(review, assurance, webhooks)
    return Application(
        settings=settings,
        policy=records.policy,
        ensemble=ensemble,
        checks=checks,
        repository=records.repository,
        records=records,
        review=review,
        jobs=jobs,
        assurance=assurance,
        webhooks=webhooks,
        rescans=rescans,
        closers=tuple(closers),
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


def build_webhooks(
    settings: Settings,
    jobs: JobQueue,
    clock: Clock,
    decisions: DecisionFeed | None = None,
    key_store: KeyStore | None = None,
) -> tuple[WebhookService, Callable[[], None]]:
    """Webhook endpoints and deliveries in the service database, sent with httpx; signing
    secrets sealed under the key-encryption key."""
    engine = make_engine(settings.resolved_database_url)
    store = SqlWebhookStore(engine, SecretSealer(key_store or build_key_store(settings)))
    store.create_schema()
    marks = SqlSweepMarks(engine)
    marks.create_schema()
    transport = HttpxWebhookTransport(timeout=settings.webhook_timeout_seconds)
    service = WebhookService(
        store=store,
        queue=jobs,
        transport=transport,
        resolver=SocketResolver(),
        clock=clock,
        decisions=decisions,
        marks=marks,
        options=WebhookOptions(
            retry_window=timedelta(seconds=settings.webhook_retry_window_seconds),
            backoff_base=settings.webhook_backoff_base_seconds,
            backoff_max=settings.webhook_backoff_max_seconds,
            rotation_overlap=timedelta(seconds=settings.webhook_rotation_overlap_seconds),
            allow_private_targets=settings.allow_private_webhook_targets,
        ),
    )

    def close() -> None:
        transport.close()
        engine.dispose()

    return service, close


def after_decision(
    review: Review | None,
    assurance: AssuranceService | None,
    webhooks: WebhookService | None = None,
) -> Callable[[Check], None]:
    """What follows every saved decision: review tasks, webhooks, the assurance selection.

    An assurance decision whose action is ``review`` is escalated to a person through the
    review service's assurance-escalation hook.
    """

    def to_review(check: Check) -> None:
        if review is None:
            return
        decision = check.current_decision
        if decision is not None and decision.stage == ASSURANCE_STAGE:
            if decision.action is Action.REVIEW:
                review.service.escalate(check.check_id)
            return
        review.service.on_decided(check)

    def follow(check: Check) -> None:
        # Each hook runs even when another failed: the decision is saved already.
        hooks: list[Callable[[Check], object]] = [to_review]
        if webhooks is not None:
            hooks.append(webhooks.on_decided)
        if assurance is not None:
            hooks.append(assurance.on_decided)
        for hook in hooks:
            try:
                hook(check)
            except Exception:
                log.exception("after-decision hook failed for %s", check.check_id)

    return follow

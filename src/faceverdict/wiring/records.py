"""Record keeping without the detectors: the evidence log, captures, erasure and retention.

The CLI's maintenance commands (evidence audit, erasure, retention sweeps) need only this;
``bootstrap`` builds the whole application on top of it.
"""

from __future__ import annotations

from dataclasses import dataclass

from faceverdict.adapters.encrypting_blob_store import EncryptingBlobStore
from faceverdict.adapters.system_clock import SystemClock
from faceverdict.config import Settings
from faceverdict.domain.policy import Policy
from faceverdict.policy import PolicyFile, load_policy_file
from faceverdict.ports.captures import BlobStore, CaptureVault, KeyStore
from faceverdict.ports.clock import Clock
from faceverdict.services.captures import CaptureAccess
from faceverdict.services.evidence_log import CheckpointPolicy, EvidenceLog
from faceverdict.services.evidence_package import EvidencePackager
from faceverdict.services.privacy import ErasureService
from faceverdict.services.pseudonyms import Pseudonymizer
from faceverdict.services.retention import RetentionSweeper
from faceverdict.wiring.stores import (
    Stores,
    build_blob_store,
    build_key_store,
    build_signer,
    open_database,
    sql_stores,
)


@dataclass(frozen=True)
class Records:
    """Storage and record keeping: the evidence log, captures, erasure and retention."""

    settings: Settings
    policy_file: PolicyFile
    stores: Stores
    key_store: KeyStore
    vault: CaptureVault
    pseudonymizer: Pseudonymizer
    clock: Clock
    evidence: EvidenceLog
    packages: EvidencePackager
    captures: CaptureAccess
    erasure: ErasureService
    retention: RetentionSweeper

    @property
    def policy(self) -> Policy:
        """The decision rules of the active policy."""
        return self.policy_file.decisions

    def close(self) -> None:
        """Release what was opened here (the database connection pool)."""
        self.stores.close()


def build_records(
    settings: Settings,
    *,
    policy: PolicyFile | None = None,
    stores: Stores | None = None,
    blobs: BlobStore | None = None,
    key_store: KeyStore | None = None,
    clock: Clock | None = None,
) -> Records:
    """Storage and record-keeping services; any argument given replaces the default.

    Without ``stores`` every store is SQL on one database, its schema brought up to date.
    """
    policy = policy or load_policy_file(settings.policy_file)
    clock = clock or SystemClock()
    key_store = key_store or build_key_store(settings)
    stores = stores or sql_stores(open_database(settings), key_store)
    vault = EncryptingBlobStore(
        blobs or build_blob_store(settings), key_store, stores.subject_keys, clock
    )
    pseudonymizer = Pseudonymizer(settings.pseudonym_key.get_secret_value().encode())
    evidence = EvidenceLog(
        uow=stores.uow,
        reader=stores.evidence,
        signer=build_signer(settings),
        clock=clock,
        policy=CheckpointPolicy(
            every_entries=settings.checkpoint_every_entries,
            every_seconds=settings.checkpoint_every_seconds,
        ),
    )
    decisions = policy.decisions
    return Records(
        settings=settings,
        policy_file=policy,
        stores=stores,
        key_store=key_store,
        vault=vault,
        pseudonymizer=pseudonymizer,
        clock=clock,
        evidence=evidence,
        packages=EvidencePackager(
            evidence=evidence,
            repository=stores.checks,
            records=stores.captures,
            policy=decisions,
            clock=clock,
        ),
        captures=CaptureAccess(
            repository=stores.checks, records=stores.captures, vault=vault, evidence=evidence
        ),
        erasure=ErasureService(
            uow=stores.uow, vault=vault, pseudonymizer=pseudonymizer, clock=clock
        ),
        retention=RetentionSweeper(uow=stores.uow, vault=vault, policy=decisions, clock=clock),
    )

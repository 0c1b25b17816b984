"""Test doubles shipped with the service: every port in memory, plus fixed detectors.

Service-level tests run on these without SQLite, PostgreSQL or Huey (as ``structlog.testing``
or ``httpx.MockTransport`` do for their libraries). Each memory adapter mirrors its SQL
adapter's semantics; ``tests/contract`` runs the same assertions over both.

- ``clock``: ``ManualClock``, moved by hand (``advance``, ``set``).
- ``world``: ``World``, the shared in-memory tables every store below reads and writes;
  transactions copy, then publish or discard (``NestedWrite``, ``IntegrityViolation``).
- ``checks``: ``MemoryCheckRepository``.
- ``uow``: ``MemoryUnitOfWork`` (real rollback across checks, evidence, captures, privacy
  writes and outbox events).
- ``evidence``: ``MemoryEvidenceWriter``, ``MemoryEvidenceReader`` (Merkle nodes, head,
  checkpoints, redaction: ``EvidenceLog``, proofs and audits run unchanged).
- ``captures``: ``MemoryBlobStore``, ``MemoryCaptureRecords``, ``MemorySubjectKeys``,
  ``MemoryPrivacyWriter``; ``local_key_store()`` (the real ``LocalKeyStore`` on a test KEK).
- ``events``: ``MemoryEventOutbox``, ``MemoryEventLedger``.
- ``review``: ``MemoryReviewTasks``, ``MemoryReviewAudit``; ``reviewers``:
  ``MemoryReviewerAccounts``.
- ``webhooks``: ``MemoryWebhookStore``, ``RecordingTransport``, ``StaticResolver``.
- ``rescans``: ``MemoryRescanStore``.
- ``jobs``: ``ImmediateJobQueue`` (runs jobs in the caller's thread; delayed ones on demand).
- ``detectors``: ``FixedDetector``, ``RaisingDetector``, ``SlowDetector``, ``fixed_ensemble``.
- ``stores``: ``memory_stores(clock)``, a ``Stores`` over one world.
- ``app``: ``memory_application(tmp_path, ...)``, the real ``bootstrap`` on all of the above;
  ``fast_hasher()``.

Import from the submodules (``from faceverdict.testing.app import memory_application``):
this package imports nothing itself, so loading one double does not load the service.
"""

"""Every SQL table of the service database, on one ``metadata`` (SQLite and PostgreSQL).

This module is the schema's single source: the SQL adapters import their tables from here, and
``faceverdict.adapters.migrations`` holds the migrations that bring a database to it. Every
change to a table here ships with a new revision in ``migrations/versions`` (written by hand:
``tests/integration/test_migrations.py`` compares the migrated schema with ``metadata`` and
fails until it does).

- Checks: one row per check, one per decision, and the event outbox of check events.
- Evidence (docs/evidence.md section 8): one row per entry with its canonical bytes, one row
  per complete subtree hash (``Frontier.append`` rows, level 0 = leaf hashes), the signed
  checkpoints, and a one-row head (size, root) that appends lock and update.
- Privacy: one wrapped data key per subject (deleted on erasure) and one record per stored
  capture.
- Human review: reviewers and their sessions, tasks, verdicts, second-review pairs, outcomes
  and the review audit trail.
- Re-scans: runs and their items. Webhooks: endpoints and deliveries.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

# INTEGER PRIMARY KEY is SQLite's rowid: the fastest lookup by position, and 64-bit anyway.
_Position = BigInteger().with_variant(Integer(), "sqlite")

HEAD_ID = 1

# --- checks ----------------------------------------------------------------------------------

checks = Table(
    "checks",
    metadata,
    Column("check_id", String(40), primary_key=True),
    Column("subject_pseudonym", String(64), nullable=False, index=True),
    Column("flow", String(64), nullable=False),
    Column("state", String(16), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, index=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("capture_sha256", String(64), nullable=False, index=True),
    Column("media_type", String(32), nullable=False),
    Column("width", Integer, nullable=False),
    Column("height", Integer, nullable=False),
    Column("byte_size", Integer, nullable=False),
    Column("signals", JSON, nullable=False),
    Column("idempotency_key", String(255), nullable=True, unique=True),
    Column("request_fingerprint", String(64), nullable=True),
    Column("detector_results", JSON, nullable=False),
)

decisions = Table(
    "decisions",
    metadata,
    Column("decision_id", String(40), primary_key=True),
    Column("check_id", String(40), ForeignKey("checks.check_id"), nullable=False, index=True),
    Column("seq", Integer, nullable=False),
    Column("authenticity_score", Float, nullable=True),
    Column("abstention", String(32), nullable=True),
    Column("band", String(64), nullable=False),
    Column("action", String(16), nullable=False),
    Column("reasons", JSON, nullable=False),
    Column("policy_version", String(100), nullable=False),
    Column("model_versions", JSON, nullable=False),
    Column("composite_risk", Float, nullable=True),
    Column("final", Boolean, nullable=False),
    Column("decided_at", DateTime(timezone=True), nullable=False),
    Column("supersedes", String(40), nullable=True),
    Column("stage", String(32), nullable=False),
    UniqueConstraint("check_id", "seq", name="uq_decision_seq"),
)

# The event outbox: a check's events, written in the transaction that changes the check and
# settled once every handler has run (faceverdict.services.messagebus).
event_outbox = Table(
    "event_outbox",
    metadata,
    Column("event_id", Integer, primary_key=True, autoincrement=True),
    Column("check_id", String(40), ForeignKey("checks.check_id"), nullable=False, index=True),
    Column("name", String(64), nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("claimed_until", DateTime(timezone=True), nullable=False),
    Column("settled_at", DateTime(timezone=True), nullable=True, index=True),
)

event_handlers_done = Table(
    "event_handlers_done",
    metadata,
    Column("event_id", Integer, ForeignKey("event_outbox.event_id"), primary_key=True),
    Column("handler", String(64), primary_key=True),
    Column("handled_at", DateTime(timezone=True), nullable=False),
)

# --- evidence --------------------------------------------------------------------------------

evidence_head = Table(
    "evidence_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("size", BigInteger, nullable=False),
    Column("root_hash", LargeBinary(32), nullable=False),
)

evidence_entries = Table(
    "evidence_entries",
    metadata,
    Column("seq", _Position, primary_key=True, autoincrement=False),
    Column("check_id", String(40), nullable=True, index=True),
    Column("kind", String(64), nullable=False, index=True),
    # The RFC 8785 bytes that the leaf hash covers; NULL once expired by retention.
    Column("body", LargeBinary, nullable=True),
    Column("redacted_at", DateTime(timezone=True), nullable=True),
)

evidence_nodes = Table(
    "evidence_nodes",
    metadata,
    Column("level", SmallInteger, primary_key=True, autoincrement=False),
    Column("idx", BigInteger, primary_key=True, autoincrement=False),
    Column("hash", LargeBinary(32), nullable=False),
)

evidence_checkpoints = Table(
    "evidence_checkpoints",
    metadata,
    Column("size", _Position, primary_key=True, autoincrement=False),
    Column("note", Text, nullable=False),
    Column("signed_at", DateTime(timezone=True), nullable=False),
)

# --- privacy ---------------------------------------------------------------------------------

subject_keys = Table(
    "subject_keys",
    metadata,
    Column("key_id", String(40), primary_key=True),
    Column("subject_pseudonym", String(64), nullable=False, unique=True),
    Column("wrapped_key", LargeBinary, nullable=False),
    Column("kek_id", String(200), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

captures = Table(
    "captures",
    metadata,
    Column("check_id", String(40), ForeignKey("checks.check_id"), primary_key=True),
    Column("subject_pseudonym", String(64), nullable=False, index=True),
    Column("flow", String(64), nullable=False, index=True),
    Column("blob_key", String(255), nullable=False),
    Column("key_id", String(40), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("media_type", String(32), nullable=False),
    Column("stored_at", DateTime(timezone=True), nullable=False, index=True),
    Column("deleted_at", DateTime(timezone=True), nullable=True),
    Column("deleted_reason", String(32), nullable=True),
)

# --- human review ----------------------------------------------------------------------------

reviewers = Table(
    "reviewers",
    metadata,
    Column("reviewer_id", String(40), primary_key=True),
    Column("username", String(64), nullable=False, unique=True),
    Column("display_name", String(128), nullable=False),
    Column("role", String(16), nullable=False),
    Column("password_hash", String(255), nullable=False),
    Column("active", Boolean, nullable=False),
    Column("failed_logins", Integer, nullable=False),
    Column("locked_until", DateTime(timezone=True), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

review_sessions = Table(
    "review_sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column(
        "reviewer_id",
        String(40),
        ForeignKey("reviewers.reviewer_id"),
        nullable=False,
        index=True,
    ),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("last_seen_at", DateTime(timezone=True), nullable=False),
)

review_tasks = Table(
    "review_tasks",
    metadata,
    Column("task_id", String(40), primary_key=True),
    Column("check_id", String(40), ForeignKey("checks.check_id"), nullable=False, index=True),
    Column("flow", String(64), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("reasons", JSON, nullable=False),
    Column("tier", String(8), nullable=False),
    Column("priority", String(8), nullable=False),
    Column("priority_rank", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("due_at", DateTime(timezone=True), nullable=False),
    Column("decides", Boolean, nullable=False),
    Column("risk", Float, nullable=True),
    Column("status", String(8), nullable=False),
    Column("claimed_by", String(40), nullable=True),
    Column("lease_expires_at", DateTime(timezone=True), nullable=True),
    Column("claims", Integer, nullable=False),
    Column("parent_task_id", String(40), nullable=True),
    # One task per check, decision and kind: a repeated trigger cannot queue it twice.
    Column("dedupe_key", String(160), nullable=False, unique=True),
    Column("completed_at", DateTime(timezone=True), nullable=True),
    Column("completed_by", String(40), nullable=True),
    Column("face_searched", Boolean, nullable=False),
    Column("face_box", JSON, nullable=True),
    Index("ix_review_tasks_queue", "status", "priority_rank", "due_at"),
)

review_task_exclusions = Table(
    "review_task_exclusions",
    metadata,
    Column("task_id", String(40), ForeignKey("review_tasks.task_id"), primary_key=True),
    Column("reviewer_id", String(40), primary_key=True),
)

review_verdicts = Table(
    "review_verdicts",
    metadata,
    Column("verdict_id", String(40), primary_key=True),
    Column("task_id", String(40), ForeignKey("review_tasks.task_id"), nullable=False, unique=True),
    Column("check_id", String(40), nullable=False, index=True),
    Column("kind", String(16), nullable=False),
    Column("reviewer_id", String(40), nullable=False, index=True),
    Column("label", String(16), nullable=False),
    Column("attack_type", String(32), nullable=True),
    Column("note", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

review_pairs = Table(
    "review_pairs",
    metadata,
    Column("pair_id", String(40), primary_key=True),  # the second-review task
    Column("check_id", String(40), nullable=False, index=True),
    Column("first_reviewer", String(40), nullable=False),
    Column("first_label", String(16), nullable=False),
    Column("second_reviewer", String(40), nullable=False),
    Column("second_label", String(16), nullable=False),
    Column("adjudicated_label", String(16), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

review_outcomes = Table(
    "review_outcomes",
    metadata,
    Column("task_id", String(40), ForeignKey("review_tasks.task_id"), primary_key=True),
    Column("check_id", String(40), nullable=False, index=True),
    Column("label", String(16), nullable=False),
    Column("attack_type", String(32), nullable=True),
    Column("resolved_at", DateTime(timezone=True), nullable=False),
    Column("decision_id", String(40), nullable=True),
    Column("decision_applied", Boolean, nullable=False),
)

review_events = Table(
    "review_events",
    metadata,
    Column("event_id", Integer, primary_key=True, autoincrement=True),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("kind", String(40), nullable=False),
    Column("check_id", String(40), nullable=True, index=True),
    Column("task_id", String(40), nullable=True, index=True),
    Column("actor", String(40), nullable=True),
    Column("detail", JSON, nullable=False),
)

# --- re-scans --------------------------------------------------------------------------------

rescan_runs = Table(
    "rescan_runs",
    metadata,
    Column("run_id", String(80), primary_key=True),
    Column("model_version", String(100), nullable=False),
    Column("since", DateTime(timezone=True), nullable=True),
    Column("flow", String(64), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("cursor_at", DateTime(timezone=True), nullable=True),
    Column("cursor_check", String(40), nullable=True),
    Column("enqueued", Integer, nullable=False),
    Column("done", Integer, nullable=False),
    Column("changed", Integer, nullable=False),
    Column("listed_all", Boolean, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, index=True),
)

rescan_items = Table(
    "rescan_items",
    metadata,
    Column("run_id", String(80), primary_key=True),
    Column("check_id", String(40), primary_key=True),
    Column("done", Boolean, nullable=False),
    Column("changed", Boolean, nullable=False),
)

# --- webhooks --------------------------------------------------------------------------------

webhook_endpoints = Table(
    "webhook_endpoints",
    metadata,
    Column("endpoint_id", String(40), primary_key=True),
    Column("url", Text, nullable=False),
    Column("event_types", JSON, nullable=False),
    Column("secrets", JSON, nullable=False),
    Column("description", String(200), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("delivery_id", String(40), primary_key=True),
    Column("endpoint_id", String(40), nullable=False, index=True),
    Column("event_type", String(64), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("status", String(16), nullable=False, index=True),
    Column("attempts", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("next_attempt_at", DateTime(timezone=True), nullable=True),
    Column("last_error", Text, nullable=True),
    Column("delivered_at", DateTime(timezone=True), nullable=True),
)

"""The schema of the previous release (b70c0e7), as its ``metadata.create_all`` made it.

That release created its tables at start without recording a version: ``Database.upgrade``
stamps such a database at this revision instead of running it. A new database runs it.
Written out in full and never changed: later schema changes are later revisions.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_previous_release"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

# INTEGER PRIMARY KEY is SQLite's rowid (evidence positions); BIGINT elsewhere.
_POSITION = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    # checks
    op.create_table(
        "checks",
        sa.Column("check_id", sa.String(40), nullable=False),
        sa.Column("subject_pseudonym", sa.String(64), nullable=False),
        sa.Column("flow", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("updated_at", _TIME, nullable=False),
        sa.Column("capture_sha256", sa.String(64), nullable=False),
        sa.Column("media_type", sa.String(32), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("byte_size", sa.Integer(), nullable=False),
        sa.Column("signals", sa.JSON(), nullable=False),
        sa.Column("idempotency_key", sa.String(255), nullable=True),
        sa.Column("request_fingerprint", sa.String(64), nullable=True),
        sa.Column("detector_results", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("check_id"),
        sa.UniqueConstraint("idempotency_key"),
    )
    op.create_index("ix_checks_subject_pseudonym", "checks", ["subject_pseudonym"])
    op.create_index("ix_checks_capture_sha256", "checks", ["capture_sha256"])
    op.create_index("ix_checks_created_at", "checks", ["created_at"])

    op.create_table(
        "decisions",
        sa.Column("decision_id", sa.String(40), nullable=False),
        sa.Column("check_id", sa.String(40), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("authenticity_score", sa.Float(), nullable=True),
        sa.Column("abstention", sa.String(32), nullable=True),
        sa.Column("band", sa.String(64), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("policy_version", sa.String(100), nullable=False),
        sa.Column("model_versions", sa.JSON(), nullable=False),
        sa.Column("composite_risk", sa.Float(), nullable=True),
        sa.Column("final", sa.Boolean(), nullable=False),
        sa.Column("decided_at", _TIME, nullable=False),
        sa.Column("supersedes", sa.String(40), nullable=True),
        sa.Column("stage", sa.String(32), nullable=False),
        sa.PrimaryKeyConstraint("decision_id"),
        sa.UniqueConstraint("check_id", "seq", name="uq_decision_seq"),
        sa.ForeignKeyConstraint(["check_id"], ["checks.check_id"]),
    )
    op.create_index("ix_decisions_check_id", "decisions", ["check_id"])

    # catch-up sweeps' marks (replaced by the event outbox in 0002)
    op.create_table(
        "sweep_marks",
        sa.Column("name", sa.String(40), nullable=False),
        sa.Column("mark", _TIME, nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )

    # evidence log
    op.create_table(
        "evidence_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("root_hash", sa.LargeBinary(32), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "evidence_entries",
        sa.Column("seq", _POSITION, autoincrement=False, nullable=False),
        sa.Column("check_id", sa.String(40), nullable=True),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=True),
        sa.Column("redacted_at", _TIME, nullable=True),
        sa.PrimaryKeyConstraint("seq"),
    )
    op.create_index("ix_evidence_entries_kind", "evidence_entries", ["kind"])
    op.create_index("ix_evidence_entries_check_id", "evidence_entries", ["check_id"])
    op.create_table(
        "evidence_nodes",
        sa.Column("level", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("idx", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hash", sa.LargeBinary(32), nullable=False),
        sa.PrimaryKeyConstraint("level", "idx"),
    )
    op.create_table(
        "evidence_checkpoints",
        sa.Column("size", _POSITION, autoincrement=False, nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("signed_at", _TIME, nullable=False),
        sa.PrimaryKeyConstraint("size"),
    )

    # privacy
    op.create_table(
        "subject_keys",
        sa.Column("key_id", sa.String(40), nullable=False),
        sa.Column("subject_pseudonym", sa.String(64), nullable=False),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=False),
        sa.Column("kek_id", sa.String(200), nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.PrimaryKeyConstraint("key_id"),
        sa.UniqueConstraint("subject_pseudonym"),
    )
    op.create_table(
        "captures",
        sa.Column("check_id", sa.String(40), nullable=False),
        sa.Column("subject_pseudonym", sa.String(64), nullable=False),
        sa.Column("flow", sa.String(64), nullable=False),
        sa.Column("blob_key", sa.String(255), nullable=False),
        sa.Column("key_id", sa.String(40), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("media_type", sa.String(32), nullable=False),
        sa.Column("stored_at", _TIME, nullable=False),
        sa.Column("deleted_at", _TIME, nullable=True),
        sa.Column("deleted_reason", sa.String(32), nullable=True),
        sa.PrimaryKeyConstraint("check_id"),
        sa.ForeignKeyConstraint(["check_id"], ["checks.check_id"]),
    )
    op.create_index("ix_captures_subject_pseudonym", "captures", ["subject_pseudonym"])
    op.create_index("ix_captures_flow", "captures", ["flow"])
    op.create_index("ix_captures_stored_at", "captures", ["stored_at"])

    # human review
    op.create_table(
        "reviewers",
        sa.Column("reviewer_id", sa.String(40), nullable=False),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("display_name", sa.String(128), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("failed_logins", sa.Integer(), nullable=False),
        sa.Column("locked_until", _TIME, nullable=True),
        sa.Column("created_at", _TIME, nullable=False),
        sa.PrimaryKeyConstraint("reviewer_id"),
        sa.UniqueConstraint("username"),
    )
    op.create_table(
        "review_sessions",
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("reviewer_id", sa.String(40), nullable=False),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("expires_at", _TIME, nullable=False),
        sa.Column("last_seen_at", _TIME, nullable=False),
        sa.PrimaryKeyConstraint("token_hash"),
        sa.ForeignKeyConstraint(["reviewer_id"], ["reviewers.reviewer_id"]),
    )
    op.create_index("ix_review_sessions_reviewer_id", "review_sessions", ["reviewer_id"])
    op.create_table(
        "review_tasks",
        sa.Column("task_id", sa.String(40), nullable=False),
        sa.Column("check_id", sa.String(40), nullable=False),
        sa.Column("flow", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("tier", sa.String(8), nullable=False),
        sa.Column("priority", sa.String(8), nullable=False),
        sa.Column("priority_rank", sa.Integer(), nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("due_at", _TIME, nullable=False),
        sa.Column("decides", sa.Boolean(), nullable=False),
        sa.Column("risk", sa.Float(), nullable=True),
        sa.Column("status", sa.String(8), nullable=False),
        sa.Column("claimed_by", sa.String(40), nullable=True),
        sa.Column("lease_expires_at", _TIME, nullable=True),
        sa.Column("claims", sa.Integer(), nullable=False),
        sa.Column("parent_task_id", sa.String(40), nullable=True),
        sa.Column("dedupe_key", sa.String(160), nullable=False),
        sa.Column("completed_at", _TIME, nullable=True),
        sa.Column("completed_by", sa.String(40), nullable=True),
        sa.Column("face_searched", sa.Boolean(), nullable=False),
        sa.Column("face_box", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("task_id"),
        sa.ForeignKeyConstraint(["check_id"], ["checks.check_id"]),
        sa.UniqueConstraint("dedupe_key"),
    )
    op.create_index("ix_review_tasks_check_id", "review_tasks", ["check_id"])
    op.create_index("ix_review_tasks_queue", "review_tasks", ["status", "priority_rank", "due_at"])
    op.create_table(
        "review_task_exclusions",
        sa.Column("task_id", sa.String(40), nullable=False),
        sa.Column("reviewer_id", sa.String(40), nullable=False),
        sa.PrimaryKeyConstraint("task_id", "reviewer_id"),
        sa.ForeignKeyConstraint(["task_id"], ["review_tasks.task_id"]),
    )
    op.create_table(
        "review_verdicts",
        sa.Column("verdict_id", sa.String(40), nullable=False),
        sa.Column("task_id", sa.String(40), nullable=False),
        sa.Column("check_id", sa.String(40), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("reviewer_id", sa.String(40), nullable=False),
        sa.Column("label", sa.String(16), nullable=False),
        sa.Column("attack_type", sa.String(32), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.PrimaryKeyConstraint("verdict_id"),
        sa.UniqueConstraint("task_id"),
        sa.ForeignKeyConstraint(["task_id"], ["review_tasks.task_id"]),
    )
    op.create_index("ix_review_verdicts_check_id", "review_verdicts", ["check_id"])
    op.create_index("ix_review_verdicts_reviewer_id", "review_verdicts", ["reviewer_id"])
    op.create_table(
        "review_pairs",
        sa.Column("pair_id", sa.String(40), nullable=False),
        sa.Column("check_id", sa.String(40), nullable=False),
        sa.Column("first_reviewer", sa.String(40), nullable=False),
        sa.Column("first_label", sa.String(16), nullable=False),
        sa.Column("second_reviewer", sa.String(40), nullable=False),
        sa.Column("second_label", sa.String(16), nullable=False),
        sa.Column("adjudicated_label", sa.String(16), nullable=True),
        sa.Column("created_at", _TIME, nullable=False),
        sa.PrimaryKeyConstraint("pair_id"),
    )
    op.create_index("ix_review_pairs_check_id", "review_pairs", ["check_id"])
    op.create_table(
        "review_outcomes",
        sa.Column("task_id", sa.String(40), nullable=False),
        sa.Column("check_id", sa.String(40), nullable=False),
        sa.Column("label", sa.String(16), nullable=False),
        sa.Column("attack_type", sa.String(32), nullable=True),
        sa.Column("resolved_at", _TIME, nullable=False),
        sa.Column("decision_id", sa.String(40), nullable=True),
        sa.Column("decision_applied", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("task_id"),
        sa.ForeignKeyConstraint(["task_id"], ["review_tasks.task_id"]),
    )
    op.create_index("ix_review_outcomes_check_id", "review_outcomes", ["check_id"])
    op.create_table(
        "review_events",
        sa.Column("event_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("occurred_at", _TIME, nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("check_id", sa.String(40), nullable=True),
        sa.Column("task_id", sa.String(40), nullable=True),
        sa.Column("actor", sa.String(40), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("event_id"),
    )
    op.create_index("ix_review_events_check_id", "review_events", ["check_id"])
    op.create_index("ix_review_events_task_id", "review_events", ["task_id"])

    # re-scans
    op.create_table(
        "rescan_runs",
        sa.Column("run_id", sa.String(80), nullable=False),
        sa.Column("model_version", sa.String(100), nullable=False),
        sa.Column("since", _TIME, nullable=True),
        sa.Column("flow", sa.String(64), nullable=True),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("cursor_at", _TIME, nullable=True),
        sa.Column("cursor_check", sa.String(40), nullable=True),
        sa.Column("enqueued", sa.Integer(), nullable=False),
        sa.Column("done", sa.Integer(), nullable=False),
        sa.Column("changed", sa.Integer(), nullable=False),
        sa.Column("listed_all", sa.Boolean(), nullable=False),
        sa.Column("updated_at", _TIME, nullable=False),
        sa.PrimaryKeyConstraint("run_id"),
    )
    op.create_index("ix_rescan_runs_updated_at", "rescan_runs", ["updated_at"])
    op.create_table(
        "rescan_items",
        sa.Column("run_id", sa.String(80), nullable=False),
        sa.Column("check_id", sa.String(40), nullable=False),
        sa.Column("done", sa.Boolean(), nullable=False),
        sa.Column("changed", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "check_id"),
    )

    # webhooks
    op.create_table(
        "webhook_endpoints",
        sa.Column("endpoint_id", sa.String(40), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("event_types", sa.JSON(), nullable=False),
        sa.Column("secrets", sa.JSON(), nullable=False),
        sa.Column("description", sa.String(200), nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.PrimaryKeyConstraint("endpoint_id"),
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("delivery_id", sa.String(40), nullable=False),
        sa.Column("endpoint_id", sa.String(40), nullable=False),
        sa.Column("event_type", sa.String(64), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("next_attempt_at", _TIME, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("delivered_at", _TIME, nullable=True),
        sa.PrimaryKeyConstraint("delivery_id"),
    )
    op.create_index("ix_webhook_deliveries_endpoint_id", "webhook_deliveries", ["endpoint_id"])
    op.create_index("ix_webhook_deliveries_status", "webhook_deliveries", ["status"])


def downgrade() -> None:
    for table in (
        "webhook_deliveries",
        "webhook_endpoints",
        "rescan_items",
        "rescan_runs",
        "review_events",
        "review_outcomes",
        "review_pairs",
        "review_verdicts",
        "review_task_exclusions",
        "review_tasks",
        "review_sessions",
        "reviewers",
        "captures",
        "subject_keys",
        "evidence_checkpoints",
        "evidence_nodes",
        "evidence_entries",
        "evidence_head",
        "sweep_marks",
        "decisions",
        "checks",
    ):
        op.drop_table(table)  # indexes go with their table

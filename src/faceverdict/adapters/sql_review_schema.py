"""SQLAlchemy Core tables of human review, on the shared ``metadata`` (SQLite and PostgreSQL)."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
)

from faceverdict.adapters.sql_schema import metadata

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

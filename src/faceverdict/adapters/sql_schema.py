"""SQLAlchemy Core tables shared by the SQL adapters (SQLite and PostgreSQL)."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    UniqueConstraint,
)

metadata = MetaData()

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

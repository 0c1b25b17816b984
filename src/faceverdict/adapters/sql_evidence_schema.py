"""Tables of the evidence log and of encrypted captures (SQLite and PostgreSQL).

Evidence (docs/evidence.md section 8): one row per entry with its canonical bytes, one row per
complete subtree hash (``Frontier.append`` rows, level 0 = leaf hashes), the signed
checkpoints, and a one-row head (size, root) that appends lock and update.
Privacy: one wrapped data key per subject (deleted on erasure) and one record per stored capture.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Table,
    Text,
)

from faceverdict.adapters.sql_schema import metadata

# INTEGER PRIMARY KEY is SQLite's rowid: the fastest lookup by position, and 64-bit anyway.
_Position = BigInteger().with_variant(Integer(), "sqlite")

HEAD_ID = 1

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

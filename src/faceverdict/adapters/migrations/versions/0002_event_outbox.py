"""The event outbox replaces the catch-up sweeps: ``event_outbox`` and
``event_handlers_done`` are new, ``sweep_marks`` goes (its marks are not needed any more).

Nothing is copied into the outbox: decisions taken before the upgrade had their handlers run
(or swept) by the previous release.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_event_outbox"
down_revision: str | None = "0001_previous_release"
branch_labels: str | None = None
depends_on: str | None = None

_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "event_outbox",
        sa.Column("event_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("check_id", sa.String(40), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("occurred_at", _TIME, nullable=False),
        sa.Column("recorded_at", _TIME, nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("claimed_until", _TIME, nullable=False),
        sa.Column("settled_at", _TIME, nullable=True),
        sa.PrimaryKeyConstraint("event_id"),
        sa.ForeignKeyConstraint(["check_id"], ["checks.check_id"]),
    )
    op.create_index("ix_event_outbox_check_id", "event_outbox", ["check_id"])
    op.create_index("ix_event_outbox_settled_at", "event_outbox", ["settled_at"])
    op.create_table(
        "event_handlers_done",
        sa.Column("event_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("handler", sa.String(64), nullable=False),
        sa.Column("handled_at", _TIME, nullable=False),
        sa.PrimaryKeyConstraint("event_id", "handler"),
        sa.ForeignKeyConstraint(["event_id"], ["event_outbox.event_id"]),
    )
    op.drop_table("sweep_marks")


def downgrade() -> None:
    op.create_table(
        "sweep_marks",
        sa.Column("name", sa.String(40), nullable=False),
        sa.Column("mark", _TIME, nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.drop_table("event_handlers_done")
    op.drop_table("event_outbox")

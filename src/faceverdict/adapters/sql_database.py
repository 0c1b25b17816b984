"""Database: the one engine a process opens on the service database, and its schema.

Every SQL adapter of a process is built on this object's engine, so a process holds one
connection pool. ``upgrade`` brings the schema to the current version with the Alembic
revisions in ``faceverdict.adapters.migrations`` (configured here, from code: no alembic.ini).

One upgrade is one transaction: PostgreSQL's DDL is transactional, and on SQLite the
transaction begins with ``BEGIN IMMEDIATE``. Concurrent starts are serialised: on PostgreSQL
by a transaction-scoped advisory lock taken before anything is read, on SQLite by that write
lock (the next process waits up to the engine's 30 s busy timeout). The second process then
finds the schema at head and changes nothing.

A database made by the previous release (b70c0e7) has the tables but no ``alembic_version``:
it is recognised by its ``checks`` table, checked to hold every table of that release, and
stamped at ``0001_previous_release`` before the upgrade, so that 0001 is not run over it.
"""

from __future__ import annotations

import functools
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection, Engine, insert, inspect, select, text

from faceverdict.adapters.sql_check_repository import SQLITE_BEGIN, make_engine
from faceverdict.adapters.sql_schema import HEAD_ID, evidence_head
from faceverdict.adapters.sql_support import unavailable_on_outage
from faceverdict.errors import ConfigurationError
from faceverdict.evidence.merkle import EMPTY_ROOT

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
PREVIOUS_RELEASE = "0001_previous_release"
VERSION_TABLE = "alembic_version"

# Every table the previous release's create_all made: a database without a version that has
# them all is that release's; one that has only some is not something we can upgrade safely.
PREVIOUS_RELEASE_TABLES = frozenset(
    {
        "checks",
        "decisions",
        "sweep_marks",
        "evidence_head",
        "evidence_entries",
        "evidence_nodes",
        "evidence_checkpoints",
        "subject_keys",
        "captures",
        "reviewers",
        "review_sessions",
        "review_tasks",
        "review_task_exclusions",
        "review_verdicts",
        "review_pairs",
        "review_outcomes",
        "review_events",
        "rescan_runs",
        "rescan_items",
        "webhook_endpoints",
        "webhook_deliveries",
    }
)

# pg_advisory_xact_lock key of the schema upgrade (any constant shared by every process).
UPGRADE_LOCK = zlib.crc32(b"faceverdict.schema-upgrade")


@dataclass(frozen=True)
class SchemaUpgrade:
    """What ``Database.upgrade`` did: the revision before (None: empty), the one after."""

    before: str | None
    after: str
    adopted: bool = False  # the previous release's database, stamped at 0001 first

    @property
    def changed(self) -> bool:
        """True if any revision ran (or the database was stamped)."""
        return self.adopted or self.before != self.after

    def describe(self) -> str:
        """One line: ``<before> -> <after>``, or that nothing was to do."""
        if not self.changed:
            return f"database schema already at {self.after}"
        before = self.before or "empty"
        if self.adopted:
            before = f"previous release (stamped {PREVIOUS_RELEASE})"
        return f"database schema upgraded: {before} -> {self.after}"


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic configuration built in code; ``env.py`` migrates ``connection``."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


@functools.cache
def head_revision() -> str:
    """The revision this code needs (the single head of ``migrations/versions``)."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise AssertionError(f"no migration revision in {MIGRATIONS}")
    return head


class Database:
    """The service database: one engine, and the schema's upgrade."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine: Engine = make_engine(url)

    def upgrade(self) -> SchemaUpgrade:
        """Bring the schema to head (stamping a previous release's database at 0001 first),
        then create the evidence head row of an empty log; safe to run from several
        processes at once, and a no-op when already current."""
        with unavailable_on_outage(), _locked(self.engine) as conn:
            before = _revision(conn)
            config = alembic_config(conn)
            if before is not None and not _known(config, before):
                raise ConfigurationError(_unknown(before))
            adopted = before is None and _is_previous_release(conn)
            if adopted:
                command.stamp(config, PREVIOUS_RELEASE)
            command.upgrade(config, "head")
            _ensure_evidence_head(conn)
            after = _revision(conn)
        if after is None:
            raise AssertionError("alembic upgrade left no version")
        return SchemaUpgrade(before=before, after=after, adopted=adopted)

    def current_revision(self) -> str | None:
        """The revision the database is at (None: no version recorded)."""
        with unavailable_on_outage(), self.engine.connect() as conn:
            return _revision(conn)

    def is_current(self) -> bool:
        """True if the database is at the revision this code needs."""
        return self.current_revision() == head_revision()

    def head_revision(self) -> str:
        """The revision this code needs."""
        return head_revision()

    def require_current(self) -> None:
        """Raise ConfigurationError (one line) unless the schema is at head."""
        current = self.current_revision()
        if current != head_revision():
            raise ConfigurationError(self.behind_message(current))

    def behind_message(self, current: str | None) -> str:
        """One line on a database whose schema is at ``current``, not at head."""
        if current is not None and not _known(alembic_config(), current):
            return _unknown(current)
        return (
            f"database schema is at {current or 'no version'}, this release needs "
            f"{head_revision()}: run `faceverdict db upgrade`"
        )

    def dispose(self) -> None:
        """Close the connection pool."""
        self.engine.dispose()


@contextmanager
def _locked(engine: Engine) -> Iterator[Connection]:
    """A connection in a transaction that holds the database's upgrade lock."""
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            conn.execution_options(**{SQLITE_BEGIN: "IMMEDIATE"})  # the write lock, now
        with conn.begin():
            if engine.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": UPGRADE_LOCK})
            yield conn


def _known(config: Config, revision: str) -> bool:
    try:
        return ScriptDirectory.from_config(config).get_revision(revision) is not None
    except CommandError:
        return False


def _unknown(revision: str) -> str:
    return (
        f"database schema is at {revision}, a revision this release does not know "
        "(migrated by a newer release?)"
    )


def _revision(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


def _is_previous_release(conn: Connection) -> bool:
    """True if the database holds the previous release's tables (False: an empty one)."""
    tables = set(inspect(conn).get_table_names())
    if "checks" not in tables:
        return False
    missing = sorted(PREVIOUS_RELEASE_TABLES - tables)
    if missing:
        raise ConfigurationError(
            "database has tables but no schema version, and lacks "
            f"{', '.join(missing)}: not a database of the previous release; "
            "upgrade it with that release first"
        )
    return True


def _ensure_evidence_head(conn: Connection) -> None:
    """The head row of an empty log, once (the upgrade lock keeps starts from racing)."""
    exists = conn.execute(select(evidence_head.c.id).where(evidence_head.c.id == HEAD_ID)).first()
    if exists is None:
        conn.execute(insert(evidence_head).values(id=HEAD_ID, size=0, root_hash=EMPTY_ROOT))

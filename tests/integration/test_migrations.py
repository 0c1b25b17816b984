"""Schema migrations on SQLite and PostgreSQL: a database of the previous release upgrades with
its data intact, a new one upgrades to exactly ``metadata``, and every start after that is a
no-op. The comparison with ``metadata`` is what makes a table change without a migration fail.

The previous release's database comes from ``tests/fixtures/previous_release`` (written by
that release's own code: see make_fixture.py there): the SQLite dump is replayed as it is; on
PostgreSQL the DDL that release's ``create_all`` emitted is replayed, and the same rows are
copied in from the SQLite dump.
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from click.testing import CliRunner
from sqlalchemy import (
    Column,
    Connection,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    create_engine,
    func,
    inspect,
    select,
    text,
)

from faceverdict.adapters.sql_check_repository import SqlCheckRepository, make_engine
from faceverdict.adapters.sql_database import (
    PREVIOUS_RELEASE,
    Database,
    alembic_config,
    head_revision,
)
from faceverdict.adapters.sql_evidence_log import SqlEvidenceReader
from faceverdict.adapters.sql_review_tasks import SqlReviewTasks
from faceverdict.adapters.sql_reviewer_accounts import SqlReviewerAccounts
from faceverdict.adapters.sql_schema import HEAD_ID, evidence_head, metadata
from faceverdict.adapters.sql_unit_of_work import SqlUnitOfWork
from faceverdict.adapters.sql_webhook_store import SqlWebhookStore
from faceverdict.config import load_settings
from faceverdict.domain.review import TaskStatus
from faceverdict.entrypoints.cli import cli
from faceverdict.errors import ConfigurationError
from faceverdict.evidence.checkpoint import parse_vkey
from faceverdict.ports.evidence import EntryDraft
from faceverdict.services.evidence_audit import audit_log
from faceverdict.wiring.stores import open_database
from tests.support.review import make_check

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "previous_release"
RELEASE: dict[str, Any] = json.loads((FIXTURES / "release.json").read_text(encoding="utf-8"))
HEAD = "0002_event_outbox"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'faceverdict.db'}"
    value: str = request.getfixturevalue("postgres_url")
    return value


def replay_sqlite_dump(path: Path) -> None:
    """The previous release's SQLite file, from its dump."""
    conn = sqlite3.connect(path)
    conn.executescript((FIXTURES / "embedded.sql").read_text(encoding="utf-8"))
    conn.close()


def _utc(value: Any) -> Any:
    # SQLite keeps UTC times without their offset; PostgreSQL's timestamptz needs it.
    return value.replace(tzinfo=UTC) if isinstance(value, datetime) else value


def replay_postgresql(url: str, scratch: Path) -> None:
    """The previous release's DDL on PostgreSQL, with the rows of the SQLite dump."""
    source_file = scratch / "previous.db"
    replay_sqlite_dump(source_file)
    target = create_engine(url)
    source = create_engine(f"sqlite:///{source_file}")
    try:
        with target.begin() as conn:
            conn.exec_driver_sql((FIXTURES / "postgresql.sql").read_text(encoding="utf-8"))
        read, write = MetaData(), MetaData()
        read.reflect(source)
        write.reflect(target)
        with source.connect() as src, target.begin() as dst:
            for table in write.sorted_tables:
                rows = [
                    {k: _utc(v) for k, v in row._mapping.items()}
                    for row in src.execute(select(read.tables[table.name]))
                ]
                if rows:
                    dst.execute(table.insert(), rows)
            # the serial column's sequence continues after the copied ids
            dst.execute(
                text(
                    "SELECT setval(pg_get_serial_sequence('review_events', 'event_id'), "
                    "(SELECT max(event_id) FROM review_events))"
                )
            )
    finally:
        source.dispose()
        target.dispose()


@pytest.fixture
def previous(url: str, tmp_path: Path) -> str:
    """A database as the previous release left it (tables and rows, no alembic_version)."""
    if url.startswith("sqlite"):
        replay_sqlite_dump(Path(url.removeprefix("sqlite:///")))
    else:
        replay_postgresql(url, tmp_path)
    return url


def schema_differences(engine: Engine) -> list[Any]:
    """What Alembic's autogenerate would change to make the database match ``metadata``."""
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(context, metadata))


def version_rows(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(text("SELECT version_num FROM alembic_version")).scalars())


def table_names(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names())


# --- a new database ---------------------------------------------------------------------------


def test_a_new_database_upgrades_to_exactly_the_schema_of_metadata(url: str) -> None:
    database = Database(url)
    try:
        assert database.current_revision() is None
        assert not database.is_current()
        result = database.upgrade()
        assert (result.before, result.after, result.adopted) == (None, HEAD, False)
        assert head_revision() == HEAD
        assert database.is_current()
        assert schema_differences(database.engine) == []
        assert version_rows(database.engine) == [HEAD]
        assert "sweep_marks" not in table_names(database.engine)
        with database.engine.connect() as conn:
            assert conn.execute(select(evidence_head.c.size)).scalars().all() == [0]
    finally:
        database.dispose()


def test_upgrading_again_changes_nothing(url: str) -> None:
    database = Database(url)
    try:
        database.upgrade()
        second = database.upgrade()
        assert not second.changed
        assert (second.before, second.after) == (HEAD, HEAD)
        assert "already at" in second.describe()
        assert version_rows(database.engine) == [HEAD]
        with database.engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(evidence_head)).scalar() == 1
    finally:
        database.dispose()


def test_concurrent_starts_upgrade_once(url: str) -> None:
    barrier = threading.Barrier(4)
    results: list[Any] = []
    errors: list[BaseException] = []

    def start() -> None:
        database = Database(url)
        try:
            barrier.wait()
            results.append(database.upgrade())
        except BaseException as exc:
            errors.append(exc)
        finally:
            database.dispose()

    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(r.changed for r in results) == [False, False, False, True]
    engine = make_engine(url)
    try:
        assert version_rows(engine) == [HEAD]
        assert schema_differences(engine) == []
        with engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(evidence_head)).scalar() == 1
    finally:
        engine.dispose()


def test_the_comparison_sees_a_table_change_without_a_migration(tmp_path: Path) -> None:
    """The guard itself: a column or table added to the schema alone is reported."""
    database = Database(f"sqlite:///{tmp_path / 'faceverdict.db'}")
    try:
        database.upgrade()
        changed = MetaData()
        for table in metadata.sorted_tables:
            table.to_metadata(changed)
        Table("new_things", changed, Column("thing_id", Integer, primary_key=True))
        changed.tables["checks"].append_column(Column("new_column", String(8), nullable=True))
        with database.engine.connect() as conn:
            found = compare_metadata(MigrationContext.configure(conn), changed)
        # ("add_table", table) and ("add_column", schema, table name, column)
        kinds = {
            (d[0], d[1].name) if d[0] == "add_table" else (d[0], d[2], d[3].name) for d in found
        }
        assert kinds == {("add_table", "new_things"), ("add_column", "checks", "new_column")}
    finally:
        database.dispose()


# --- the previous release's database ------------------------------------------------------------


def test_revision_0001_is_the_previous_release_schema_on_sqlite(tmp_path: Path) -> None:
    """Stamping a previous release's database at 0001 is only right if 0001 made the same."""
    replayed = tmp_path / "previous.db"
    replay_sqlite_dump(replayed)
    engine = make_engine(f"sqlite:///{tmp_path / 'migrated.db'}")
    try:
        with engine.connect() as conn, conn.begin():
            command.upgrade(alembic_config(conn), PREVIOUS_RELEASE)
    finally:
        engine.dispose()

    def schema(path: Path) -> dict[tuple[str, str], str]:
        conn = sqlite3.connect(path)
        rows = conn.execute(
            "SELECT type, name, sql FROM sqlite_master WHERE tbl_name != 'alembic_version'"
        ).fetchall()
        conn.close()
        return {(kind, name): re.sub(r"\s+", " ", sql or "") for kind, name, sql in rows}

    assert schema(tmp_path / "migrated.db") == schema(replayed)


@pytest.mark.integration
def test_revision_0001_is_the_previous_release_schema_on_postgresql(
    postgres_url: str, tmp_path: Path
) -> None:
    """Columns, types, defaults, constraint and index names, sequences: as create_all made."""
    engine = create_engine(postgres_url)
    try:
        with engine.connect() as conn, conn.begin():
            command.upgrade(alembic_config(conn), PREVIOUS_RELEASE)
            migrated = _catalog(conn)
            for table in inspect(conn).get_table_names():
                conn.execute(text(f'DROP TABLE "{table}" CASCADE'))
            conn.exec_driver_sql((FIXTURES / "postgresql.sql").read_text(encoding="utf-8"))
            replayed = _catalog(conn)
    finally:
        engine.dispose()
    assert migrated == replayed


def _catalog(conn: Connection) -> dict[str, list[tuple[Any, ...]]]:
    queries = {
        "columns": "SELECT table_name, column_name, ordinal_position, data_type, "
        "character_maximum_length, is_nullable, column_default FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND table_name != 'alembic_version'",
        "constraints": "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) "
        "FROM pg_constraint WHERE connamespace = current_schema()::regnamespace "
        "AND conrelid::regclass::text != 'alembic_version'",
        "indexes": "SELECT tablename, indexname, indexdef FROM pg_indexes "
        "WHERE schemaname = current_schema() AND tablename != 'alembic_version'",
        "sequences": "SELECT sequencename, data_type FROM pg_sequences "
        "WHERE schemaname = current_schema()",
    }
    schema = conn.execute(text("SELECT current_schema()")).scalar_one()
    return {
        name: sorted(
            tuple(str(v).replace(f"{schema}.", "") for v in row)
            for row in conn.execute(text(query))
        )
        for name, query in queries.items()
    }


def test_a_previous_release_database_upgrades_with_its_data(previous: str) -> None:
    database = Database(previous)
    engine = database.engine
    try:
        assert database.current_revision() is None
        assert "sweep_marks" in table_names(engine)
        result = database.upgrade()
        assert (result.before, result.after, result.adopted) == (None, HEAD, True)
        assert result.describe() == (
            f"database schema upgraded: previous release (stamped {PREVIOUS_RELEASE}) -> {HEAD}"
        )
        assert version_rows(engine) == [HEAD]
        assert schema_differences(engine) == []
        assert {"event_outbox", "event_handlers_done"} <= table_names(engine)
        assert "sweep_marks" not in table_names(engine)

        # checks and their decisions, through the current repository
        checks = SqlCheckRepository(engine)
        for check_id, decisions in RELEASE["checks"].items():
            check = checks.get(check_id)
            assert check is not None, check_id
            assert [
                {"decision_id": d.decision_id, "action": d.action.value, "band": d.band}
                for d in check.decisions
            ] == decisions
        assert checks.get_by_idempotency_key("fixture-key-1") is not None

        # the evidence log: same head, and it audits clean against the release's key
        reader = SqlEvidenceReader(engine)
        size, root = reader.head()
        assert (size, root.hex()) == (RELEASE["evidence_size"], RELEASE["evidence_root"])
        vkey = parse_vkey(RELEASE["vkey"])
        report = audit_log(reader, vkey, RELEASE["origin"])
        assert report.ok, report.problems
        assert (report.size, report.checkpoints_checked) == (size, 1)
        with engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(evidence_head)).scalar() == 1

        # review and webhooks
        task = SqlReviewTasks(engine).get_task(RELEASE["review_task"])
        assert task is not None
        assert task.status is TaskStatus.OPEN
        assert task.check_id == next(iter(RELEASE["checks"]))
        assert SqlReviewerAccounts(engine).reviewer_by_username(RELEASE["reviewer"]) is not None
        endpoint = SqlWebhookStore(engine).get_endpoint(RELEASE["webhook_endpoint"])
        assert endpoint is not None
        assert endpoint.url == "http://127.0.0.1:9/hook"

        # the log goes on from the old head, and new checks are stored as before
        with SqlUnitOfWork(engine).begin() as tx:
            tx.evidence.append(
                [EntryDraft("test.after_upgrade", None, datetime.now(UTC), {"n": 1})]
            )
        after = audit_log(reader, vkey, RELEASE["origin"])
        assert after.ok, after.problems
        assert after.size == size + 1
        checks.add(make_check("chk_after_upgrade"))
        assert checks.get("chk_after_upgrade") is not None

        assert not database.upgrade().changed
    finally:
        database.dispose()


def test_a_database_with_only_some_tables_is_refused(url: str) -> None:
    """Tables but no version, and not all of the previous release's: not guessed at."""
    engine = make_engine(url)
    try:
        metadata.create_all(engine, tables=[metadata.tables["checks"]])
    finally:
        engine.dispose()
    database = Database(url)
    try:
        with pytest.raises(ConfigurationError, match="not a database of the previous release"):
            database.upgrade()
        assert database.current_revision() is None
    finally:
        database.dispose()


def test_a_revision_this_release_does_not_know_is_refused(url: str) -> None:
    database = Database(url)
    try:
        database.upgrade()
        with database.engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = '0099_from_the_future'"))
        with pytest.raises(ConfigurationError, match="does not know"):
            database.upgrade()
        with pytest.raises(ConfigurationError, match="does not know"):
            database.require_current()
    finally:
        database.dispose()


# --- starting the service, and the db commands --------------------------------------------------


def test_a_replica_without_migrate_on_start_refuses_a_database_behind(tmp_path: Path) -> None:
    replay_sqlite_dump(tmp_path / "faceverdict.db")
    settings = load_settings(data_dir=tmp_path, migrate_on_start=False)
    with pytest.raises(ConfigurationError, match=r"run `faceverdict db upgrade`"):
        open_database(settings)
    assert "event_outbox" not in _sqlite_tables(tmp_path / "faceverdict.db")

    open_database(load_settings(data_dir=tmp_path)).dispose()  # migrate_on_start: upgrades
    open_database(settings).dispose()  # at head: starts


def _sqlite_tables(path: Path) -> set[str]:
    conn = sqlite3.connect(path)
    names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    conn.close()
    return names


def test_the_db_commands(tmp_path: Path) -> None:
    replay_sqlite_dump(tmp_path / "faceverdict.db")
    env = {"FACEVERDICT_DATA_DIR": str(tmp_path), "FACEVERDICT_MIGRATE_ON_START": "false"}
    runner = CliRunner()

    behind = runner.invoke(cli, ["db", "current"], env=env)
    assert behind.exit_code == 1
    assert behind.output.count("\n") == 1
    assert "database schema is at no version" in behind.output

    upgraded = runner.invoke(cli, ["db", "upgrade"], env=env)
    assert upgraded.exit_code == 0, upgraded.output
    assert upgraded.output == (
        f"database schema upgraded: previous release (stamped {PREVIOUS_RELEASE}) -> {HEAD}\n"
    )

    again = runner.invoke(cli, ["db", "upgrade"], env=env)
    assert again.output == f"database schema already at {HEAD}\n"

    current = runner.invoke(cli, ["db", "current"], env=env)
    assert (current.exit_code, current.output) == (0, f"{HEAD}\n")


def test_the_evidence_head_is_not_written_twice(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'faceverdict.db'}"
    for _ in range(2):
        database = Database(url)
        database.upgrade()
        database.dispose()
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(evidence_head.c.id)).scalars().all()
        assert rows == [HEAD_ID]
    finally:
        engine.dispose()

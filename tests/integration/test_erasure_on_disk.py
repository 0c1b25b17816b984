"""After erasure nothing left on disk or in the database can decrypt the capture: the wrapped
data key, the data key and the image bytes are in no file of the data folder (SQLite
database, its WAL and shared-memory files, blobs, keys), yet the evidence log still audits."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from click.testing import CliRunner

from faceverdict.adapters.encrypting_blob_store import MAGIC, key_context
from faceverdict.adapters.local_key_store import LocalKeyStore
from faceverdict.config import load_settings
from faceverdict.domain.policy import ClientSignals
from faceverdict.entrypoints.cli import cli
from faceverdict.services.checks import SubmitCheck
from faceverdict.wiring.bootstrap import bootstrap
from tests.support.images import jpeg_bytes


def everything_on_disk(data_dir: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in data_dir.rglob("*") if p.is_file()}


def holders(data_dir: Path, secret: bytes) -> list[str]:
    return [p.name for p, data in everything_on_disk(data_dir).items() if secret in data]


def test_erased_capture_cannot_be_recovered_from_anything_left(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    settings = load_settings(data_dir=data_dir)
    app = bootstrap(settings)
    image = jpeg_bytes(480, 360, seed=77)
    check = app.checks.submit(SubmitCheck(image, "erase-me", "onboarding", ClientSignals())).check
    other = app.checks.submit(
        SubmitCheck(jpeg_bytes(480, 360, seed=78), "keep-me", "onboarding", ClientSignals())
    ).check

    with sqlite3.connect(data_dir / "faceverdict.db") as conn:
        key_id, wrapped = conn.execute(
            "SELECT key_id, wrapped_key FROM subject_keys WHERE subject_pseudonym = ?",
            (check.subject_pseudonym,),
        ).fetchone()
    data_key = LocalKeyStore.from_file(settings.resolved_kek_file, create=False).unwrap(
        wrapped, key_context(key_id)
    )
    chunk = image[len(image) // 2 : len(image) // 2 + 48]
    # The checks below are meaningful: before erasure the wrapped key IS on disk.
    app.records.stores.uow.purge_deleted()
    assert holders(data_dir, bytes(wrapped)) == ["faceverdict.db"]
    assert holders(data_dir, chunk) == []  # the capture is only ever stored encrypted
    assert holders(data_dir, data_key) == []

    result = CliRunner().invoke(
        cli, ["subjects", "erase", "erase-me"], env={"FACEVERDICT_DATA_DIR": str(data_dir)}
    )
    assert result.exit_code == 0, result.output
    assert "1 captures deleted, 1 keys destroyed" in result.output

    for secret in (bytes(wrapped), data_key, chunk, image[:256]):
        assert holders(data_dir, secret) == []
    sealed = [p for p, data in everything_on_disk(data_dir).items() if data.startswith(MAGIC)]
    assert [p.name for p in sealed] == [other.check_id]  # only the other subject's capture
    wal = data_dir / "faceverdict.db-wal"
    assert not wal.exists() or wal.stat().st_size == 0

    report = app.records.evidence.audit()
    assert report.ok, report.problems
    package = app.records.packages.package(check.check_id)
    assert package["check"]["decision"]["decision_id"] == check.decisions[0].decision_id
    assert package["retention"]["capture"]["status"] == "erased"
    assert app.records.captures.read(other.check_id, caller="t", reason="still there").data

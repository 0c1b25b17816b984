"""The evidence, keys and subjects commands; configuration changes recorded at start; the
background upkeep of `serve`; production refuses key files it would have to invent."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from faceverdict.config import load_settings
from faceverdict.detectors.ensemble import Ensemble
from faceverdict.detectors.fusion import Fusion, FusionParameters
from faceverdict.domain.policy import ClientSignals
from faceverdict.entrypoints.background import Maintenance
from faceverdict.entrypoints.cli import cli
from faceverdict.errors import ConfigurationError
from faceverdict.evidence.checkpoint import parse_vkey
from faceverdict.evidence.entries import parse_entry_bytes
from faceverdict.services.checks import SubmitCheck
from faceverdict.wiring.bootstrap import Application, bootstrap
from faceverdict.wiring.records import build_records
from tests.support.images import jpeg_bytes
from tests.support.review_app import policy_with


def run(data_dir: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, list(args), env={"FACEVERDICT_DATA_DIR": str(data_dir)})


@pytest.fixture
def app(tmp_path: Path) -> Application:
    # no random 2% audit sample: the entry counts below are exact
    policy = policy_with(tmp_path, audit_fraction=0.0)
    application = bootstrap(load_settings(data_dir=tmp_path / "data", policy_file=policy))
    application.checks.submit(
        SubmitCheck(jpeg_bytes(200, 150, seed=4), "cli-user", "onboarding", ClientSignals())
    )
    return application


def test_public_key_export_and_offline_verify(app: Application, tmp_path: Path) -> None:
    data_dir = app.settings.data_dir
    vkey = run(data_dir, "evidence", "public-key").output.strip()
    assert parse_vkey(vkey).name == "faceverdict.local/dev"
    (check_id,) = {e.check_id for e in app.records.evidence.reader.scan() if e.check_id is not None}
    out = tmp_path / "package.json"
    assert run(data_dir, "evidence", "export", check_id, "--out", str(out)).exit_code == 0
    (tmp_path / "log.vkey").write_text(vkey + "\n")
    # Offline: a fresh process, no settings, no data folder.
    env = {k: v for k, v in os.environ.items() if not k.startswith("FACEVERDICT_")}
    env["FACEVERDICT_DATA_DIR"] = str(tmp_path / "nowhere")
    verified = subprocess.run(
        [
            *(sys.executable, "-m", "faceverdict.entrypoints.cli", "evidence", "verify"),
            *(str(out), "--public-key", str(tmp_path / "log.vkey")),
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert verified.returncode == 0, verified.stderr
    assert verified.stdout.startswith("ok: 5 entries verified")
    assert not (tmp_path / "nowhere").exists()

    package = json.loads(out.read_text())
    package["entries"][0]["inclusion_proof"][0] = package["entries"][0]["inclusion_proof"][1]
    out.write_text(json.dumps(package))
    failed = run(data_dir, "evidence", "verify", str(out), "--public-key", vkey)
    assert failed.exit_code == 1
    assert failed.output.count("\n") == 1
    assert "inclusion proof" in failed.output


def test_audit_passes_then_fails_after_tampering(app: Application) -> None:
    data_dir = app.settings.data_dir
    assert run(data_dir, "evidence", "checkpoint").output.startswith("faceverdict.local/dev\n")
    ok = run(data_dir, "evidence", "audit")
    assert ok.exit_code == 0, ok.output
    assert ok.output.startswith("ok: 7 entries (0 expired), 1 checkpoints verified")
    app.records.stores.uow.purge_deleted()
    with sqlite3.connect(data_dir / "faceverdict.db") as conn:
        conn.execute("UPDATE evidence_entries SET body = body || ' ' WHERE seq = 3")
    failed = run(data_dir, "evidence", "audit")
    assert failed.exit_code == 1
    assert "FAIL entry 3" in failed.output
    assert "audit failed" in failed.output


def test_subjects_erase_and_unknown_commands_fail_in_one_line(app: Application) -> None:
    data_dir = app.settings.data_dir
    erased = run(data_dir, "subjects", "erase", "cli-user")
    assert erased.exit_code == 0, erased.output
    assert "1 captures deleted" in erased.output
    missing = run(data_dir, "evidence", "export", "chk_unknown")
    assert missing.exit_code != 0


def test_keygen_and_new_kek_refuse_to_overwrite(tmp_path: Path) -> None:
    key_file = tmp_path / "signing.key"
    made = run(tmp_path / "data", "evidence", "keygen", "--out", str(key_file), "--name", "x.y/z")
    assert made.exit_code == 0
    assert parse_vkey(made.output.strip()).name == "x.y/z"
    assert key_file.stat().st_mode & 0o077 == 0
    assert run(tmp_path, "evidence", "keygen", "--out", str(key_file)).exit_code != 0
    kek = tmp_path / "kek.b64"
    assert run(tmp_path, "keys", "new-kek", "--out", str(kek)).exit_code == 0
    assert run(tmp_path, "keys", "new-kek", "--out", str(kek)).exit_code != 0


def test_policy_and_model_changes_are_recorded_at_start_only_when_they_change(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"

    def configuration_entries() -> list[tuple[str, object]]:
        records = build_records(load_settings(data_dir=data_dir))
        return [
            (e.kind, parse_entry_bytes(e.body).payload)
            for e in records.evidence.reader.scan()
            if e.check_id is None and e.body is not None
        ]

    bootstrap(load_settings(data_dir=data_dir))
    first = configuration_entries()
    assert [kind for kind, _ in first] == ["policy.activated", "models.activated"]
    models = first[1][1]
    assert isinstance(models, dict)
    assert {d["name"] for d in models["detectors"]} >= {"capture_gate", "provenance"}
    bootstrap(load_settings(data_dir=data_dir))
    assert configuration_entries() == first  # nothing changed, nothing recorded

    policy = tmp_path / "policy.toml"
    policy.write_text(
        Path("src/faceverdict/policy/default.toml")
        .read_text()
        .replace('version = "default-', 'version = "bank-')
    )
    bare = Ensemble(detectors=[], fusion=Fusion(FusionParameters.load()))
    bootstrap(load_settings(data_dir=data_dir, policy_file=policy), ensemble=bare)
    kinds = [kind for kind, _ in configuration_entries()]
    assert kinds == ["policy.activated", "models.activated"] * 2


def test_production_refuses_missing_key_files(tmp_path: Path) -> None:
    settings = load_settings(
        mode="production",
        pseudonym_key="p" * 40,
        api_keys=["a" * 32],
        deployment_id="bank-1",
        data_dir=tmp_path / "data",
        evidence_signing_key_file=tmp_path / "signing.key",
        kek_file=tmp_path / "kek.b64",
    )
    with pytest.raises(ConfigurationError, match=r"key-encryption key file .* does not exist"):
        build_records(settings)
    assert run(tmp_path, "keys", "new-kek", "--out", str(tmp_path / "kek.b64")).exit_code == 0
    with pytest.raises(ConfigurationError, match=r"signing key file .* does not exist"):
        build_records(settings)
    run(tmp_path, "evidence", "keygen", "--out", str(tmp_path / "signing.key"))
    records = build_records(settings)
    assert records.evidence.signer.origin == "faceverdict.local/bank-1"
    assert not (tmp_path / "data" / "keys").exists()  # nothing generated in production


def test_serve_upkeep_signs_checkpoints_and_sweeps(tmp_path: Path) -> None:
    records = build_records(
        load_settings(
            data_dir=tmp_path / "data", checkpoint_every_seconds=1, checkpoint_every_entries=3
        )
    )
    upkeep = Maintenance(records, poll_seconds=0.05)
    upkeep.start()
    try:
        records.evidence.append_many([])
        for i in range(3):
            records.evidence.append("test.event", {"i": i})
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            latest = records.evidence.reader.latest_checkpoint()
            if latest is not None and latest.size == 3:
                break
            time.sleep(0.05)
        else:
            pytest.fail("no checkpoint was signed for 3 entries")
        records.evidence.append("test.event", {"i": 3})
    finally:
        upkeep.stop()
    latest = records.evidence.reader.latest_checkpoint()
    assert latest is not None
    assert latest.size == 4  # the last one, signed on stop

"""Re-scans through the CLI, on the embedded SQLite default. The re-scan logic (cursor,
resume, changed counts, webhooks, the sweep, schedules) runs on memory stores in
``tests/unit/services/test_rescan.py``."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from faceverdict.config import Settings, load_settings
from faceverdict.detectors.ensemble import Ensemble
from faceverdict.domain.check import CheckState
from faceverdict.entrypoints.cli import cli
from faceverdict.wiring.bootstrap import Application, bootstrap
from faceverdict.wiring.ensembles import build_ensemble
from tests.support.assurance import FixedOpinion
from tests.support.review_app import face, submit


def settings_for(tmp_path: Path) -> Settings:
    return load_settings(data_dir=tmp_path / "data")


def application_with(settings: Settings, fake_probability: float, version: str) -> Application:
    inline = build_ensemble(settings)
    inline.detectors.append(FixedOpinion(0.2, name="fixed"))  # scores ~99: accept, final
    heavy = Ensemble(
        detectors=[*inline.detectors[:-1], FixedOpinion(fake_probability, version=version)],
        fusion=inline.fusion,
        gate=inline.gate,
        limits=inline.limits,
    )
    return bootstrap(settings, ensemble=inline, assurance_ensemble=heavy)


@pytest.fixture
def stored(tmp_path: Path) -> list[str]:
    """Five accepted checks of five subjects; the last subject is erased."""
    application = application_with(settings_for(tmp_path), 0.2, "1")
    try:
        ids = []
        for n in range(5):
            check = submit(application, face(10 + n), "onboarding", subject=f"customer-{n}")
            assert check.state is CheckState.FINAL
            ids.append(check.check_id)
        application.records.erasure.erase("customer-4", requested_by="test")
        return ids[:4]
    finally:
        application.close()


def test_the_cli_refuses_an_inactive_model_and_queues_a_run(
    tmp_path: Path, stored: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FACEVERDICT_DATA_DIR", str(tmp_path / "data"))
    # Only the inline detectors: none that other tests registered in this process.
    monkeypatch.setenv("FACEVERDICT_ASSURANCE_DETECTORS", "[]")
    refused = CliRunner().invoke(cli, ["rescan", "--model", "no-such-model"])
    assert refused.exit_code == 1
    assert "not active" in refused.output
    version = build_ensemble(settings_for(tmp_path)).model_versions["provenance"]
    queued = CliRunner().invoke(
        cli, ["rescan", "--model", version, "--since", "2000-01-01", "--no-wait"]
    )
    assert queued.exit_code == 0, queued.output
    assert "4 captures queued" in queued.output

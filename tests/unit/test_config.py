"""Settings: environment and settings file, validated; unsafe defaults refused in production."""

from __future__ import annotations

from pathlib import Path

import pytest

from faceverdict.config import load_settings
from faceverdict.errors import ConfigurationError

STRONG_KEY = "k" * 40


def test_development_defaults_are_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FACEVERDICT_SETTINGS_FILE", raising=False)
    settings = load_settings()
    assert settings.data_dir == Path("data")
    assert settings.resolved_database_url.startswith("sqlite:///")


def test_environment_variables_override(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FACEVERDICT_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("FACEVERDICT_PORT", "9000")
    settings = load_settings()
    assert settings.data_dir == tmp_path
    assert settings.port == 9000


def test_settings_file_is_read_and_env_wins(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = tmp_path / "faceverdict.toml"
    path.write_text('port = 7000\nhost = "0.0.0.0"\n')
    monkeypatch.setenv("FACEVERDICT_SETTINGS_FILE", str(path))
    monkeypatch.setenv("FACEVERDICT_PORT", "7100")
    settings = load_settings()
    assert (settings.host, settings.port) == ("0.0.0.0", 7100)


def test_missing_settings_file_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FACEVERDICT_SETTINGS_FILE", str(tmp_path / "nope.toml"))
    with pytest.raises(ConfigurationError, match="does not exist"):
        load_settings()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({}, "PSEUDONYM_KEY is the development default"),
        ({"pseudonym_key": "short"}, "at least 32"),
        ({"pseudonym_key": STRONG_KEY}, "API_KEYS is empty"),
        ({"pseudonym_key": STRONG_KEY, "api_keys": ["tiny"]}, "at least 24"),
    ],
)
def test_production_refuses_unsafe_settings(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        load_settings(mode="production", **overrides)


def safe_production(tmp_path: Path) -> dict[str, object]:
    return {
        "mode": "production",
        "pseudonym_key": STRONG_KEY,
        "api_keys": ["a" * 32],
        "deployment_id": "bank-eu-1",
        "evidence_signing_key_file": tmp_path / "signing.key",
        "kek_file": tmp_path / "kek.b64",
    }


def test_production_accepts_safe_settings(tmp_path: Path) -> None:
    settings = load_settings(**safe_production(tmp_path))
    assert settings.mode.value == "production"
    assert settings.evidence_origin == "faceverdict.local/bank-eu-1"


@pytest.mark.parametrize(
    ("missing", "message"),
    [
        ("deployment_id", "DEPLOYMENT_ID is the development default"),
        ("evidence_signing_key_file", "EVIDENCE_SIGNING_KEY_FILE is not set"),
        ("kek_file", "KEK_FILE is not set"),
    ],
)
def test_production_refuses_generated_keys_and_the_dev_log_name(
    tmp_path: Path, missing: str, message: str
) -> None:
    overrides = safe_production(tmp_path)
    del overrides[missing]
    with pytest.raises(ConfigurationError, match=message):
        load_settings(**overrides)


def test_aws_kms_keystore_needs_a_key_id() -> None:
    with pytest.raises(ConfigurationError, match="AWS_KMS_KEY_ID"):
        load_settings(keystore="aws-kms")


def test_invalid_values_name_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FACEVERDICT_PORT", "not-a-port")
    with pytest.raises(ConfigurationError, match="port"):
        load_settings()

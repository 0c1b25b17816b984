"""The checkpoint signing key, kept as a C2SP signer-key line in a file readable by its owner."""

from __future__ import annotations

from pathlib import Path

from faceverdict.adapters.local_key_store import write_secret_file
from faceverdict.errors import ConfigurationError
from faceverdict.evidence.checkpoint import SignerKey, generate_signing_key, parse_signer_key
from faceverdict.evidence.errors import EvidenceError


def load_signing_key(path: Path, *, name: str, create: bool) -> SignerKey:
    """Load ``PRIVATE+KEY+...`` from ``path``; with ``create`` (development) make it if absent.

    A created key is named ``name`` (the log origin, as C2SP recommends).
    """
    if not path.exists():
        if not create:
            raise ConfigurationError(f"evidence signing key file {path} does not exist")
        skey, _vkey = generate_signing_key(name)
        write_secret_file(path, skey + "\n")
    try:
        text = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"evidence signing key file {path} is unreadable: {exc}") from None
    try:
        return parse_signer_key(text)
    except EvidenceError as exc:
        raise ConfigurationError(f"evidence signing key file {path}: {exc.detail}") from None

"""Which captures the stand-in assurance detector changes (no detector registered here)."""

from __future__ import annotations

import hashlib
from importlib import resources
from pathlib import Path


def assurance_changes(data: bytes) -> bool:
    """Whether ``fixed_assurance`` turns this capture's step_up into an accept."""
    return hashlib.sha256(data).digest()[0] % 2 == 0


def relaxing_policy() -> str:
    """The bundled policy's text with ``may_relax = true``, so that assurance may relax."""
    text = resources.files("faceverdict.policy").joinpath("default.toml").read_text()
    assert "\nmay_relax = false\n" in text
    return text.replace("\nmay_relax = false\n", "\nmay_relax = true\n")


def relaxing_policy_file(folder: Path) -> Path:
    """``relaxing_policy()`` written to ``folder/relaxing-policy.toml``."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "relaxing-policy.toml"
    path.write_text(relaxing_policy(), encoding="utf-8")
    return path

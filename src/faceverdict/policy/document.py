"""Reading the policy file: what the policy, review and assurance loaders share.

The file is read and decoded once per loader; each loader validates its own sections and
reports the first problem as one ``ConfigurationError`` line naming the file and the key.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from faceverdict.errors import ConfigurationError

BUNDLED = "default.toml"


def read_policy_text(path: Path | None) -> tuple[str, str]:
    """The policy text and a name for messages; the bundled default when ``path`` is None."""
    if path is None:
        text = resources.files("faceverdict.policy").joinpath(BUNDLED).read_text()
        return text, f"{BUNDLED} (bundled)"
    try:
        return path.read_text(encoding="utf-8"), str(path)
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"policy {path}: cannot read: {exc}") from None


def sub_table(parent: Any, key: str) -> dict[str, Any]:
    """``parent[key]`` as a table: empty when absent; ValueError when it is not a table."""
    if not isinstance(parent, dict):
        return {}
    value = parent.get(key) or {}
    if not isinstance(value, dict):
        raise ValueError(f"'{key}' must be a table")
    return value


def section_error(source: str, where: str, exc: ValidationError | ValueError) -> ConfigurationError:
    """One line for the first problem of section ``where`` (``flows.x.review`` and the like)."""
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        return ConfigurationError(f"policy {source}: {where}.{field}: {first['msg']}")
    return ConfigurationError(f"policy {source}: {where}: {exc}")

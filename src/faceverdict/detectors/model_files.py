"""Model files shipped in the package, verified by sha256 before they are loaded.

``models/manifest.json`` names each file with its sha256, licence and source. A file whose
digest differs from the manifest is refused: a model is never loaded on trust.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from faceverdict.errors import ConfigurationError

MODELS_DIR = Path(__file__).resolve().parent.parent / "models"


class ModelIntegrityError(ConfigurationError):
    """A model file is missing or its sha256 differs from the manifest."""

    slug = "model-integrity"


@dataclass(frozen=True)
class ModelFile:
    """One entry of the model manifest."""

    name: str
    path: Path
    sha256: str
    licence: str
    source: str


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def _manifest(models_dir: Path) -> dict[str, Any]:
    path = models_dir / "manifest.json"
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ModelIntegrityError(f"cannot read model manifest {path}: {exc}") from exc
    return data


def model_file(name: str, models_dir: Path = MODELS_DIR) -> ModelFile:
    """The manifest entry for ``name``, after checking the file's sha256."""
    entry = _manifest(models_dir).get(name)
    if entry is None:
        raise ModelIntegrityError(f"model {name!r} is not in {models_dir / 'manifest.json'}")
    path = models_dir / entry["file"]
    if not path.is_file():
        raise ModelIntegrityError(f"model file {path} is missing")
    actual = sha256_file(path)
    if actual != entry["sha256"]:
        raise ModelIntegrityError(
            f"model {name!r}: sha256 {actual} does not match the manifest's {entry['sha256']}"
        )
    return ModelFile(
        name=name,
        path=path,
        sha256=actual,
        licence=str(entry.get("licence", "")),
        source=str(entry.get("source", "")),
    )


@cache
def onnx_session(name: str, models_dir: Path = MODELS_DIR, threads: int = 1) -> Any:
    """An ONNX Runtime session for a verified model file (cached per process)."""
    import onnxruntime as ort

    model = model_file(name, models_dir)
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(model.path), options, providers=["CPUExecutionProvider"])

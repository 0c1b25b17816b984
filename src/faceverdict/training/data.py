"""Training data: manifest rows, licence filters and the face-crop cache."""

from __future__ import annotations

import csv
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from faceverdict.evaluation.split import group_fraction, group_key

DEFAULT_CACHE = Path(os.environ.get("FACEVERDICT_CACHE", Path.home() / ".cache" / "faceverdict"))
# The train-internal hold-out that recipes choose checkpoints on: 10 % of the training groups,
# by another hash seed than the validation split's, so validation never picks a checkpoint.
TUNE_SEED = 1
TUNE_FRACTION = 0.1


def in_tune(split_row: Mapping[str, str]) -> bool:
    """Whether a training-side row (``relpath``, ``group``) is in the train-internal hold-out."""
    return group_fraction(group_key(split_row), TUNE_SEED) < TUNE_FRACTION


@dataclass(frozen=True)
class Row:
    """One manifest row (columns as in the shared faces-dev manifest)."""

    relpath: str
    label: str
    family: str
    source: str
    license: str
    width: int
    height: int
    group: str

    @property
    def is_fake(self) -> bool:
        """Whether the image is an attack."""
        return self.label == "fake"


def read_manifest(path: Path) -> list[Row]:
    """All rows of a manifest CSV."""
    with path.open(newline="", encoding="utf-8") as fh:
        return [
            Row(
                relpath=r["relpath"],
                label=r["label"],
                family=r["family"],
                source=r["source"],
                license=r.get("license", ""),
                width=int(r.get("width") or 0),
                height=int(r.get("height") or 0),
                group=r.get("group", "") or "",
            )
            for r in csv.DictReader(fh)
        ]


def licence_filter(rows: list[Row], allowed: list[str] | None) -> list[Row]:
    """Keep rows whose licence text contains one of ``allowed`` (case-insensitive); None keeps all.

    Lets a user retrain on, say, only CC BY data for commercial use: ``--licence "CC BY"``.
    """
    if not allowed:
        return rows
    needles = [a.lower() for a in allowed]
    return [r for r in rows if any(n in r.license.lower() for n in needles)]

"""The deterministic train/validation split by group, shared by training and evaluation.

Training scripts and ``faceverdict eval`` must call the same function with the same seed and
fraction, so that no image (and no person or source group) the models learned from is used
to judge them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from typing import Generic, NamedTuple, TypeVar

DEFAULT_SEED = 0
DEFAULT_VALIDATION_FRACTION = 0.2

Row = TypeVar("Row", bound=Mapping[str, str])


class Split(NamedTuple, Generic[Row]):
    """The two parts of a split, each in the input order."""

    train: list[Row]
    validation: list[Row]


def group_key(row: Mapping[str, str]) -> str:
    """The unit of the split: the row's ``group``, or its ``relpath`` when the group is empty."""
    group = (row.get("group") or "").strip()
    return f"group:{group}" if group else f"relpath:{row['relpath']}"


def group_fraction(key: str, seed: int = DEFAULT_SEED) -> float:
    """A uniform number in [0, 1) fixed by ``key`` and ``seed`` (sha256; stable everywhere)."""
    digest = hashlib.sha256(f"{seed}\x00{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def is_validation(
    row: Mapping[str, str],
    validation_fraction: float = DEFAULT_VALIDATION_FRACTION,
    seed: int = DEFAULT_SEED,
) -> bool:
    """Whether ``row`` falls in the validation part (the same answer for its whole group)."""
    return group_fraction(group_key(row), seed) < validation_fraction


def group_split(
    rows: Iterable[Row],
    validation_fraction: float = DEFAULT_VALIDATION_FRACTION,
    seed: int = DEFAULT_SEED,
) -> Split[Row]:
    """Split manifest rows into (train, validation) by hashing each row's group.

    A row's group is its ``group`` column, or its ``relpath`` when that is empty (an image
    is then its own group). Every group lands wholly in one part, decided by the sha256 of
    the seed and the group alone, so the split does not depend on row order, on the other
    rows, or on the Python process. About ``validation_fraction`` of the *groups* go to
    validation; the share of images can differ when groups differ in size.
    """
    if not 0.0 <= validation_fraction <= 1.0:
        raise ValueError("validation_fraction must be within [0, 1]")
    train: list[Row] = []
    validation: list[Row] = []
    for row in rows:
        (validation if is_validation(row, validation_fraction, seed) else train).append(row)
    return Split(train=train, validation=validation)


DEFAULT_CALIBRATION_FRACTION = 0.1


def is_calibration(
    row: Mapping[str, str],
    calibration_fraction: float = DEFAULT_CALIBRATION_FRACTION,
    seed: int = DEFAULT_SEED,
) -> bool:
    """Whether ``row``'s group is held back for score calibration.

    The calibration groups are the lower part of the validation groups (the same hash, a
    smaller cut), so they are never trained on. Calibration reads only their *real* photos;
    ``faceverdict eval`` leaves those real photos out, so the thresholds it reports are
    measured on genuine captures the calibration never saw.
    """
    return group_fraction(group_key(row), seed) < calibration_fraction

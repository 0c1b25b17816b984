"""Helpers shared by the generated model cards (no training stack needed)."""

from __future__ import annotations

from pathlib import Path


def hand_written(path: Path) -> list[str]:
    """The card's hand-written sections (from the first "(hand-written)" heading on), if any."""
    if not path.is_file():
        return []
    old = path.read_text().splitlines()
    for index, line in enumerate(old):
        if line.startswith("## ") and line.rstrip().endswith("(hand-written)"):
            return ["", *old[index:]]
    return []

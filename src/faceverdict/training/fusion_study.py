"""Chooses how the fusion combines the learned detectors, without touching validation data.

Compares soft-maximum temperatures (and a plain sum) by the AUC of the combined evidence,
with the calibration groups' real photos against **training-part** fakes: Generated Photos
faces (never trained on by any model: the closest thing to an unseen generator that is not
in the validation split), StyleGAN and SD 2.1 faces (the synthetic detector trained on
them) and photoshopped faces (the blending detector trained on them). The validation split
stays untouched, so ``faceverdict eval`` still measures the choice honestly.

Usage: python -m faceverdict.training.fusion_study --manifest M.csv --root DIR [--per-family N]
"""

from __future__ import annotations

import argparse
import hashlib
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from faceverdict.domain.detection import DetectorKind
from faceverdict.evaluation.metrics import roc_auc as auc
from faceverdict.evaluation.runner import ManifestRow, read_manifest
from faceverdict.evaluation.split import is_validation
from faceverdict.training.calibrate import (
    calibration_rows,
    combined,
    learned_detectors,
    observe,
    standardise,
)

TEMPERATURES = (0.1, 0.25, 0.5, 1.0)


def training_fakes(rows: Sequence[ManifestRow], per_family: int) -> list[ManifestRow]:
    """Up to ``per_family`` fakes per family from the training part, picked by hash."""
    by_family: dict[str, list[ManifestRow]] = defaultdict(list)
    for row in rows:
        if row.is_fake and not is_validation(row.split_key()):
            by_family[row.family].append(row)
    picked: list[ManifestRow] = []
    for family_rows in by_family.values():
        ordered = sorted(family_rows, key=lambda r: hashlib.sha256(r.relpath.encode()).digest())
        picked.extend(ordered[:per_family])
    return sorted(picked, key=lambda r: r.relpath)


def main(argv: Sequence[str] | None = None) -> int:
    """Print AUC per family and pooled for each combination rule."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--manifest", type=Path, required=True)
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--per-family", type=int, default=80)
    args = parser.parse_args(argv)
    rows = read_manifest(args.manifest)
    inline_learned = learned_detectors(DetectorKind.INLINE)
    reals = observe(calibration_rows(rows), args.root, learned=inline_learned, quiet=True)
    fakes = observe(
        training_fakes(rows, args.per_family), args.root, learned=inline_learned, quiet=True
    )
    families = sorted({r.family for r in fakes.rows})
    print("| rule | pooled | " + " | ".join(families) + " |")
    print("|---|---|" + "---|" * len(families))
    scales = {n: standardise(reals.logits[n]) for n in inline_learned}
    for rule in (*TEMPERATURES, None):
        fake_e = combined(fakes.logits, inline_learned, scales, fakes.evidence, rule)
        real_e = combined(reals.logits, inline_learned, scales, reals.evidence, rule)
        cells = []
        for family in (None, *families):
            chosen = [
                e for e, r in zip(fake_e, fakes.rows, strict=True) if family in (None, r.family)
            ]
            labels = [1] * len(chosen) + [0] * len(real_e)
            cells.append(f"{auc(labels, chosen + real_e):.3f}")
        name = "sum" if rule is None else f"soft max T={rule}"
        print(f"| {name} | " + " | ".join(cells) + " |")
    for name in inline_learned:
        scale = scales[name]
        cells = []
        for family in (None, *families):
            chosen = [
                scale.scaled(v)
                for v, r in zip(fakes.logits[name], fakes.rows, strict=True)
                if family in (None, r.family)
            ]
            real = [scale.scaled(v) for v in reals.logits[name]]
            cells.append(f"{auc([1] * len(chosen) + [0] * len(real), chosen + real):.3f}")
        print(f"| {name} alone | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The keep-rule inputs of a synthetic-detector ONNX file, measured on training-side data only.

Usage::

    python -m faceverdict.training.synthetic_keep [--onnx src/faceverdict/models/synthetic_v1.onnx]

Prints one JSON object: the class-balanced tune loss (the tune images clean and once
augmented, as training selects its checkpoint), the same loss on the tune images at half
size (as the evaluation's ``resize50`` leaves them) and the unseen-generator probe (AUC of
the never-trained families' non-validation images against the tune reals). A candidate run
and the committed weights are compared with the same code on the same images; validation
images are never read.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from faceverdict.detectors.base import Face
from faceverdict.detectors.model_files import MODELS_DIR
from faceverdict.detectors.synthetic import (
    assurance_patches,
    face_patch,
    half_scale_patch,
    to_input,
)
from faceverdict.training.data import DEFAULT_CACHE
from faceverdict.training.synthetic import DEFAULT_ROOT, TUNE_AUGMENT_SEED
from faceverdict.training.synthetic_data import Item, load_window, read_index, training_side
from faceverdict.training.synthetic_samples import (
    FloatArray,
    Scorer,
    auc_against,
    balanced_loss,
    half_size_tune_set,
    patch_logits,
    tune_set,
    unseen_generator_probe,
)


def onnx_scorer(onnx: Path, batch: int = 64) -> Scorer:
    """Fake logits of an ONNX file, in batches, as a ``Scorer``."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(onnx), providers=["CPUExecutionProvider"])

    def scores(x: Tensor) -> Tensor:
        chunks = [
            session.run(None, {"pixels": x[k : k + batch].numpy()})[0]
            for k in range(0, len(x), batch)
        ]
        return torch.from_numpy(np.concatenate(chunks))

    return scores


def keep_inputs(
    onnx: Path, cache: Path, root: Path, two_scale: bool = False, assurance: bool = False
) -> dict[str, float]:
    """Tune loss, half-size tune loss and probe AUC per never-trained family of ``onnx``
    (with ``two_scale``, also the two-scale measurement of ``_two_scale``; with
    ``assurance``, the assurance variant's patch scheme of ``_assurance_scales``)."""
    side = training_side(read_index(cache))
    for item in side.tune + side.probes:
        load_window(item, root)
    scores = onnx_scorer(onnx)
    result = {
        "tune_loss": balanced_loss(scores, *tune_set(side.tune, TUNE_AUGMENT_SEED)),
        "half_size_tune_loss": balanced_loss(scores, *half_size_tune_set(side.tune)),
    }
    probe = unseen_generator_probe(scores, side.probes, side.tune)
    result.update({f"probe_{family}": auc for family, auc in probe.items()})
    if two_scale:
        result.update(_two_scale(scores, side.tune, side.probes))
    if assurance:
        result.update(_assurance_scales(scores, side.tune, side.probes))
    return result


def _two_scale(scores: Scorer, tune: Sequence[Item], probes: Sequence[Item]) -> dict[str, float]:
    """A measurement, not the detector: each face scored at its own size and at half size,
    logits averaged. Trained families (tune fakes) and each never-trained family against the
    tune reals, and the share of that family above the tune reals' 95th percentile."""

    def both(items: Sequence[Item]) -> FloatArray:
        mean = (patch_logits(scores, items) + patch_logits(scores, items, half=True)) / 2
        return mean.astype(np.float32)

    real_items = [i for i in tune if not i.fake]
    fake_items = [i for i in tune if i.fake]
    reals = both(real_items)
    result = {
        "trained_auc": auc_against(
            patch_logits(scores, fake_items), patch_logits(scores, real_items)
        ),
        "two_scale_trained_auc": auc_against(both(fake_items), reals),
    }
    threshold = float(np.quantile(reals, 0.95))
    for family in sorted({i.family for i in probes}):
        fakes = both([i for i in probes if i.family == family])
        result[f"two_scale_probe_{family}"] = auc_against(fakes, reals)
        result[f"two_scale_probe_{family}_at_5pct_fpr"] = float(np.mean(fakes > threshold))
    return result


def _assurance_scales(
    scores: Scorer, tune: Sequence[Item], probes: Sequence[Item]
) -> dict[str, float]:
    """A measurement of the assurance variant's patch scheme (``ASSURANCE_OFFSETS``, each
    patch and its mirror image) on the crop windows: the mean logit at native size, the mean
    at half size, and the average of the two, each as trained-family AUC (tune fakes against
    tune reals) and as AUC of each never-trained family against the tune reals."""

    def per_scale(items: Sequence[Item]) -> tuple[FloatArray, FloatArray]:
        means = []
        for cut in (face_patch, half_scale_patch):
            patches = []
            for item in items:
                assert item.window is not None
                patches += assurance_patches(item.window, Face(box=item.box, score=1.0), cut)
            logits = scores(torch.from_numpy(to_input(patches))).numpy().ravel()
            means.append(logits.reshape(len(items), -1).mean(axis=1).astype(np.float32))
        return means[0], means[1]

    reals = per_scale([i for i in tune if not i.fake])
    groups = {"trained": [i for i in tune if i.fake]}
    for family in sorted({i.family for i in probes}):
        groups[family] = [i for i in probes if i.family == family]
    result: dict[str, float] = {}
    for name, items in groups.items():
        fakes = per_scale(items)
        result[f"assurance_native_{name}"] = auc_against(fakes[0], reals[0])
        result[f"assurance_half_{name}"] = auc_against(fakes[1], reals[1])
        result[f"assurance_two_scale_{name}"] = auc_against(
            ((fakes[0] + fakes[1]) / 2).astype(np.float32),
            ((reals[0] + reals[1]) / 2).astype(np.float32),
        )
    return result


def main(argv: Sequence[str] | None = None) -> None:
    """Command-line entry: print the keep-rule inputs of one ONNX file as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--onnx", type=Path, default=MODELS_DIR / "synthetic_v1.onnx")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT)
    parser.add_argument(
        "--two-scale",
        action="store_true",
        help="also score each face at half size and average the logits (a measurement)",
    )
    parser.add_argument(
        "--assurance",
        action="store_true",
        help="also measure the assurance variant's patches at one and at two scales",
    )
    args = parser.parse_args(argv)
    if not args.onnx.is_file():
        raise SystemExit(f"no such model file: {args.onnx}")
    if not (args.root / "MANIFEST.csv").is_file():
        raise SystemExit(f"no faces-dev manifest under {args.root}")
    values = keep_inputs(args.onnx, args.cache, args.root, args.two_scale, args.assurance)
    print(json.dumps({"onnx": str(args.onnx), **{k: round(v, 4) for k, v in values.items()}}))


if __name__ == "__main__":
    main()

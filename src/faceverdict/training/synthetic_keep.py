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
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F  # noqa: N812
from torch import Tensor

from faceverdict.detectors.model_files import MODELS_DIR
from faceverdict.detectors.synthetic import to_input
from faceverdict.evaluation.metrics import roc_auc
from faceverdict.evaluation.split import is_validation
from faceverdict.training.data import DEFAULT_CACHE
from faceverdict.training.synthetic import DEFAULT_ROOT, TUNE_AUGMENT_SEED
from faceverdict.training.synthetic_data import (
    EXCLUDED_FAMILY_PREFIXES,
    Item,
    is_tune,
    load_window,
    read_index,
    trainable,
)
from faceverdict.training.synthetic_samples import (
    clean_patch,
    half_size,
    half_size_tune_set,
    tune_set,
)


def _logits(session: Any, x: Tensor, batch: int = 64) -> Tensor:
    chunks = [
        session.run(None, {"pixels": x[k : k + batch].numpy()})[0] for k in range(0, len(x), batch)
    ]
    return torch.from_numpy(np.concatenate(chunks))


def keep_inputs(onnx: Path, cache: Path, root: Path, two_scale: bool = False) -> dict[str, float]:
    """Tune loss, half-size tune loss and probe AUC per never-trained family of ``onnx``
    (with ``two_scale``, also the two-scale measurement of ``_two_scale``)."""
    import onnxruntime as ort

    items = read_index(cache)
    candidates = [i for i in items if not is_validation(i.split_row)]
    usable = [i for i in candidates if trainable(i, None, False)]
    used = set(usable)  # items compare by identity
    tune = [i for i in usable if is_tune(i)]
    probes = [
        i
        for i in candidates
        if i.fake and i not in used and not i.family.startswith(EXCLUDED_FAMILY_PREFIXES)
    ]
    for item in tune + probes:
        load_window(item, root)
    session = ort.InferenceSession(str(onnx), providers=["CPUExecutionProvider"])

    def loss(x: Tensor, y: Tensor, w: Tensor) -> float:
        return float(F.binary_cross_entropy_with_logits(_logits(session, x), y, weight=w))

    result = {
        "tune_loss": loss(*tune_set(tune, TUNE_AUGMENT_SEED)),
        "half_size_tune_loss": loss(*half_size_tune_set(tune)),
    }
    reals = _clean_logits(session, [i for i in tune if not i.fake])
    for family in sorted({i.family for i in probes}):
        fakes = _clean_logits(session, [i for i in probes if i.family == family])
        result[f"probe_{family}"] = _auc(fakes, reals)
    if two_scale:
        result.update(_two_scale(session, tune, probes))
    return result


def _two_scale(session: Any, tune: Sequence[Item], probes: Sequence[Item]) -> dict[str, float]:
    """A measurement, not the detector: each face scored at its own size and at half size,
    logits averaged. Trained families (tune fakes) and each never-trained family against the
    tune reals, and the share of that family above the tune reals' 95th percentile."""
    real_items = [i for i in tune if not i.fake]
    reals = _two_scale_logits(session, real_items)
    result = {
        "two_scale_trained_auc": _auc(
            _two_scale_logits(session, [i for i in tune if i.fake]), reals
        )
    }
    result["trained_auc"] = _auc(
        _clean_logits(session, [i for i in tune if i.fake]), _clean_logits(session, real_items)
    )
    threshold = float(np.quantile(reals, 0.95))
    for family in sorted({i.family for i in probes}):
        fakes = _two_scale_logits(session, [i for i in probes if i.family == family])
        result[f"two_scale_probe_{family}"] = _auc(fakes, reals)
        result[f"two_scale_probe_{family}_at_5pct_fpr"] = float(np.mean(fakes > threshold))
    return result


def _auc(fakes: npt.NDArray[np.float32], reals: npt.NDArray[np.float32]) -> float:
    labels = np.array([1.0] * len(fakes) + [0.0] * len(reals))
    return roc_auc(labels, np.concatenate([fakes, reals]))


def _clean_logits(
    session: Any, items: Sequence[Item], half: bool = False
) -> npt.NDArray[np.float32]:
    patches = [clean_patch(half_size(i) if half else i) for i in items]
    out: npt.NDArray[np.float32] = _logits(session, torch.from_numpy(to_input(patches))).numpy()
    return out.ravel()


def _two_scale_logits(session: Any, items: Sequence[Item]) -> npt.NDArray[np.float32]:
    both = (_clean_logits(session, items) + _clean_logits(session, items, half=True)) / 2
    return both.astype(np.float32)


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
    args = parser.parse_args(argv)
    if not args.onnx.is_file():
        raise SystemExit(f"no such model file: {args.onnx}")
    if not (args.root / "MANIFEST.csv").is_file():
        raise SystemExit(f"no faces-dev manifest under {args.root}")
    values = keep_inputs(args.onnx, args.cache, args.root, args.two_scale)
    print(json.dumps({"onnx": str(args.onnx), **{k: round(v, 4) for k, v in values.items()}}))


if __name__ == "__main__":
    main()

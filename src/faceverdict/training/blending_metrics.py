"""Final metrics of the exported blending detector on the validation part of the split.

``final_metrics`` scores the ONNX file as the detector does (``OnnxScorer``): held-out
self-blends of the validation faces, clean and augmented, and every validation image cropped
from its original file, per fake family, per source of reals, at fixed BPCER operating points
and per demographic group; with bootstrap intervals and the one-thread latency. Nothing here
is used to train or to choose the checkpoint.
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from faceverdict.detectors.blending import to_tensor
from faceverdict.detectors.logistic import sigmoid
from faceverdict.evaluation.metrics import apcer, quantile, roc_auc, threshold_at_bpcer
from faceverdict.training.blending_data import (
    PHOTOSHOP,
    RGB,
    Item,
    blend_pair,
    detector_crop,
)

# ------------------------------------------------------------------------ metrics


class OnnxScorer:
    """Scores crops with the exported ONNX file, as the detector does."""

    def __init__(self, path: Path, threads: int) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def logits(self, crops: Sequence[RGB], batch: int = 32) -> list[float]:
        """Fake logits of RGB crops."""
        out: list[float] = []
        for start in range(0, len(crops), batch):
            tensor = to_tensor(list(crops[start : start + batch]))
            logit, _ = self.session.run(None, {"image": tensor})
            out += [float(v) for v in np.asarray(logit).reshape(-1)]
        return out

    def latency_ms(self, crop: RGB, repeats: int = 50) -> dict[str, float]:
        """Median and p90 of one-crop inference time in milliseconds."""
        tensor = to_tensor([crop])
        for _ in range(5):
            self.session.run(None, {"image": tensor})
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            self.session.run(None, {"image": tensor})
            times.append((time.perf_counter() - t0) * 1000)
        return {"p50": float(np.median(times)), "p90": float(np.quantile(times, 0.9))}


def probability(logit: float) -> float:
    """Sigmoid of a logit."""
    return sigmoid(logit)


def distribution(scores: Sequence[float]) -> dict[str, float]:
    """Count, mean and quantiles of probabilities, and the share above 0.5."""
    values = np.asarray(scores, dtype=np.float64)
    if len(values) == 0:
        return {"n": 0}
    return {
        "n": len(values),
        "mean": float(values.mean()),
        "p10": quantile(values, 0.1),
        "p50": quantile(values, 0.5),
        "p90": quantile(values, 0.9),
        "p99": quantile(values, 0.99),
        "above_0.5": float((values > 0.5).mean()),
    }


def read_demographics(dataset: Path) -> dict[str, dict[str, str]]:
    """relpath -> demographic labels (FairFace and UTKFace LABELS.csv), when present."""
    import csv

    out: dict[str, dict[str, str]] = {}
    for folder in ("fairface", "utkface"):
        path = dataset / folder / "LABELS.csv"
        if path.is_file():
            with path.open(newline="", encoding="utf-8") as fh:
                for row in csv.DictReader(fh):
                    out[row["relpath"]] = {"race": row.get("race", ""), "set": folder}
    return out


@dataclass(frozen=True)
class Scored:
    """One validation image's score."""

    row: dict[str, Any]
    logit: float
    p: float


def final_metrics(
    args: argparse.Namespace, onnx_path: Path, val_rows: list[dict[str, Any]], val_reals: list[Item]
) -> dict[str, Any]:
    """Per-family metrics of the exported model on the validation part (never used to train)."""
    scorer = OnnxScorer(onnx_path, args.threads)
    size = args.size
    metrics: dict[str, Any] = {}
    # Held-out self-blends: every validation real face, clean and with the shared augmentation.
    for mode in ("clean", "augmented"):
        crops: list[RGB] = []
        labels: list[int] = []
        variants: list[str] = []
        for index, item in enumerate(val_reals):
            rng = np.random.default_rng([args.seed, 99, index, mode == "augmented"])
            real, fake = blend_pair(item, size, rng, augment=mode == "augmented")
            crops += [real.image, fake.image]
            labels += [0, 1]
            variants += ["real", fake.variant.split(":")[0]]
        logits = scorer.logits(crops)
        metrics[f"sbi_{mode}_auc"] = roc_auc(labels, logits)
        probs = [probability(v) for v in logits]
        metrics[f"sbi_{mode}_fake"] = distribution(
            [p for p, y in zip(probs, labels, strict=True) if y]
        )
        metrics[f"sbi_{mode}_real"] = distribution(
            [p for p, y in zip(probs, labels, strict=True) if not y]
        )
        by_variant: dict[str, float] = {}
        sbi_reals = [v for v, y in zip(logits, labels, strict=True) if not y]
        for variant in sorted(set(variants) - {"real"}):
            fakes = [v for v, name in zip(logits, variants, strict=True) if name == variant]
            by_variant[variant] = roc_auc(
                [0] * len(sbi_reals) + [1] * len(fakes), sbi_reals + fakes
            )
        metrics[f"sbi_{mode}_auc_by_mask"] = by_variant
    # Every validation image as the detector crops it: decoded from the file as the service
    # does, cut at the face box the capture gate chose (stored in the cache index).
    crops = [detector_crop(args, row) for row in val_rows]
    scored = [
        Scored(row, logit, probability(logit))
        for row, logit in zip(val_rows, scorer.logits(crops), strict=True)
    ]
    reals = [s for s in scored if s.row["label"] == "real"]
    fakes_by_family: dict[str, list[Scored]] = defaultdict(list)
    for s in scored:
        if s.row["label"] == "fake":
            fakes_by_family[str(s.row["family"])].append(s)
    real_logits = [s.logit for s in reals]
    family_rows: dict[str, dict[str, float]] = {}
    for family, items in sorted(fakes_by_family.items()):
        fake_logits = [s.logit for s in items]
        spread = distribution([s.p for s in items])
        family_rows[family] = {
            "n": len(items),
            "auc_vs_all_reals": roc_auc(
                [0] * len(real_logits) + [1] * len(fake_logits), real_logits + fake_logits
            ),
            **{f"p_{k}": v for k, v in spread.items() if k != "n"},
        }
    metrics["families"] = family_rows
    ciplab_reals = [s.logit for s in reals if s.row["family"] == "camera_ciplab"]
    within: dict[str, dict[str, Any]] = {}
    for name, families in [(f, (f,)) for f in PHOTOSHOP] + [("photoshop_all", PHOTOSHOP)]:
        fake_logits = [s.logit for f in families for s in fakes_by_family.get(f, [])]
        if ciplab_reals and fake_logits:
            within[name] = {
                "n_real": len(ciplab_reals),
                "n_fake": len(fake_logits),
                "auc": roc_auc(
                    [0] * len(ciplab_reals) + [1] * len(fake_logits), ciplab_reals + fake_logits
                ),
                "ci95": list(bootstrap_auc(ciplab_reals, fake_logits, args.seed)),
            }
    metrics["within_ciplab"] = within
    by_source: dict[str, list[float]] = defaultdict(list)
    for s in reals:
        by_source[str(s.row["family"])].append(s.p)
    metrics["real_by_family"] = {k: distribution(v) for k, v in sorted(by_source.items())}
    metrics["real_all"] = distribution([s.p for s in reals])
    # Operating points on validation reals (for information; fusion calibrates separately).
    real_probs = [s.p for s in reals]
    points: dict[str, Any] = {}
    for target in (0.01, 0.05):
        cut = threshold_at_bpcer(real_probs, target)
        points[f"bpcer_{target:.2f}"] = {
            "threshold": cut,
            "apcer": {
                family: apcer([s.p for s in items], cut)
                for family, items in sorted(fakes_by_family.items())
            },
        }
    metrics["operating_points"] = points
    demographics = read_demographics(args.dataset)
    if demographics:
        cut = float(points["bpcer_0.05"]["threshold"])
        groups: dict[str, list[float]] = defaultdict(list)
        for s in reals:
            label = demographics.get(str(s.row["relpath"]))
            if label:
                groups[f"{label['set']}:{label['race']}"].append(s.p)
        metrics["demographic_bpcer_at_5pct"] = {
            key: {"n": len(v), "bpcer": float(np.mean(np.asarray(v) >= cut))}
            for key, v in sorted(groups.items())
        }
    # Timed on one thread, as the service runs it, whatever --threads the scoring used.
    timer = OnnxScorer(onnx_path, 1)
    metrics["latency_ms_1_thread"] = timer.latency_ms(crops[0]) if crops else {}
    return metrics


def bootstrap_auc(
    reals: list[float], fakes: list[float], seed: int, rounds: int = 1000
) -> tuple[float, float]:
    """95 % bootstrap interval of the AUC (resampling each class)."""
    rng = np.random.default_rng([seed, 5])
    r, f = np.asarray(reals), np.asarray(fakes)
    values = []
    for _ in range(rounds):
        rr = r[rng.integers(0, len(r), len(r))]
        ff = f[rng.integers(0, len(f), len(f))]
        values.append(roc_auc([0] * len(rr) + [1] * len(ff), np.concatenate([rr, ff])))
    return float(np.quantile(values, 0.025)), float(np.quantile(values, 0.975))

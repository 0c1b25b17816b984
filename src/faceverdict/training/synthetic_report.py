"""Scores the validation split through the service path and writes the synthetic model card."""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from faceverdict.detectors.base import Face
from faceverdict.detectors.capture_gate import CaptureGate
from faceverdict.detectors.face_detection import BlazeFaceDetector
from faceverdict.detectors.imaging import decode_capture
from faceverdict.detectors.synthetic import (
    MODEL_NAME,
    PATCH_SIZE,
    SyntheticImageDetector,
)
from faceverdict.errors import CaptureRejected
from faceverdict.evaluation.metrics import quantile, reliability, roc_auc
from faceverdict.evaluation.runner import TRANSFORMS
from faceverdict.training.data import TUNE_FRACTION, TUNE_SEED
from faceverdict.training.synthetic_data import EXCLUDED_FAMILY_PREFIXES, Item
from faceverdict.training.synthetic_net import RADIAL_BINS, SPECTRUM_POOL

MODEL_FILE = f"{MODEL_NAME}.onnx"
ROBUSTNESS = ("jpeg75", "resize50", "chain")
FloatArray = npt.NDArray[np.float32]


# --- evaluation on the validation split ------------------------------------------------------


@dataclass
class Scored:
    """One validation image under one condition."""

    item: Item
    condition: str
    probability: float | None


def _face(gate: CaptureGate, detector: BlazeFaceDetector, data: bytes) -> tuple[Any, Face | None]:
    image = decode_capture(data)
    outcome = gate.inspect(image)
    if outcome.face is not None:
        return image, outcome.face
    faces = detector.detect(image.pixels)  # like the crop cache: largest face when the gate refuses
    return image, max(faces, key=lambda f: f.width * f.height) if faces else None


def evaluate(
    items: Sequence[Item], root: Path, models_dir: Path, log: Callable[[str], None]
) -> list[Scored]:
    """Score validation images through the service path (decode, gate face, ONNX detector)."""
    from faceverdict.detectors.base import Sample

    detector = SyntheticImageDetector(models_dir)
    gate, blaze = CaptureGate(), BlazeFaceDetector()
    scored: list[Scored] = []
    conditions: list[tuple[str, Callable[[bytes], bytes] | None]] = [("clean", None)]
    conditions += [(name, TRANSFORMS[name][1]) for name in ROBUSTNESS]
    for name, transform in conditions:
        started = time.time()
        for item in items:
            data = (root / item.relpath).read_bytes()
            try:
                data = transform(data) if transform else data
                image, face = _face(gate, blaze, data)
            except CaptureRejected:
                face = None
            p = None
            if face is not None:
                p = detector.analyse(Sample(data=data, image=image, face=face)).fake_probability
            scored.append(Scored(item, name, p))
        log(f"evaluated {name}: {len(items)} images in {time.time() - started:.0f} s")
    return scored


def latency_ms(models_dir: Path, repeats: int = 200) -> dict[str, float]:
    """ONNX Runtime time per face patch, batch 1, one intra-op thread."""
    detector = SyntheticImageDetector(models_dir, threads=1)
    patch = np.random.default_rng(0).integers(0, 256, (PATCH_SIZE, PATCH_SIZE, 3)).astype(np.uint8)
    for _ in range(20):
        detector.logits([patch])
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        detector.logits([patch])
        times.append((time.perf_counter() - t) * 1000)
    return {"p50": quantile(times, 0.5), "p99": quantile(times, 0.99)}


def bootstrap_auc(
    y: npt.NDArray[np.int64], s: FloatArray, rounds: int = 1000
) -> tuple[float, float]:
    """95 % bootstrap interval of the AUC (resampling images within each class)."""
    rng = np.random.default_rng(0)
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    if not len(pos) or not len(neg):
        return math.nan, math.nan
    values = []
    for _ in range(rounds):
        idx = np.concatenate([rng.choice(pos, len(pos)), rng.choice(neg, len(neg))])
        values.append(roc_auc(y[idx], s[idx]))
    return float(np.quantile(values, 0.025)), float(np.quantile(values, 0.975))


def _distribution(members: Sequence[Scored]) -> dict[str, float]:
    p = np.array([m.probability for m in members], dtype=np.float64)
    return {
        "n": float(len(p)),
        "p05": quantile(p, 0.05),
        "median": quantile(p, 0.5),
        "p95": quantile(p, 0.95),
        "above_0.5": float((p > 0.5).mean()),
    }


def _auc(fakes: Sequence[Scored], reals: Sequence[Scored]) -> tuple[float, float, float]:
    y = np.array([1] * len(fakes) + [0] * len(reals), dtype=np.int64)
    scores = np.array([r.probability for r in [*fakes, *reals]], dtype=np.float32)
    return (roc_auc(y, scores), *bootstrap_auc(y, scores))


def metrics(scored: Sequence[Scored]) -> dict[str, Any]:
    """Per-family and within-source AUCs per condition, real score distributions, calibration."""
    by_condition: dict[str, list[Scored]] = defaultdict(list)
    for one in scored:
        by_condition[one.condition].append(one)
    result: dict[str, Any] = {
        "auc": {},
        "within_140k": {},
        "reals": {},
        "fakes": {},
        "missing": {},
        "calibration": {},
    }
    for condition, rows in by_condition.items():
        ok = [r for r in rows if r.probability is not None]
        result["missing"][condition] = len(rows) - len(ok)
        per_family: dict[str, list[Scored]] = defaultdict(list)
        for r in ok:
            per_family[r.item.family].append(r)
        reals = [r for r in ok if not r.item.fake]
        fake_families = sorted(f for f, m in per_family.items() if m[0].item.fake)
        result["auc"][condition] = {f: _auc(per_family[f], reals) for f in fake_families}
        real_families = sorted(f for f, m in per_family.items() if not m[0].item.fake)
        result.setdefault("auc_by_real", {})[condition] = {
            f: {r: _auc(per_family[f], per_family[r])[0] for r in real_families}
            for f in fake_families
        }
        within = _auc(per_family["stylegan1"], per_family["camera_ffhq"])
        n_pair = len(per_family["stylegan1"]) + len(per_family["camera_ffhq"])
        result["within_140k"][condition] = (*within, n_pair)
        for key, fake in (("reals", False), ("fakes", True)):
            result[key][condition] = {
                f: _distribution(m) for f, m in sorted(per_family.items()) if m[0].item.fake is fake
            }
        synthetic = [r for r in ok if not r.item.family.startswith(EXCLUDED_FAMILY_PREFIXES)]
        y = np.array([int(r.item.fake) for r in synthetic])
        p = np.array([r.probability for r in synthetic], dtype=np.float64)
        bins, ece = reliability(y, p)
        result["calibration"][condition] = {
            "ece": ece,
            "brier": float(np.mean((p - y) ** 2)),
            "bins": [(b.lower, b.upper, b.count, b.mean_predicted, b.observed_rate) for b in bins],
        }
    return result


# --- model card ------------------------------------------------------------------------------


def _row(*cells: object) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def _f(x: float) -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.3f}"


def _probe_lines(probe: dict[str, float] | None) -> list[str]:
    if not probe:
        return []
    cells = ", ".join(f"{family} {auc:.3f}" for family, auc in sorted(probe.items()))
    return [
        "### Never-trained generators, training side (keep-rule input)",
        "",
        "AUC of the training-side images of fake families the model never trained on (not the",
        "validation split) against the tune reals:",
        "",
        f"* {cells}",
        "",
        "A retrain is kept only with a lower tune loss and none of these more than 0.02 below",
        "the committed model's.",
        "",
    ]


def write_card(path: Path, ctx: dict[str, Any]) -> None:
    """Write the model card from the run's context and metrics."""
    m = ctx["metrics"]
    conds = ["clean", *ROBUSTNESS]
    families = sorted(m["auc"]["clean"])
    lines = [
        "# Model card: synthetic-image detector (`synthetic_v1`)",
        "",
        "Generated by `python -m faceverdict.training.synthetic` (the numbers below come from the",
        "run that produced the committed weights; rerunning the command rewrites this file).",
        "",
        "## What it is",
        "",
        "Detects **fully generated faces** (GAN and diffusion images) from pixel-level traces of",
        "the generator's upsampling: registered as `synthetic` (inline: the face patch at native",
        "resolution and at half size, mean of the two logits; since 1.1.0, decision",
        "`docs/decisions/0006-two-scale-synthetic-scoring.md`) and `synthetic_assurance`",
        "(assurance 1.0.0: 5 full-resolution patches and their mirror images, mean logit; a",
        "half-size twin of each did not pass the same decision's rule). The training run and",
        "the numbers below score one native patch.",
        "",
        f"* File: `src/faceverdict/models/{MODEL_FILE}`, sha256 `{ctx['sha256']}`, "
        f"{ctx['size_kb']:.0f} KB, {ctx['params']:,} parameters.",
        f"* Input `pixels` float32 [N, 3, {PATCH_SIZE}, {PATCH_SIZE}], RGB 0-255; output "
        "`fake_logit` [N, 1]; `fake_probability = sigmoid(fake_logit)`.",
        f"* Patch (`detectors.synthetic.face_patch`): a {PATCH_SIZE}x{PATCH_SIZE} square centred",
        "  on the BlazeFace box, cut from the working decode **without resampling**, corner",
        "  snapped to the 8-pixel grid and kept inside the frame (mirror padding only for images",
        "  smaller than the patch). Large faces are sampled at native resolution (cheeks, eyes,",
        "  nose), small faces bring some hair or background. Training imports the same function.",
        "  The half-size patch (`detectors.synthetic.half_scale_patch`) is the same rule applied",
        "  to the image shrunk by 2 (bilinear), computed from the patch's own source region.",
        "* Architecture: fixed residual stem (NPR residual `x - up2(down2(x))` per colour",
        "  channel, 4 SRM-style high-pass kernels per channel, clipped at ±8 grey levels),",
        "  pixel-unshuffle 2, 1x1 conv 60->32, 3x3 conv, three stride-2 stages (48, 96, 160",
        *(
            [
                "  channels, two residual blocks), global mean; beside it a spectrum branch",
                "  (`training.synthetic_net.SpectrumFeatures`): log power spectrum of the grey",
                "  patch's high-pass residual (grey minus its 3x3 mean, clipped, Hann window, DFT",
                "  as fixed matrix products) averaged to a "
                f"{PATCH_SIZE // SPECTRUM_POOL}x{PATCH_SIZE // SPECTRUM_POOL} grid and "
                f"{RADIAL_BINS} radial bins,",
                "  batch norm, linear to 64, ReLU; both joined, dropout 0.2, linear. Trained from",
                "  scratch (no pretrained weights).",
            ]
            if ctx.get("spectrum", False)
            else [
                "  channels, two residual blocks), global mean, dropout 0.2, linear. Trained from",
                "  scratch (no pretrained weights).",
            ]
        ),
        f"* ONNX Runtime, 1 intra-op thread, batch 1 on {ctx['machine']}: p50 "
        f"{ctx['latency']['p50']:.2f} ms, p99 {ctx['latency']['p99']:.2f} ms per face (model only;",
        "  the patch is a slice of the decoded image). Opset 17, dynamic batch; ONNX vs torch max",
        f"  abs difference {ctx['onnx_diff']}.",
        "",
        "## Training data",
        "",
        f"From `faces-dev` ({ctx['root_name']}), rows with a face in the crop cache and",
        "`evaluation.split.is_validation(row) == False` (group split, seed 0, 20 % of groups to",
        f"validation); {int(TUNE_FRACTION * 100)} % of the remaining groups (hash seed "
        f"{TUNE_SEED}) held out to choose the checkpoint by class-balanced loss. Photoshopped",
        "faces are not trained on (not synthetic).",
        "",
        "| family | source | licence | train | tune | validation |",
        "|---|---|---|---|---|---|",
    ]
    for row in ctx["counts"]:
        lines.append(
            _row(
                row["family"],
                row["source"],
                row["license"],
                row["train"],
                row["tune"],
                row["validation"],
            )
        )
    lines += [
        "",
        f"Excluded from training: {ctx['excluded']}.",
        "",
        "## Recipe",
        "",
        "```bash",
        ctx["command"],
        "```",
        "",
        f"* Seed {ctx['seed']}; {ctx['epochs']} epochs x {ctx['samples_per_epoch']} samples, "
        f"batch {ctx['batch_size']}, AdamW lr {ctx['lr']} (weight decay 0.05), warm-up then",
        f"  cosine; best epoch {ctx['best_epoch']} (tune loss {ctx['best_loss']:.4f}); "
        f"{ctx['minutes']:.1f} minutes on {ctx['device']} ({ctx['threads']} thread(s))"
        + ("; STOPPED EARLY by --max-minutes." if ctx["stopped_early"] else "."),
        "* Sampling: each fake family the same share; FFHQ (same source as StyleGAN) the share of",
        "  StyleGAN; the other real sources 0.25 by the square root of their size, plus, for",
        "  faces of 250-420 px and 420+ px (native box side), as much as the fakes of that size",
        "  bin (only SD2.1 fakes are that large here: resolution must not tell the class). The",
        "  loss weighs the classes equally (pos_weight).",
        "* Augmentation, identical for both classes: mirror (0.5), rotation ±20° with black fill",
        "  (0.15), resize 0.5-1.5x log-uniform with bilinear/bicubic/Lanczos/box (0.5), Gaussian",
        "  blur (0.1), greyscale (0.1), JPEG q60-100 (0.6; then a second JPEG q60-100, 0.25),",
        "  patch centre jitter ±12 % of the face box.",
        "",
        "## Validation (group split, never trained on)",
        "",
        "Scored through the service path: `decode_capture`, the capture gate's face (largest",
        "BlazeFace face when the gate abstains), `face_patch`, ONNX Runtime. Robustness: the",
        "evaluation harness's transforms applied to the file (`jpeg75`: JPEG q75; `resize50`:",
        "bilinear half size, PNG; `chain`: 0.75x, JPEG 80, JPEG 70), faces detected again.",
        "",
        "### AUC, each fake family vs all real validation images (95 % bootstrap CI)",
        "",
        "| family | " + " | ".join(conds) + " | drop jpeg75 | drop resize50 |",
        "|---|" + "---|" * (len(conds) + 2),
    ]
    for family in families:
        cells = []
        for c in conds:
            auc, lo, hi = m["auc"][c].get(family, (math.nan, math.nan, math.nan))
            cells.append(f"{_f(auc)} [{_f(lo)}-{_f(hi)}]")
        base = m["auc"]["clean"][family][0]
        drops = [_f(base - m["auc"][c][family][0]) for c in ("jpeg75", "resize50")]
        note = " (held out)" if family in ctx["held_out_families"] else ""
        lines.append(f"| {family}{note} | " + " | ".join(cells) + f" | {drops[0]} | {drops[1]} |")
    real_families = sorted(m["reals"]["clean"])
    lines += [
        "",
        "AUC of each fake family against each real family alone (clean; pooled numbers above",
        "are lifted by real sources that are easy to tell apart, such as UTKFace):",
        "",
        _row("family", *real_families),
        "|---|" + "---|" * len(real_families),
    ]
    for family in families:
        by_real = m["auc_by_real"]["clean"][family]
        lines.append(_row(family, *(_f(by_real[r]) for r in real_families)))
    lines += [
        "",
        "### Within source: FFHQ real vs StyleGAN1 fake (`140k_subset`), the honest number",
        "",
        "| condition | AUC | 95 % CI | images |",
        "|---|---|---|---|",
    ]
    for c in conds:
        auc, lo, hi, n = m["within_140k"][c]
        lines.append(f"| {c} | {_f(auc)} | {_f(lo)}-{_f(hi)} | {n} |")
    lines += [
        "",
        "### Score distribution (fake probability) per family, clean validation",
        "",
        "| family | n | p05 | median | p95 | share > 0.5 |",
        "|---|---|---|---|---|---|",
    ]
    for key in ("reals", "fakes"):
        for family, d in m[key]["clean"].items():
            cells = [_f(d[k]) for k in ("p05", "median", "p95", "above_0.5")]
            lines.append(_row(family, int(d["n"]), *cells))
    lines += [
        "",
        "Share of real photos above 0.5 under each condition (false rejects at that threshold):",
        "",
        "| real family | " + " | ".join(conds) + " |",
        "|---|" + "---|" * len(conds),
    ]
    for family in m["reals"]["clean"]:
        lines.append(
            f"| {family} | "
            + " | ".join(
                _f(m["reals"][c].get(family, {}).get("above_0.5", math.nan)) for c in conds
            )
            + " |"
        )
    cal = m["calibration"]["clean"]
    lines += [
        "",
        "### Calibration (clean validation, reals and synthetic fakes as they come)",
        "",
        f"ECE {_f(cal['ece'])}, Brier {_f(cal['brier'])}. The probability is the raw sigmoid of a",
        "model trained on class-balanced batches (prior 0.5): the fusion must calibrate it for the",
        "deployment's prior (`models/fusion.json`).",
        "",
        "| bin | n | mean predicted | observed fake rate |",
        "|---|---|---|---|",
    ]
    for lower, upper, count, mp, obs in cal["bins"]:
        lines.append(f"| {lower:.1f}-{upper:.1f} | {count} | {_f(mp)} | {_f(obs)} |")
    lines += [
        "",
        f"Faces not found (no score): {m['missing']}.",
        "",
        *_probe_lines(ctx.get("unseen_probe")),
        "## Training log",
        "",
        "| epoch | train loss | tune loss | tune AUC | minutes |",
        "|---|---|---|---|---|",
    ]
    for e in ctx["log"]:
        lines.append(
            _row(
                int(e["epoch"]),
                f"{e['train_loss']:.4f}",
                f"{e['tune_loss']:.4f}",
                f"{e['tune_auc']:.4f}",
                f"{e['minutes']:.1f}",
            )
        )
    lines += ["", *ctx["static"]]
    if ctx.get("selection"):
        lines += ["", "## Why these weights", "", str(ctx["selection"])]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")

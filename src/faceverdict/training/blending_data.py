"""Training data of the blending detector: cached face crops, self-blend pairs, augmentation.

Reads the face-crop cache (``training.crops``) with the shared group split and licence filter,
cuts each face's canvas around the inference crop, and turns it into a real / self-blend pair
(``training.self_blend``) with the augmentations both classes share. ``PairSource`` serves an
epoch's pairs deterministically from (seed, epoch, position); ``detector_crop`` gives the crop
the detector itself would see, for the final metrics.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from PIL import Image
from torch import Tensor

from faceverdict.detectors.base import Face
from faceverdict.detectors.blending import to_tensor
from faceverdict.detectors.face_crop import crop_face
from faceverdict.detectors.imaging import decode_capture
from faceverdict.evaluation.split import is_validation
from faceverdict.training import self_blend as sb
from faceverdict.training.crops import CROP_MARGIN as CACHE_MARGIN
from faceverdict.training.crops import CROP_SIZE as CACHE_SIZE
from faceverdict.training.crops import cache_dir
from faceverdict.training.data import Row, licence_filter

RGB = npt.NDArray[np.uint8]
FloatArray = npt.NDArray[np.float32]

PAD = 16  # canvas border around the inference crop, room for jitter and rotation
STRIDE = 16  # the boundary head's output stride
PHOTOSHOP = ("photoshop_easy", "photoshop_mid", "photoshop_hard")


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

"""Data for the synthetic-image detector: the crop-cache index, sampling and augmentation.

Every sample goes through the same pipeline whatever its class (see ``training.synthetic``).
"""

from __future__ import annotations

import io
import json
import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageFilter

from faceverdict.detectors.base import Face, RGBImage
from faceverdict.detectors.imaging import decode_capture
from faceverdict.detectors.synthetic import (
    GRID,
    PATCH_SIZE,
    face_patch,
    patch_origin,
)
from faceverdict.training.crops import cache_dir
from faceverdict.training.data import in_tune

WINDOW = 384  # native-resolution window kept in memory per image, around the face
EXCLUDED_FAMILY_PREFIXES = ("photoshop",)  # not fully generated faces
EVAL_ONLY = "eval only"
SIZE_BINS = (250.0, 420.0)  # face box side, native pixels


# --- data ------------------------------------------------------------------------------------


@dataclass(eq=False)
class Item:
    """One image: labels from the manifest, the face box, and (train/tune) its window."""

    relpath: str
    fake: bool
    family: str
    source: str
    group: str
    license: str
    face_box: tuple[float, float, float, float]
    window: RGBImage | None = None
    box: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)  # face box in the window

    @property
    def split_row(self) -> dict[str, str]:
        """The fields the group split reads."""
        return {"relpath": self.relpath, "group": self.group}


def read_index(cache: Path) -> list[Item]:
    """Rows of the crop-cache index that have a face."""
    items = []
    for line in (cache_dir(cache) / "index.jsonl").read_text().splitlines():
        row = json.loads(line) if line.strip() else {}
        if not row.get("item") or not row.get("face_box"):
            continue
        items.append(
            Item(
                relpath=row["relpath"],
                fake=row["label"] == "fake",
                family=row["family"],
                source=row["source"],
                group=row.get("group") or "",
                license=row.get("license") or "",
                face_box=tuple(row["face_box"]),
            )
        )
    return items


def trainable(item: Item, licences: Sequence[str] | None, include_eval_only: bool) -> bool:
    """Whether ``item`` may be trained on (family, licence filter, eval-only sources)."""
    if item.fake and item.family.startswith(EXCLUDED_FAMILY_PREFIXES):
        return False
    if EVAL_ONLY in item.license.lower() and not include_eval_only:
        return False
    return not licences or any(n.lower() in item.license.lower() for n in licences)


def is_tune(item: Item) -> bool:
    """The train-internal hold-out used to choose the checkpoint."""
    return in_tune(item.split_row)


@dataclass
class TrainingSide:
    """The non-validation items and the parts a run and its keep-rule read."""

    candidates: list[Item]  # every non-validation item
    usable: list[Item]  # those that may be trained on (``trainable``)
    train: list[Item]
    tune: list[Item]  # train-internal hold-out: checkpoint and keep-rule
    probes: list[Item]  # fakes of never-trained families: the unseen-generator probe


def training_side(
    items: Sequence[Item], licences: Sequence[str] | None = None, include_eval_only: bool = False
) -> TrainingSide:
    """Split the non-validation ``items`` into train, tune and unseen-generator probe."""
    from faceverdict.evaluation.split import is_validation

    candidates = [i for i in items if not is_validation(i.split_row)]
    usable = [i for i in candidates if trainable(i, licences, include_eval_only)]
    used = set(map(id, usable))  # items compare by identity
    probes = [
        i
        for i in candidates
        if i.fake and id(i) not in used and not i.family.startswith(EXCLUDED_FAMILY_PREFIXES)
    ]
    return TrainingSide(
        candidates=candidates,
        usable=usable,
        train=[i for i in usable if not is_tune(i)],
        tune=[i for i in usable if is_tune(i)],
        probes=probes,
    )


def load_window(item: Item, root: Path) -> None:
    """Decode the image as the service does and keep a grid-aligned window around the face."""
    pixels = decode_capture((root / item.relpath).read_bytes()).pixels
    height, width = pixels.shape[:2]
    x0, y0, x1, y1 = item.face_box
    left = int((x0 + x1) / 2 - WINDOW / 2) // GRID * GRID
    top = int((y0 + y1) / 2 - WINDOW / 2) // GRID * GRID
    left = max(0, min(left, max(0, width - WINDOW) // GRID * GRID))
    top = max(0, min(top, max(0, height - WINDOW) // GRID * GRID))
    item.window = np.ascontiguousarray(pixels[top : top + WINDOW, left : left + WINDOW])
    item.box = (x0 - left, y0 - top, x1 - left, y1 - top)


def size_bin(item: Item) -> int:
    """Face-size bin of ``item`` (native box side): 0 below 250 px, 1 below 420 px, else 2."""
    x0, y0, x1, y1 = item.face_box
    return int(np.searchsorted(SIZE_BINS, max(x1 - x0, y1 - y0), side="right"))


def sampling_weights(items: Sequence[Item]) -> npt.NDArray[np.float64]:
    """Per-item sampling probability (see the module docstring); fakes may weigh under 0.5."""
    fakes = Counter(i.family for i in items if i.fake)
    reals = Counter(i.source for i in items if not i.fake)
    fake_sources = defaultdict(set)
    for i in items:
        if i.fake:
            fake_sources[i.source].add(i.family)
    family_share = {f: 0.5 / len(fakes) for f in fakes}
    paired = {s: sum(family_share[f] for f in fake_sources[s]) for s in reals if s in fake_sources}
    rest = max(0.0, 0.5 - sum(paired.values()))
    unpaired = {s: math.sqrt(n) for s, n in reals.items() if s not in paired}
    weights = np.zeros(len(items), dtype=np.float64)
    for k, i in enumerate(items):
        if i.fake:
            weights[k] = family_share[i.family] / fakes[i.family]
        elif i.source in paired:
            weights[k] = paired[i.source] / reals[i.source]
        else:
            weights[k] = rest * unpaired[i.source] / sum(unpaired.values()) / reals[i.source]
    # Large faces: unpaired reals of each size bin >= 1 get as much again as the unpaired
    # fakes of that bin, so that resolution does not give the class away.
    bins = np.array([size_bin(i) for i in items])
    unpaired_fake = np.array([i.fake and i.source not in reals for i in items])
    unpaired_real = np.array([not i.fake and i.source not in paired for i in items])
    for b in range(1, len(SIZE_BINS) + 1):
        mass = float(weights[unpaired_fake & (bins == b)].sum())
        members = [int(k) for k in np.flatnonzero(unpaired_real & (bins == b))]
        if mass == 0.0 or not len(members):
            continue
        per_source = Counter(items[k].source for k in members)
        roots = sum(math.sqrt(n) for n in per_source.values())
        for k in members:
            count = per_source[items[k].source]
            weights[k] += mass * math.sqrt(count) / roots / count
    normalised: npt.NDArray[np.float64] = weights / weights.sum()
    return normalised


# --- augmentation: identical for both classes ------------------------------------------------

_FILTERS = (
    Image.Resampling.BILINEAR,
    Image.Resampling.BICUBIC,
    Image.Resampling.LANCZOS,
    Image.Resampling.BOX,
)


RESIZE_RANGE: Final = (0.5, 1.5)
DOWNSCALE_RANGE: Final = (0.45, 0.75)


def _jpeg(image: Image.Image, quality: int) -> Image.Image:
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=quality)
    out.seek(0)
    with Image.open(out) as decoded:
        return decoded.convert("RGB")


def resize_factor(
    rng: np.random.Generator, strength: float = 1.0, downscale_share: float = 0.0
) -> float | None:
    """The resize of one training sample (None: not resized), log-uniform in its range.

    ``downscale_share`` of the samples shrink to ``DOWNSCALE_RANGE``; otherwise half of them
    (times ``strength``) resize within ``RESIZE_RANGE``. With a share of 0 the generator is
    read exactly as before the option existed, so earlier runs replay unchanged.
    """
    downscale = downscale_share > 0.0 and rng.random() < downscale_share
    if not (downscale or rng.random() < 0.5 * strength):
        return None
    low, high = DOWNSCALE_RANGE if downscale else RESIZE_RANGE
    return float(np.exp(rng.uniform(math.log(low), math.log(high))))


def augmented_patch(
    item: Item, rng: np.random.Generator, strength: float = 1.0, downscale_share: float = 0.0
) -> RGBImage:
    """A training patch of ``item``: random capture-pipeline changes, then ``face_patch``.

    ``downscale_share`` of the samples are shrunk to 0.45-0.75x (an app or a platform that
    downsizes the photo) in place of the ordinary resize (``resize_factor``).
    """
    assert item.window is not None
    image = Image.fromarray(item.window)
    x0, y0, x1, y1 = item.box
    if rng.random() < 0.5:
        image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        x0, x1 = image.width - x1, image.width - x0
    if rng.random() < 0.15 * strength:
        angle = float(rng.uniform(-20, 20))
        centre = ((x0 + x1) / 2, (y0 + y1) / 2)
        image = image.rotate(angle, Image.Resampling.BILINEAR, center=centre, fillcolor=(0, 0, 0))
    factor = resize_factor(rng, strength, downscale_share)
    if factor is not None:
        size = (max(8, round(image.width * factor)), max(8, round(image.height * factor)))
        sx, sy = size[0] / image.width, size[1] / image.height
        resample = _FILTERS[int(rng.integers(len(_FILTERS) - (factor > 1)))]
        image = image.resize(size, resample)
        x0, x1, y0, y1 = x0 * sx, x1 * sx, y0 * sy, y1 * sy
    face = Face(box=(x0, y0, x1, y1), score=1.0)
    offset = (float(rng.uniform(-0.12, 0.12)), float(rng.uniform(-0.12, 0.12)))
    # Work on a grid-aligned region around the patch only (cheaper JPEG), same patch position.
    left, top = patch_origin(image.width, image.height, face, PATCH_SIZE, offset)
    margin = 4 * GRID
    rl, rt = max(0, left - margin), max(0, top - margin)
    region = image.crop(
        (
            rl,
            rt,
            min(image.width, left + PATCH_SIZE + margin),
            min(image.height, top + PATCH_SIZE + margin),
        )
    )
    face = Face(box=(x0 - rl, y0 - rt, x1 - rl, y1 - rt), score=1.0)
    if rng.random() < 0.1 * strength:
        region = region.filter(ImageFilter.GaussianBlur(float(rng.uniform(0.3, 1.0))))
    if rng.random() < 0.1:
        region = region.convert("L").convert("RGB")
    if rng.random() < 0.6 * strength:
        region = _jpeg(region, int(rng.integers(60, 101)))
        if rng.random() < 0.25:
            region = _jpeg(region, int(rng.integers(60, 101)))
    pixels = np.asarray(region, dtype=np.uint8)
    # The face box moved with the region, so this is the patch chosen above.
    return face_patch(pixels, face, PATCH_SIZE, offset)

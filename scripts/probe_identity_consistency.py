"""Zero-shot probe of an identity-consistency signal (ICT lever) with a frozen face recogniser.

A part swap or face swap puts one person's inner face inside another person's head. This
script asks whether a frozen, commercially usable face-recognition network can see that
without training: for each face it compares descriptors of views of the same aligned chip,
and reports the AUC of each distance for every fake family against real faces.

Views (dlib's aligned 150 px chip, padding 0.25):

- ``inner_outer``: inner face kept (eyes, nose, mouth ellipse) with the rest blurred, against
  the outer face kept with the inner ellipse blurred;
- ``full_inner`` / ``full_outer``: the whole chip against each of those;
- ``full_mirror``: the chip against its mirror image;
- ``left_right``: the left half mirrored onto the right against the right half mirrored onto
  the left (a swap of one eye or one side shows here).

Nothing is trained, so both splits are used. Needs the dlib descriptor, which is not a project
dependency (CC0 weights, Boost-licensed dlib)::

    .venv/bin/pip install dlib-bin face-recognition-models
    .venv/bin/python scripts/probe_identity_consistency.py --root ../shared/datasets/faces-dev

Measured on 2026-12-07: no view separates CIPLAB's photoshopped faces from CIPLAB's real
ones (AUC 0.42-0.56), see docs/evaluation.md.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import random
from collections import defaultdict
from collections.abc import Sequence
from multiprocessing import Pool
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageFilter

from faceverdict.evaluation.metrics import roc_auc

CHIP = 150
VIEWS = ("inner_outer", "full_inner", "full_outer", "full_mirror", "left_right")
FAMILIES = (
    "photoshop_easy",
    "photoshop_mid",
    "photoshop_hard",
    "stylegan1",
    "sd2.1",
    "gan_generated_photos",
)
_models: dict[str, Any] = {}


def _load_models() -> None:
    import dlib  # type: ignore[import-not-found]

    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("face-recognition-models is not installed (see the docstring)")
    # Not imported: the package's __init__ needs pkg_resources, gone from new setuptools.
    models = Path(spec.submodule_search_locations[0]) / "models"
    _models["detector"] = dlib.get_frontal_face_detector()
    _models["points"] = dlib.shape_predictor(str(models / "shape_predictor_5_face_landmarks.dat"))
    _models["descriptor"] = dlib.face_recognition_model_v1(
        str(models / "dlib_face_recognition_resnet_model_v1.dat")
    )
    _models["chip"] = dlib.get_face_chip


def _inner_weight() -> npt.NDArray[np.float32]:
    """Soft ellipse over eyes, nose and mouth in the aligned chip (1 inside, 0 outside)."""
    yy, xx = np.mgrid[0:CHIP, 0:CHIP].astype(np.float32)
    radius = np.sqrt(((xx - 75) / 40) ** 2 + ((yy - 80) / 42) ** 2)
    weight: npt.NDArray[np.float32] = np.clip((1.0 - radius) * 6 + 0.5, 0, 1)[..., None]
    return weight


def _descriptor(chip: npt.NDArray[np.uint8]) -> npt.NDArray[np.float64]:
    return np.asarray(_models["descriptor"].compute_face_descriptor(np.ascontiguousarray(chip)))


def distances(path: Path) -> dict[str, float] | None:
    """The view distances of the largest face in ``path`` (None: dlib finds no face)."""
    rgb = np.asarray(Image.open(path).convert("RGB"))
    faces = _models["detector"](rgb, 1)
    if not faces:
        return None
    face = max(faces, key=lambda r: r.area())
    chip = np.asarray(_models["chip"](rgb, _models["points"](rgb, face), size=CHIP, padding=0.25))
    blur = np.asarray(Image.fromarray(chip).filter(ImageFilter.GaussianBlur(12)), np.float32)
    weight, pixels = _inner_weight(), chip.astype(np.float32)
    left, right = chip.copy(), chip.copy()
    left[:, CHIP // 2 :] = chip[:, : CHIP // 2][:, ::-1]
    right[:, : CHIP // 2] = chip[:, CHIP // 2 :][:, ::-1]
    views = {
        "full": chip,
        "inner": (pixels * weight + blur * (1 - weight)).astype(np.uint8),
        "outer": (blur * weight + pixels * (1 - weight)).astype(np.uint8),
        "mirror": chip[:, ::-1],
        "left": left,
        "right": right,
    }
    d = {name: _descriptor(view) for name, view in views.items()}

    def dist(a: str, b: str) -> float:
        return float(np.linalg.norm(d[a] - d[b]))

    return {
        "inner_outer": dist("inner", "outer"),
        "full_inner": dist("full", "inner"),
        "full_outer": dist("full", "outer"),
        "full_mirror": dist("full", "mirror"),
        "left_right": dist("left", "right"),
    }


def _auc(fakes: Sequence[float], reals: Sequence[float]) -> float:
    labels = np.array([1.0] * len(fakes) + [0.0] * len(reals))
    return roc_auc(labels, np.array([*fakes, *reals]))


def main() -> None:
    """Score CIPLAB (real and photoshopped), a sample of other reals and of generated faces."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", type=Path, default=Path("../shared/datasets/faces-dev"))
    parser.add_argument("--other-reals", type=int, default=300)
    parser.add_argument("--generated", type=int, default=150)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    with (args.root / "MANIFEST.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    rng = random.Random(0)
    pick = [r for r in rows if r["relpath"].startswith("ciplab_photoshop/")]
    others = [r for r in rows if r["label"] == "real" and r["family"] != "camera_ciplab"]
    generated = [r for r in rows if r["family"] in FAMILIES[3:]]
    pick += rng.sample(others, min(args.other_reals, len(others)))
    pick += rng.sample(generated, min(args.generated, len(generated)))
    with Pool(args.workers, initializer=_load_models) as pool:
        results = pool.map(distances, [args.root / r["relpath"] for r in pick], chunksize=8)
    by_family: dict[str, list[dict[str, float]]] = defaultdict(list)
    for row, result in zip(pick, results, strict=True):
        if result is not None:
            by_family[row["family"]].append(result)
    missed = sum(r is None for r in results)
    ciplab = by_family["camera_ciplab"]
    other_reals = [
        v
        for family, members in by_family.items()
        if family.startswith("camera_") and family != "camera_ciplab"
        for v in members
    ]
    print(f"{len(pick)} images, {missed} without a dlib face; AUC (distance higher = fake)")
    print("| family | n | " + " | ".join(VIEWS) + " |")
    print("|---|---|" + "---|" * len(VIEWS))
    for family in FAMILIES:
        fakes = by_family[family]
        cells = [
            f"{_auc([v[k] for v in fakes], [v[k] for v in ciplab]):.3f} / "
            f"{_auc([v[k] for v in fakes], [v[k] for v in other_reals]):.3f}"
            for k in VIEWS
        ]
        print(f"| {family} | {len(fakes)} | " + " | ".join(cells) + " |")
    print(
        f"cells: against CIPLAB reals (n {len(ciplab)}) / "
        f"against other reals (n {len(other_reals)})"
    )


if __name__ == "__main__":
    main()

"""Samples of the synthetic-image detector's training: the epoch dataset, the tune hold-out's
fixed inputs, the unseen-generator probe and the slots given to simulated fakes.

Every sample goes through ``synthetic_data.augmented_patch`` whatever its class.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F  # noqa: N812
from PIL import Image
from torch import Tensor

from faceverdict.detectors.base import Face, RGBImage
from faceverdict.detectors.synthetic import face_patch, to_input
from faceverdict.evaluation.metrics import roc_auc
from faceverdict.training.simulated_fakes import simulate_upsampling
from faceverdict.training.synthetic_data import Item, augmented_patch

FloatArray = npt.NDArray[np.float32]
# A batch of model inputs [N, 3, S, S] -> fake logits [N, 1] (a torch model or an ONNX session).
Scorer = Callable[[Tensor], Tensor]


class Samples(torch.utils.data.Dataset[tuple[Tensor, Tensor]]):
    """Epoch samples: item indices drawn in advance; each sample's randomness from its index.

    Where ``simulated`` is set, the (real) item is rebuilt by ``simulate_upsampling`` and
    labelled fake before the common augmentation.
    """

    def __init__(
        self,
        items: Sequence[Item],
        indices: npt.NDArray[np.int64],
        seed: int,
        epoch: int,
        simulated: npt.NDArray[np.bool_] | None = None,
        downscale_share: float = 0.0,
    ) -> None:
        self.items, self.indices, self.seed, self.epoch = items, indices, seed, epoch
        self.simulated = simulated if simulated is not None else np.zeros(len(indices), bool)
        self.downscale_share = downscale_share

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, k: int) -> tuple[Tensor, Tensor]:
        item = self.items[int(self.indices[k])]
        rng = np.random.default_rng([self.seed, self.epoch, k])
        if self.simulated[k]:
            assert item.window is not None
            item = replace(item, window=simulate_upsampling(item.window, rng), fake=True)
        patch = augmented_patch(item, rng, downscale_share=self.downscale_share)
        x = torch.from_numpy(to_input([patch])[0])
        return x, torch.tensor([float(item.fake)])


def clean_patch(item: Item) -> RGBImage:
    """The detector's patch of a loaded item, without augmentation."""
    assert item.window is not None
    return face_patch(item.window, Face(box=item.box, score=1.0))


def tune_set(items: Sequence[Item], seed: int) -> tuple[Tensor, Tensor, Tensor]:
    """Fixed hold-out inputs: each tune image clean and once augmented; class-balancing weights."""
    patches, labels = [], []
    for n, item in enumerate(items):
        patches.append(clean_patch(item))
        patches.append(augmented_patch(item, np.random.default_rng([seed, 999_999, n])))
        labels += [float(item.fake)] * 2
    y = torch.tensor(labels).unsqueeze(1)
    return torch.from_numpy(to_input(patches)), y, _balancing_weights(y)


def _balancing_weights(y: Tensor) -> Tensor:
    """Per-sample weights under which both classes weigh the same (mean weight 1)."""
    n_fake = float(y.sum())
    w = torch.where(y > 0, 0.5 / max(n_fake, 1.0), 0.5 / max(len(y) - n_fake, 1.0))
    return w * len(y)


def balanced_loss(scores: Scorer, x: Tensor, y: Tensor, w: Tensor) -> float:
    """The class-balanced binary cross-entropy of ``scores`` on a fixed set (tune loss)."""
    return float(F.binary_cross_entropy_with_logits(scores(x), y, weight=w))


def half_size(item: Item) -> Item:
    """``item`` as the evaluation's ``resize50`` leaves it: bilinear, half the width and height."""
    assert item.window is not None
    image = Image.fromarray(item.window)
    size = (max(1, round(image.width / 2)), max(1, round(image.height / 2)))
    sx, sy = size[0] / image.width, size[1] / image.height
    x0, y0, x1, y1 = item.box
    window = np.asarray(image.resize(size, Image.Resampling.BILINEAR), dtype=np.uint8)
    return replace(item, window=window, box=(x0 * sx, y0 * sy, x1 * sx, y1 * sy))


def half_size_tune_set(items: Sequence[Item]) -> tuple[Tensor, Tensor, Tensor]:
    """The tune images at half size, unaugmented, with class-balancing weights: the loss on
    them says how the detector copes with downsized photos, without touching validation."""
    patches = [clean_patch(half_size(i)) for i in items]
    y = torch.tensor([[float(i.fake)] for i in items])
    return torch.from_numpy(to_input(patches)), y, _balancing_weights(y)


def patch_logits(scores: Scorer, items: Sequence[Item], half: bool = False) -> FloatArray:
    """Fake logits of the items' clean patches (at half size with ``half``)."""
    patches = [clean_patch(half_size(i) if half else i) for i in items]
    out: FloatArray = scores(torch.from_numpy(to_input(patches))).numpy().ravel()
    return out


def auc_against(fakes: FloatArray, reals: FloatArray) -> float:
    """ROC AUC of fake logits against real logits."""
    labels = np.array([1.0] * len(fakes) + [0.0] * len(reals))
    return roc_auc(labels, np.concatenate([fakes, reals]))


def unseen_generator_probe(
    scores: Scorer, probes: Sequence[Item], tune_items: Sequence[Item]
) -> dict[str, float]:
    """AUC per never-trained fake family (training-side images, not validation) against the
    tune reals: how the model does on generators it has not seen, without touching the split.
    ``scores`` maps a batch of model inputs to fake logits (torch model or ONNX session).

    Keep-rule for a retrain: lower tune loss *and* no family here more than 0.02 below the
    committed model's figure.
    """
    real_logits = patch_logits(scores, [i for i in tune_items if not i.fake])
    return {
        family: auc_against(
            patch_logits(scores, [i for i in probes if i.family == family]), real_logits
        )
        for family in sorted({i.family for i in probes})
    }


def simulated_slots(
    items: Sequence[Item],
    indices: npt.NDArray[np.int64],
    weights: npt.NDArray[np.float64],
    share: float,
    rng: np.random.Generator,
) -> npt.NDArray[np.bool_]:
    """Give ``share`` of the fake slots to real items to be simulated (``simulate_upsampling``).

    ``indices`` is changed in place; the class balance stays as sampled. Returns the flags.
    """
    flags = np.zeros(len(indices), dtype=bool)
    if share <= 0.0:
        return flags
    real = np.array([0.0 if i.fake else 1.0 for i in items]) * weights
    fake_slots = np.array([items[int(k)].fake for k in indices])
    flags = fake_slots & (rng.random(len(indices)) < share)
    indices[flags] = rng.choice(len(items), size=int(flags.sum()), p=real / real.sum())
    return flags

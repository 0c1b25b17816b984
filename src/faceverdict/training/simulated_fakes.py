"""Generator-like upsampling applied to real faces: fakes whose generator nobody has to know.

GAN and diffusion decoders build an image by upsampling feature maps (transposed convolutions,
nearest or bilinear upsampling followed by convolutions), and the correlations this leaves
between neighbouring pixels are what the synthetic detector's residual stem looks for (Zhang et
al., "Detecting and simulating artifacts in GAN fake images", WIFS 2019; Tan et al., CVPR 2024).
``simulate_upsampling`` passes a real image through a random chain of such stages, so that a
detector can learn the family of traces rather than one generator's version of them.

Each call draws: a factor of 2 (four times in five) or 4; per 2x stage, a transposed 4x4
convolution whose four output phases each sum to about one (a small random imbalance gives the
checkerboard real decoders leave), or nearest / bilinear upsampling then a random 3x3
convolution that sums to one; then, half the time (always after 4x), an unsharp mask so that
the result is not simply a blurrier copy of the face (blur alone would teach "soft photo means
fake").

Measured once (synthetic model card, "Design evidence"): on faces-dev this prior points the
wrong way, so the training option that uses it (``--simulated-fakes``) is off by default.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812
from torch import Tensor

from faceverdict.detectors.base import RGBImage

STAGE_KINDS = ("transposed", "nearest", "bilinear")


def _transposed_kernel(rng: np.random.Generator) -> Tensor:
    """A 4x4 transposed-convolution kernel (stride 2) whose output phases sum to ~1 each."""
    base = np.outer([1.0, 3.0, 3.0, 1.0], [1.0, 3.0, 3.0, 1.0])
    kernel = base * np.exp(rng.normal(0.0, 0.35, size=(4, 4)))
    for py in range(2):
        for px in range(2):
            phase = kernel[py::2, px::2]
            kernel[py::2, px::2] = phase / phase.sum() * (1.0 + rng.normal(0.0, 0.015))
    return torch.tensor(kernel, dtype=torch.float32)


def _smoothing_kernel(rng: np.random.Generator) -> Tensor:
    """A random 3x3 convolution summing to one: mostly low-pass, sometimes with negative lobes."""
    kernel = np.exp(rng.normal(0.0, 0.5, size=(3, 3)))
    kernel[1, 1] += rng.uniform(0.0, 4.0)
    kernel = kernel / kernel.sum()
    kernel += rng.normal(0.0, 0.03, size=(3, 3))
    return torch.tensor(kernel / kernel.sum(), dtype=torch.float32)


def _stage(x: Tensor, kind: str, rng: np.random.Generator) -> Tensor:
    """One 2x upsampling stage on a [1, 3, H, W] tensor."""
    if kind == "transposed":
        weight = _transposed_kernel(rng).expand(3, 1, 4, 4).contiguous()
        # Replicate-pad so that the border rows get all their taps, then drop the padding.
        out = F.conv_transpose2d(
            F.pad(x, (1, 1, 1, 1), mode="replicate"), weight, stride=2, padding=1, groups=3
        )
        return out[:, :, 2:-2, 2:-2]
    up = F.interpolate(x, scale_factor=2.0, mode=kind)
    weight = _smoothing_kernel(rng).expand(3, 1, 3, 3).contiguous()
    return F.conv2d(F.pad(up, (1, 1, 1, 1), mode="replicate"), weight, groups=3)


def _unsharp(x: Tensor, amount: float) -> Tensor:
    blur = torch.tensor([1.0, 2.0, 1.0])
    weight = (torch.outer(blur, blur) / 16.0).expand(3, 1, 3, 3).contiguous()
    soft = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), weight, groups=3)
    return x + amount * (x - soft)


def simulate_upsampling(pixels: RGBImage, rng: np.random.Generator) -> RGBImage:
    """``pixels`` (H x W x 3 uint8) rebuilt by a random generator-like upsampler, same size."""
    height, width = pixels.shape[:2]
    factor = 2 if rng.random() < 0.8 else 4
    if height < 4 * factor or width < 4 * factor:
        return pixels.copy()
    h, w = height // factor * factor, width // factor * factor
    x = torch.from_numpy(np.array(pixels[:h, :w])).permute(2, 0, 1)[None].float()
    x = F.avg_pool2d(x, factor)
    for _ in range(factor // 2):
        x = _stage(x, STAGE_KINDS[int(rng.integers(len(STAGE_KINDS)))], rng)
    if factor == 4 or rng.random() < 0.5:
        x = _unsharp(x, float(rng.uniform(0.3, 1.2)))
    out = pixels.copy()
    out[:h, :w] = x[0].permute(1, 2, 0).round().clamp(0, 255).to(torch.uint8).numpy()
    return out

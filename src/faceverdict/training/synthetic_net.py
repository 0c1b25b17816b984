"""The synthetic-image detector's network: fixed residual and spectrum front ends, small CNN.

Two views of the same 128 px native-resolution face patch (Tan et al., CVPR 2024; Durall et
al., CVPR 2020; Corvi et al., ICASSP 2023):

* ``ResidualStem``: NPR residual ``x - up2(down2(x))`` and SRM high-pass residuals, where the
  upsampling layers of GAN and diffusion decoders leave local pixel correlations;
* ``SpectrumFeatures``: the log power spectrum of a high-pass residual of the grey patch,
  pooled to a coarse grid and to radial bins, where the same upsampling leaves periodic peaks.

Everything is fixed linear algebra (the DFT is two matrix products), so the network exports
to plain ONNX (MatMul, AveragePool) and runs on ONNX Runtime like any other layer.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F  # noqa: N812
from torch import Tensor, nn

from faceverdict.detectors.synthetic import PATCH_SIZE

# SRM-style high-pass kernels (Fridrich & Kodovsky 2012), 5x5, applied to each colour channel.
_KV = (
    np.array(
        [
            [-1, 2, -2, 2, -1],
            [2, -6, 8, -6, 2],
            [-2, 8, -12, 8, -2],
            [2, -6, 8, -6, 2],
            [-1, 2, -2, 2, -1],
        ],
        dtype=np.float32,
    )
    / 12.0
)
_KB = np.zeros((5, 5), dtype=np.float32)
_KB[1:4, 1:4] = np.array([[-1, 2, -1], [2, -4, 2], [-1, 2, -1]], dtype=np.float32) / 4.0
_H2 = np.zeros((5, 5), dtype=np.float32)
_H2[2, 1:4] = np.array([1, -2, 1], dtype=np.float32) / 2.0
SRM_KERNELS = (_KV, _KB, _H2, _H2.T.copy())
RESIDUAL_CLIP = 8.0  # 0-255 units: larger residuals are content edges, not traces


class ResidualStem(nn.Module):
    """Fixed first layer: NPR and SRM high-pass residuals, clipped, scaled (+ RGB if ``rgb``)."""

    def __init__(self, rgb: bool = False) -> None:
        super().__init__()
        self.rgb = rgb
        kernels = np.stack([k for k in SRM_KERNELS for _ in range(3)])  # per kernel, per channel
        kernels = (
            kernels.reshape(len(SRM_KERNELS), 3, 5, 5).transpose(1, 0, 2, 3).reshape(-1, 1, 5, 5)
        )
        self.register_buffer("srm", torch.from_numpy(np.ascontiguousarray(kernels)))
        self.channels = 3 + 3 * len(SRM_KERNELS) + (3 if rgb else 0)

    def forward(self, x: Tensor) -> Tensor:
        """``x``: [N, 3, H, W] RGB 0-255, H and W even."""
        down = x[:, :, ::2, ::2]
        npr = x - F.interpolate(down, scale_factor=2.0, mode="nearest")
        srm = F.conv2d(x, self.srm, padding=2, groups=3)
        out = torch.clamp(torch.cat([npr, srm], dim=1), -RESIDUAL_CLIP, RESIDUAL_CLIP)
        out = out / RESIDUAL_CLIP
        if self.rgb:
            out = torch.cat([out, x / 127.5 - 1.0], dim=1)
        return out


def _conv(cin: int, cout: int, stride: int = 1, kernel: int = 3) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel, stride, kernel // 2, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class _Block(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.a = _conv(channels, channels)
        self.b = nn.Sequential(
            nn.Conv2d(channels, channels, 3, 1, 1, bias=False), nn.BatchNorm2d(channels)
        )

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(x + self.b(self.a(x)))


SPECTRUM_POOL = 8  # the log spectrum is averaged over 8x8 frequency cells: a 16x16 grid
RADIAL_BINS = 32


def _radial_matrix(size: int, bins: int) -> npt.NDArray[np.float32]:
    """[size * size, bins]: averages each radial frequency band of an unshifted spectrum."""
    k = np.arange(size)
    f = np.minimum(k, size - k).astype(np.float64)  # |frequency| in cycles per patch
    radius = np.sqrt(f[:, None] ** 2 + f[None, :] ** 2) / (size / 2 * math.sqrt(2.0))
    index = np.minimum((radius * bins).astype(np.int64), bins - 1).ravel()
    matrix = np.zeros((size * size, bins), dtype=np.float32)
    matrix[np.arange(size * size), index] = 1.0
    normalised: npt.NDArray[np.float32] = matrix / np.maximum(
        matrix.sum(axis=0, keepdims=True), 1.0
    )
    return normalised


class SpectrumFeatures(nn.Module):
    """Log power spectrum of the grey patch's high-pass residual: 16x16 grid + radial bins.

    The residual (grey minus its 3x3 mean, clipped at ±8 grey levels like the stem) removes
    most of the face's own content, a Hann window removes the patch border, and the 2-D DFT
    is computed as ``C R C - S R S`` (real part) and ``C R S + S R C`` (imaginary part) with
    fixed cosine and sine matrices.
    """

    def __init__(self, size: int = PATCH_SIZE) -> None:
        super().__init__()
        k = np.arange(size, dtype=np.float64)
        angle = 2.0 * math.pi * np.outer(k, k) / size
        hann = np.hanning(size + 2)[1:-1]
        self.register_buffer("cos", torch.from_numpy(np.cos(angle).astype(np.float32)))
        self.register_buffer("sin", torch.from_numpy(np.sin(angle).astype(np.float32)))
        self.register_buffer("window", torch.from_numpy(np.outer(hann, hann).astype(np.float32)))
        self.register_buffer("radial", torch.from_numpy(_radial_matrix(size, RADIAL_BINS)))
        self.size = size
        self.features = (size // SPECTRUM_POOL) ** 2 + RADIAL_BINS

    def forward(self, x: Tensor) -> Tensor:
        """``x``: [N, 3, S, S] RGB 0-255 -> [N, features]."""
        grey = x.mean(dim=1, keepdim=True)
        local = F.avg_pool2d(grey, 3, stride=1, padding=1, count_include_pad=False)
        residual = torch.clamp(grey - local, -RESIDUAL_CLIP, RESIDUAL_CLIP)[:, 0] * self.window
        a = torch.matmul(self.cos, residual)
        b = torch.matmul(self.sin, residual)
        real = torch.matmul(a, self.cos) - torch.matmul(b, self.sin)
        imaginary = torch.matmul(a, self.sin) + torch.matmul(b, self.cos)
        log_power = torch.log1p(real * real + imaginary * imaginary)
        grid = F.avg_pool2d(log_power.unsqueeze(1), SPECTRUM_POOL).flatten(1)
        radial = torch.matmul(log_power.flatten(1), self.radial)
        return torch.cat([grid, radial], dim=1)


class ResidualNet(nn.Module):
    """Residual stem, pixel-unshuffle (2x2 phase as channels), small ResNet, one logit.

    With ``spectrum`` the pooled CNN features are joined by a small projection of
    ``SpectrumFeatures`` before the final linear layer.
    """

    def __init__(
        self,
        widths: tuple[int, int, int, int] = (32, 48, 96, 160),
        rgb: bool = False,
        spectrum: bool = False,
        spectrum_width: int = 64,
    ) -> None:
        super().__init__()
        self.stem = ResidualStem(rgb)
        w0, w1, w2, w3 = widths
        self.features = nn.Sequential(
            nn.PixelUnshuffle(2),
            _conv(self.stem.channels * 4, w0, kernel=1),
            _conv(w0, w0),
            _conv(w0, w1, 2),
            _Block(w1),
            _conv(w1, w2, 2),
            _Block(w2),
            _conv(w2, w3, 2),
        )
        self.spectrum: nn.Module | None = None
        self.spectrum_head: nn.Module | None = None
        if spectrum:
            front = SpectrumFeatures()
            self.spectrum = front
            self.spectrum_head = nn.Sequential(
                nn.BatchNorm1d(front.features),
                nn.Linear(front.features, spectrum_width),
                nn.ReLU(inplace=True),
            )
        self.dropout = nn.Dropout(0.2)
        self.head = nn.Linear(w3 + (spectrum_width if spectrum else 0), 1)

    def forward(self, pixels: Tensor) -> Tensor:
        """``pixels`` [N, 3, S, S] RGB 0-255 -> ``fake_logit`` [N, 1]."""
        features = self.features(self.stem(pixels)).mean(dim=(2, 3))
        if self.spectrum is not None and self.spectrum_head is not None:
            features = torch.cat([features, self.spectrum_head(self.spectrum(pixels))], dim=1)
        out: Tensor = self.head(self.dropout(features))
        return out


def pick_device(name: str) -> torch.device:
    """``auto``: CUDA when available, else CPU."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


@torch.no_grad()
def predict(model: nn.Module, x: Tensor, device: torch.device, batch: int = 128) -> Tensor:
    """Logits for a stack of inputs."""
    model.eval()
    out = [model(x[i : i + batch].to(device)).float().cpu() for i in range(0, len(x), batch)]
    return torch.cat(out)

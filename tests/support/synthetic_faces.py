"""Synthetic face images drawn in code, so tests need no photo of a real person.

BlazeFace (short-range) finds these faces with a score above 0.9, and the capture gate's
default thresholds let them through; tests use them wherever a genuine-looking capture is needed.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

_SKIN_TONES = ((224, 172, 138), (198, 134, 99), (141, 85, 56), (236, 192, 160), (170, 110, 75))
_HAIR = ((40, 28, 20), (70, 50, 30), (20, 18, 18), (110, 80, 50))


def synthetic_face(
    size: tuple[int, int] = (640, 800),
    face_fraction: float = 0.45,
    seed: int = 0,
    centre: tuple[float, float] = (0.5, 0.5),
) -> Image.Image:
    """An RGB portrait of a drawn face whose height is ``face_fraction`` of the image height.

    ``centre`` places the face centre as fractions of the width and height; ``seed`` varies
    the skin tone, hair colour, background and the small random texture.
    """
    return synthetic_group(size, [(centre[0], centre[1], face_fraction)], seed)


def synthetic_group(
    size: tuple[int, int], faces: Sequence[tuple[float, float, float]], seed: int = 0
) -> Image.Image:
    """Several drawn faces, each given as (centre x, centre y, height), fractions of the image."""
    width, height = size
    rng = np.random.default_rng(seed)
    image = _background(size, rng)
    for fx, fy, fraction in faces:
        draw_face(image, (fx * width, fy * height), fraction * height, rng)
    largest = max((fraction for _, _, fraction in faces), default=0.0) * height
    return image.filter(ImageFilter.GaussianBlur(radius=max(0.6, largest / 400)))


def draw_face(
    image: Image.Image, centre: tuple[float, float], face_h: float, rng: np.random.Generator
) -> None:
    """Draw one face of height ``face_h`` (chin to hairline) centred at ``centre`` on ``image``."""
    skin = _SKIN_TONES[int(rng.integers(len(_SKIN_TONES)))]
    hair = _HAIR[int(rng.integers(len(_HAIR)))]
    cx, cy = centre
    fw = face_h * 0.74  # face width
    draw = ImageDraw.Draw(image)

    def box(x: float, y: float, w: float, h: float) -> tuple[float, float, float, float]:
        return (cx + x - w / 2, cy + y - h / 2, cx + x + w / 2, cy + y + h / 2)

    # neck and shoulders, then hair behind the head
    neck = tuple(int(c * 0.85) for c in skin)
    draw.rectangle(box(0, face_h * 0.55, fw * 0.5, face_h * 0.5), fill=neck)
    draw.ellipse(box(0, face_h * 1.15, fw * 2.6, face_h * 0.9), fill=(60, 70, 110))
    draw.ellipse(box(0, -face_h * 0.12, fw * 1.18, face_h * 1.05), fill=hair)
    # ears
    for side in (-1, 1):
        draw.ellipse(box(side * fw * 0.5, face_h * 0.02, fw * 0.16, face_h * 0.24), fill=neck)
    # the face: a shaded ellipse, lighter in the middle
    _shaded_ellipse(image, box(0, face_h * 0.03, fw, face_h), skin)
    draw = ImageDraw.Draw(image)
    # fringe
    draw.chord(box(0, -face_h * 0.42, fw * 1.02, face_h * 0.45), 180, 360, fill=hair)
    eye_y, eye_dx = -face_h * 0.06, fw * 0.21
    for side in (-1, 1):
        ex = side * eye_dx
        # brow
        brow = box(ex, eye_y - face_h * 0.1, fw * 0.26, face_h * 0.07)
        draw.chord(brow, 180, 360, fill=tuple(int(c * 0.9) for c in hair))
        # eye socket shadow, white, iris, pupil, highlight
        shadow = tuple(int(c * 0.8) for c in skin)
        draw.ellipse(box(ex, eye_y, fw * 0.24, face_h * 0.09), fill=shadow)
        draw.ellipse(box(ex, eye_y, fw * 0.19, face_h * 0.055), fill=(240, 240, 235))
        draw.ellipse(box(ex, eye_y, fw * 0.085, face_h * 0.055), fill=(70, 50, 35))
        draw.ellipse(box(ex, eye_y, fw * 0.04, face_h * 0.03), fill=(10, 10, 10))
        draw.ellipse(
            box(ex + fw * 0.012, eye_y - face_h * 0.008, fw * 0.015, face_h * 0.012),
            fill=(255, 255, 255),
        )
    # nose: a shadow along the ridge and two nostrils
    nose_shadow = tuple(int(c * 0.78) for c in skin)
    draw.line(
        [(cx + fw * 0.03, cy - face_h * 0.02), (cx + fw * 0.06, cy + face_h * 0.14)],
        fill=nose_shadow,
        width=max(1, int(fw * 0.025)),
    )
    draw.ellipse(
        box(0, face_h * 0.15, fw * 0.2, face_h * 0.06), fill=tuple(int(c * 0.88) for c in skin)
    )
    for side in (-1, 1):
        draw.ellipse(
            box(side * fw * 0.05, face_h * 0.165, fw * 0.05, face_h * 0.025), fill=(60, 35, 30)
        )
    # mouth: upper and lower lip with a dark line between
    lips = (170, 70, 70)
    mouth_y = face_h * 0.3
    draw.ellipse(box(0, mouth_y, fw * 0.36, face_h * 0.09), fill=lips)
    draw.line(
        [(cx - fw * 0.17, cy + mouth_y), (cx + fw * 0.17, cy + mouth_y)],
        fill=(70, 25, 25),
        width=max(1, int(face_h * 0.012)),
    )


def _shaded_ellipse(
    image: Image.Image, bounds: tuple[float, float, float, float], skin: tuple[int, int, int]
) -> None:
    x0, y0, x1, y1 = (round(v) for v in bounds)
    w, h = max(1, x1 - x0), max(1, y1 - y0)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    nx, ny = (xs + 0.5) / w * 2 - 1, (ys + 0.5) / h * 2 - 1
    r2 = nx**2 + ny**2
    # light from the upper left: brighter centre, darker rim and lower right
    shade = 1.08 - 0.28 * r2 - 0.06 * nx - 0.04 * ny
    rgb = np.clip(np.array(skin, dtype=np.float32)[None, None, :] * shade[..., None], 0, 255)
    patch = Image.fromarray(rgb.astype(np.uint8))
    mask = Image.fromarray(((r2 <= 1.0) * 255).astype(np.uint8))
    image.paste(patch, (x0, y0), mask)


def _background(size: tuple[int, int], rng: np.random.Generator) -> Image.Image:
    width, height = size
    base = rng.integers(150, 220, size=3).astype(np.float32)
    ramp = np.linspace(0.9, 1.1, height, dtype=np.float32)[:, None, None]
    noise = rng.standard_normal((height, width, 3), dtype=np.float32) * np.float32(4.0)
    pixels = np.clip(base[None, None, :] * ramp + noise, 0, 255).astype(np.uint8)
    return Image.fromarray(pixels)

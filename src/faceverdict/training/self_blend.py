"""Self-blended images (SBI): fakes made from one real face, for training the blending detector.

After Shiohara and Yamasaki, "Detecting Deepfakes with Self-Blended Images" (CVPR 2022), with
the blending-boundary target of Face X-ray (Li et al., CVPR 2020). A real face is turned into a
pseudo *source* and *target* that differ only in ways a face swap leaves behind: colour and
frequency statistics (RGB shift, hue/saturation/brightness, contrast, sharpening, blur, JPEG,
resolution), a slight scale/translation misalignment and a resolution mismatch of the pasted
face. A blending mask is drawn from the dense landmarks (convex hull of all 468 points, of the
inner face, of facial parts such as eyes, nose or mouth, or an ellipse around the face box),
deformed elastically, dilated or eroded, and softened with a random blur and blend ratio. Then
``blended = mask * source + (1 - mask) * target`` and ``boundary = 4 * mask * (1 - mask)``.

Also here: the photometric augmentations applied to *both* classes in training (JPEG, down/up
scaling, greyscale, rotation with black fill), so the detector cannot tell a real face from a
blend by its compression, its resolution or its black corners.

Pure numpy and Pillow (no SciPy, OpenCV or PyTorch), so its tests run in the service's CI.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw, ImageFilter

RGB = npt.NDArray[np.uint8]
FloatArray = npt.NDArray[np.float32]

# MediaPipe Face Mesh (468) indices of a few anatomical points (canonical mesh topology).
RIGHT_EYE_CORNERS = (33, 133)  # subject's right eye: outer, inner corner
LEFT_EYE_CORNERS = (263, 362)
NOSE_TIP = 1
UPPER_LIP, LOWER_LIP = 13, 14
CHIN = 152

MASK_VARIANTS = ("hull", "inner", "parts", "ellipse", "lower", "upper")
_VARIANT_P = (0.35, 0.15, 0.25, 0.1, 0.08, 0.07)
PARTS = ("right_eye", "left_eye", "eyes", "nose", "mouth")
BLEND_RATIOS = (0.25, 0.5, 0.75, 1.0, 1.0, 1.0)


@dataclass(frozen=True)
class SelfBlend:
    """One self-blended image with its ingredients; every array has the input's height and width."""

    image: RGB
    source: RGB
    target: RGB
    mask: FloatArray
    boundary: FloatArray
    variant: str


def boundary_map(mask: FloatArray) -> FloatArray:
    """Face X-ray's blending boundary ``4 * M * (1 - M)``: 1 at a half-half blend, 0 outside."""
    m = np.clip(mask, 0.0, 1.0)
    return (4.0 * m * (1.0 - m)).astype(np.float32)


def convex_hull(points: FloatArray) -> list[tuple[float, float]]:
    """The convex hull of (N, 2) points, counter-clockwise (Andrew's monotone chain)."""
    unique = sorted({(float(x), float(y)) for x, y in points})
    if len(unique) < 3:
        return unique

    def cross(o: tuple[float, float], a: tuple[float, float], b: tuple[float, float]) -> float:
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    lower: list[tuple[float, float]] = []
    upper: list[tuple[float, float]] = []
    for p in unique:
        while len(lower) >= 2 and cross(lower[-2], lower[-1], p) <= 0:
            lower.pop()
        lower.append(p)
    for p in reversed(unique):
        while len(upper) >= 2 and cross(upper[-2], upper[-1], p) <= 0:
            upper.pop()
        upper.append(p)
    return lower[:-1] + upper[:-1]


def gaussian_blur(values: FloatArray, sigma: float) -> FloatArray:
    """Gaussian blur of a float map (zero outside), approximated by three box blurs per axis.

    Cumulative sums only: no BLAS, so it stays fast however many threads compete for the CPU.
    """
    if sigma <= 0:
        return values.astype(np.float32)
    # Three passes of a box of width w have variance 3 * (w^2 - 1) / 12 = sigma^2.
    radius = max(0, round((math.sqrt(4 * sigma * sigma + 1) - 1) / 2))
    out = values.astype(np.float32)
    for axis in (0, 1):
        for _ in range(3):
            out = _box(out, radius, axis)
    return out


def _box(values: FloatArray, radius: int, axis: int) -> FloatArray:
    """Mean over a window of ``2 * radius + 1`` along ``axis``, zero outside."""
    if radius == 0:
        return values
    moved = np.moveaxis(values, axis, 0)
    n = moved.shape[0]
    padded = np.zeros((n + 2 * radius + 1, *moved.shape[1:]), dtype=np.float64)
    padded[radius + 1 : radius + 1 + n] = moved
    csum = np.cumsum(padded, axis=0)
    window = (csum[2 * radius + 1 :] - csum[:n]) / (2 * radius + 1)
    out: FloatArray = np.moveaxis(window.astype(np.float32), 0, axis)
    return out


def bilinear_sample(values: FloatArray, ys: FloatArray, xs: FloatArray) -> FloatArray:
    """``values`` sampled at float coordinates (bilinear; zero outside the map)."""
    height, width = values.shape
    padded = np.zeros((height + 2, width + 2), dtype=np.float32)
    padded[1:-1, 1:-1] = values
    y = np.clip(ys + 1.0, 0.0, height + 0.999)
    x = np.clip(xs + 1.0, 0.0, width + 0.999)
    y0 = np.floor(y).astype(np.intp)
    x0 = np.floor(x).astype(np.intp)
    y1 = np.minimum(y0 + 1, height + 1)
    x1 = np.minimum(x0 + 1, width + 1)
    wy, wx = (y - y0).astype(np.float32), (x - x0).astype(np.float32)
    top = padded[y0, x0] * (1 - wx) + padded[y0, x1] * wx
    bottom = padded[y1, x0] * (1 - wx) + padded[y1, x1] * wx
    out: FloatArray = (top * (1 - wy) + bottom * wy).astype(np.float32)
    return out


def polygon_mask(shape: tuple[int, int], points: FloatArray) -> FloatArray:
    """A 0/1 mask of the convex hull of ``points`` (N x 2, x/y) in a ``shape`` (h, w) frame."""
    height, width = shape
    canvas = Image.new("L", (width, height), 0)
    vertices = convex_hull(points)
    if len(vertices) >= 3:
        ImageDraw.Draw(canvas).polygon(vertices, fill=255)
    return np.asarray(canvas, dtype=np.float32) / np.float32(255.0)


def ellipse_mask(shape: tuple[int, int], points: FloatArray, scale: float) -> FloatArray:
    """A 0/1 ellipse inscribed in the landmarks' bounding box, scaled by ``scale``."""
    height, width = shape
    x0, y0 = points.min(axis=0)
    x1, y1 = points.max(axis=0)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    rx, ry = (x1 - x0) / 2 * scale, (y1 - y0) / 2 * scale
    canvas = Image.new("L", (width, height), 0)
    ImageDraw.Draw(canvas).ellipse((cx - rx, cy - ry, cx + rx, cy + ry), fill=255)
    return np.asarray(canvas, dtype=np.float32) / np.float32(255.0)


def face_frame(landmarks: FloatArray) -> tuple[FloatArray, FloatArray, float]:
    """Landmarks in a face frame: origin between the eyes, x along the eyes, unit = eye distance.

    Returns the normalised points, the eye midpoint and the eye distance in pixels.
    """
    right = landmarks[list(RIGHT_EYE_CORNERS)].mean(axis=0)
    left = landmarks[list(LEFT_EYE_CORNERS)].mean(axis=0)
    centre = (right + left) / 2
    axis = left - right
    distance = float(np.hypot(axis[0], axis[1]))
    if distance < 1e-3:
        return np.zeros_like(landmarks), centre.astype(np.float32), 1.0
    ux = axis / distance
    uy = np.array([-ux[1], ux[0]], dtype=np.float32)  # image y points down, so this is "down"
    rel = landmarks - centre
    norm = np.stack([rel @ ux, rel @ uy], axis=1) / distance
    return norm.astype(np.float32), centre.astype(np.float32), distance


def part_points(landmarks: FloatArray, part: str) -> FloatArray:
    """The landmarks of one facial part (eyes, nose, mouth), by position in the face frame."""
    norm, _, _ = face_frame(landmarks)
    x, y = norm[:, 0], norm[:, 1]
    if part == "right_eye":
        keep = np.hypot(x + 0.5, (y + 0.05) * 1.3) < 0.42
    elif part == "left_eye":
        keep = np.hypot(x - 0.5, (y + 0.05) * 1.3) < 0.42
    elif part == "eyes":
        keep = (np.abs(x) < 1.0) & (y > -0.45) & (y < 0.3)
    elif part == "nose":
        keep = (np.abs(x) < 0.32) & (y > -0.05) & (y < 0.95)
    elif part == "mouth":
        mouth = norm[[UPPER_LIP, LOWER_LIP]].mean(axis=0)
        keep = np.hypot((x - mouth[0]) * 0.75, (y - mouth[1]) * 1.4) < 0.42
    else:
        raise ValueError(f"unknown face part {part!r}")
    chosen: FloatArray = landmarks[keep]
    return chosen


def landmark_subset(landmarks: FloatArray, variant: str, rng: np.random.Generator) -> FloatArray:
    """The landmarks whose convex hull(s) make a mask ``variant`` (hull, inner, lower or upper)."""
    if variant == "hull":
        return landmarks
    norm, _, _ = face_frame(landmarks)
    if variant == "inner":
        centre = norm.mean(axis=0)
        radius = np.hypot(*(norm - centre).T)
        inner: FloatArray = landmarks[radius <= np.quantile(radius, rng.uniform(0.55, 0.85))]
        return inner
    if variant == "lower":
        return landmarks[norm[:, 1] > rng.uniform(0.2, 0.6)]
    if variant == "upper":
        return landmarks[norm[:, 1] < rng.uniform(0.6, 1.1)]
    raise ValueError(f"unknown mask variant {variant!r}")


def elastic(mask: FloatArray, rng: np.random.Generator, amplitude: float) -> FloatArray:
    """Warp ``mask`` by a smooth random displacement field of about ``amplitude`` pixels."""
    height, width = mask.shape
    grid = 4
    coarse = rng.normal(0.0, amplitude, size=(2, grid, grid))
    field = [
        np.asarray(
            Image.fromarray(c.astype(np.float32), mode="F").resize(
                (width, height), Image.Resampling.BICUBIC
            ),
            dtype=np.float32,
        )
        for c in coarse
    ]
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    warped = bilinear_sample(mask, ys + field[0], xs + field[1])
    out: FloatArray = np.clip(warped, 0.0, 1.0)
    return out


def blend_mask(
    shape: tuple[int, int], landmarks: FloatArray, rng: np.random.Generator
) -> tuple[FloatArray, str]:
    """A random soft blending mask in [0, 1] from the landmarks, and the name of its shape."""
    variant = str(rng.choice(MASK_VARIANTS, p=_VARIANT_P))
    _, _, eye_distance = face_frame(landmarks)
    size = max(eye_distance * 2.5, 8.0)  # about the face width in pixels
    if variant == "ellipse":
        hard = ellipse_mask(shape, landmarks, float(rng.uniform(0.8, 1.05)))
    elif variant == "parts":
        count = int(rng.integers(1, 3))
        chosen = rng.choice(PARTS, size=count, replace=False)
        hard = np.zeros(shape, dtype=np.float32)
        for part in chosen:
            points = part_points(landmarks, str(part))
            hard = np.maximum(hard, polygon_mask(shape, points))
        variant = "parts:" + "+".join(str(p) for p in chosen)
    else:
        hard = polygon_mask(shape, landmark_subset(landmarks, variant, rng))
    if hard.max() <= 0:  # degenerate landmarks: fall back to the ellipse
        hard, variant = ellipse_mask(shape, landmarks, 0.9), "ellipse"
    if rng.random() < 0.7:
        hard = elastic(hard, rng, amplitude=float(rng.uniform(0.01, 0.04)) * size)
    # Dilate or erode: blur, then threshold below or above one half.
    if rng.random() < 0.6:
        sigma = float(rng.uniform(0.01, 0.05)) * size
        hard = (gaussian_blur(hard, sigma) > rng.uniform(0.2, 0.8)).astype(np.float32)
    # Soft edge: one or two Gaussian blurs of random width (sometimes nearly sharp).
    soft = hard
    for _ in range(int(rng.integers(1, 3))):
        soft = gaussian_blur(soft, float(rng.uniform(0.005, 0.06)) * size)
    peak = float(soft.max())
    if peak > 0:
        soft = soft / peak
    ratio = float(rng.choice(BLEND_RATIOS))
    return np.clip(soft * ratio, 0.0, 1.0).astype(np.float32), variant


# --- photometric and geometric transforms (uint8 RGB in, uint8 RGB out) ---


def jpeg(image: RGB, quality: int) -> RGB:
    """Re-encode ``image`` as JPEG at ``quality`` (4:2:0 chroma subsampling, as cameras do)."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=int(quality))
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        return np.asarray(decoded.convert("RGB"), dtype=np.uint8)


def rescale(image: RGB, factor: float) -> RGB:
    """Down-scale by ``factor`` (< 1) and back up, losing detail as low-resolution video does."""
    height, width = image.shape[:2]
    small = (max(2, round(width * factor)), max(2, round(height * factor)))
    pil = Image.fromarray(image).resize(small, Image.Resampling.BILINEAR, reducing_gap=2.0)
    return np.asarray(pil.resize((width, height), Image.Resampling.BILINEAR), dtype=np.uint8)


def rgb_shift(image: RGB, shift: npt.NDArray[np.float32]) -> RGB:
    """Add a per-channel offset (3,) and clip."""
    shifted: FloatArray = image.astype(np.float32) + shift.reshape(1, 1, 3)
    return np.clip(shifted, 0, 255).astype(np.uint8)


def hsv_shift(image: RGB, hue: float, saturation: float, value: float) -> RGB:
    """Shift hue by ``hue`` (fraction of the circle), scale saturation and value."""
    hsv = np.asarray(Image.fromarray(image).convert("HSV"), dtype=np.float32)
    hsv[..., 0] = (hsv[..., 0] + hue * 255.0) % 256.0
    hsv[..., 1] = hsv[..., 1] * saturation
    hsv[..., 2] = hsv[..., 2] * value
    out = Image.fromarray(np.clip(hsv, 0, 255).astype(np.uint8), mode="HSV").convert("RGB")
    return np.asarray(out, dtype=np.uint8)


def brightness_contrast(image: RGB, brightness: float, contrast: float) -> RGB:
    """``(x - mean) * contrast + mean + brightness * 255``, clipped."""
    pixels = image.astype(np.float32)
    mean = float(pixels.mean())
    adjusted: FloatArray = (pixels - mean) * contrast + mean + brightness * 255.0
    return np.clip(adjusted, 0, 255).astype(np.uint8)


def sharpen(image: RGB, amount: float) -> RGB:
    """Unsharp mask with ``amount`` percent strength."""
    pil = Image.fromarray(image).filter(ImageFilter.UnsharpMask(1.5, int(amount), 2))
    return np.asarray(pil, dtype=np.uint8)


def blur(image: RGB, sigma: float) -> RGB:
    """Gaussian blur of radius ``sigma`` pixels."""
    return np.asarray(Image.fromarray(image).filter(ImageFilter.GaussianBlur(sigma)), np.uint8)


def greyscale(image: RGB) -> RGB:
    """Luma copied into the three channels."""
    grey = Image.fromarray(image).convert("L")
    return np.repeat(np.asarray(grey, dtype=np.uint8)[..., None], 3, axis=2)


def _affine_coeffs(
    size: tuple[int, int], angle: float, scale: float, shift: tuple[float, float]
) -> tuple[float, float, float, float, float, float]:
    """PIL's inverse affine (output -> input pixel): rotate/scale about the centre, then shift."""
    width, height = size
    cx, cy = width / 2, height / 2
    rad = math.radians(angle)
    a, b = math.cos(rad) / scale, math.sin(rad) / scale
    d, e = -b, a
    tx, ty = shift
    c = cx - a * (cx + tx) - b * (cy + ty)
    f = cy - d * (cx + tx) - e * (cy + ty)
    return (a, b, c, d, e, f)


def affine_rgb(image: RGB, angle: float, scale: float, shift: tuple[float, float]) -> RGB:
    """Rotate (degrees) and scale about the centre, then translate (pixels); black outside."""
    height, width = image.shape[:2]
    coeffs = _affine_coeffs((width, height), angle, scale, shift)
    out = Image.fromarray(image).transform(
        (width, height), Image.Transform.AFFINE, coeffs, Image.Resampling.BILINEAR
    )
    return np.asarray(out, dtype=np.uint8)


def affine_map(
    values: FloatArray, angle: float, scale: float, shift: tuple[float, float]
) -> FloatArray:
    """The same geometry as ``affine_rgb`` for a float32 single-channel map; zero outside."""
    height, width = values.shape
    coeffs = _affine_coeffs((width, height), angle, scale, shift)
    out = Image.fromarray(values.astype(np.float32), mode="F").transform(
        (width, height), Image.Transform.AFFINE, coeffs, Image.Resampling.BILINEAR
    )
    return np.asarray(out, dtype=np.float32)


def colour_transform(image: RGB, rng: np.random.Generator) -> RGB:
    """SBI's colour transforms: RGB shift, hue/saturation/value, brightness/contrast."""
    out = image
    if rng.random() < 0.5:
        out = rgb_shift(out, rng.uniform(-20, 20, size=3).astype(np.float32))
    if rng.random() < 0.5:
        out = hsv_shift(
            out,
            float(rng.uniform(-0.04, 0.04)),
            float(rng.uniform(0.7, 1.3)),
            float(rng.uniform(0.85, 1.15)),
        )
    if rng.random() < 0.5:
        out = brightness_contrast(
            out, float(rng.uniform(-0.1, 0.1)), float(rng.uniform(0.85, 1.15))
        )
    return out


def frequency_transform(image: RGB, rng: np.random.Generator) -> RGB:
    """One of SBI's frequency transforms: down/up-scaling, sharpening, blur or JPEG."""
    kind = int(rng.integers(4))
    if kind == 0:
        return rescale(image, float(rng.uniform(0.25, 0.75)))
    if kind == 1:
        return sharpen(image, float(rng.uniform(50, 200)))
    if kind == 2:
        return blur(image, float(rng.uniform(0.5, 1.5)))
    return jpeg(image, int(rng.integers(30, 90)))


def source_target(image: RGB, rng: np.random.Generator) -> tuple[RGB, RGB]:
    """SBI's source-target generator: two copies of ``image`` differing in statistics and geometry.

    One copy (at random, the pasted source or the surrounding target) gets colour and/or
    frequency transforms; the source then gets a slight scale/translation and, sometimes, a
    resolution mismatch (down-scaled and up-scaled again, as a swapped face generated at low
    resolution).
    """
    changed = image
    apply_colour, apply_freq = rng.random() < 0.7, rng.random() < 0.5
    if not (apply_colour or apply_freq):
        apply_colour = True
    if apply_colour:
        changed = colour_transform(changed, rng)
    if apply_freq:
        changed = frequency_transform(changed, rng)
    if np.array_equal(changed, image):  # every transform drew a no-op: force a visible one
        changed = rgb_shift(image, rng.choice([-1.0, 1.0], size=3).astype(np.float32) * 12)
    source, target = (changed, image) if rng.random() < 0.5 else (image, changed)
    height, width = image.shape[:2]
    if rng.random() < 0.7:
        dx, dy = rng.uniform(-0.03, 0.03, size=2)
        scale = float(rng.uniform(0.95, 1.05))
        source = affine_rgb(source, 0.0, scale, (float(dx) * width, float(dy) * height))
    if rng.random() < 0.4:
        source = rescale(source, float(rng.uniform(0.4, 0.9)))
    return source, target


def self_blend(image: RGB, landmarks: FloatArray, rng: np.random.Generator) -> SelfBlend:
    """A self-blended fake of ``image`` (H x W x 3) from its 468 ``landmarks`` (same pixels)."""
    height, width = image.shape[:2]
    source, target = source_target(image, rng)
    mask, variant = blend_mask((height, width), landmarks, rng)
    m = mask[..., None]
    blended = m * source.astype(np.float32) + (1.0 - m) * target.astype(np.float32)
    return SelfBlend(
        image=np.clip(np.rint(blended), 0, 255).astype(np.uint8),
        source=source,
        target=target,
        mask=mask,
        boundary=boundary_map(mask),
        variant=variant,
    )

"""Hostile bytes: a mutated capture decodes to a valid image or raises CaptureRejected, quickly."""

from __future__ import annotations

import faulthandler
import random
import time
from functools import cache

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from faceverdict.detectors.base import DecodedImage
from faceverdict.detectors.imaging import DecodeLimits, decode_capture, sniff_media_type
from faceverdict.errors import AnimatedImage, CaptureRejected
from tests.support import images

PER_CALL_SECONDS = 2.0
HANG_SECONDS = 30  # a decoder stuck in C never returns to Python: faulthandler kills the run
LIMITS = st.sampled_from([DecodeLimits(), DecodeLimits(max_pixels=4_000_000, work_long_side=16)])


def fuzz(examples: int) -> settings:
    """Settings for one fuzz test; failures print a blob for ``@reproduce_failure``."""
    return settings(
        max_examples=examples,
        deadline=None,
        print_blob=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


@cache
def jpeg_seeds() -> tuple[bytes, ...]:
    exif = images.exif_bytes(orientation=6, software="seed", user_comment="fuzz")
    return (
        images.jpeg_bytes(48, 32, exif=exif, xmp=b"<x:xmpmeta/>"),
        images.jpeg_bytes(40, 24, quality=70, progressive=True, seed=1),
        images.jpeg_bytes(24, 40, mode="L", seed=2),
        images.jpeg_bytes(32, 32, mode="CMYK", seed=3),
        images.insert_after_soi(
            images.jpeg_bytes(16, 24, seed=4), images.iptc_app13({(2, 120): b"caption"})
        ),
    )


@cache
def png_seeds() -> tuple[bytes, ...]:
    palette = images.noise_image(24, 16, seed=5).convert("P")
    palette.info["transparency"] = 3
    return (
        images.png_bytes(40, 24, text={"parameters": "steps: 20", "prompt": "{}"}),
        images.png_bytes(24, 24, mode="RGBA", seed=1),
        images.png_bytes(24, 16, image=palette),
        images.png_bytes(32, 16, mode="I;16"),
        images.png_bytes(16, 32, mode="LA", exif=images.exif_bytes(orientation=8)),
        images.animated_bytes("PNG", 16, 16, frames=2),
    )


@cache
def webp_seeds() -> tuple[bytes, ...]:
    return (
        images.webp_bytes(48, 32),
        images.webp_bytes(24, 24, lossless=True, mode="RGBA", seed=1),
        images.webp_bytes(16, 40, quality=30, image=Image.new("RGB", (16, 40), (200, 10, 10))),
        images.animated_bytes("WEBP", 16, 16, frames=2),
    )


@cache
def avif_seeds() -> tuple[bytes, ...]:
    return (
        images.avif_bytes(32, 24),
        images.avif_bytes(16, 16, quality=30, seed=1),
    )


def _decode_or_reject(data: bytes, limits: DecodeLimits) -> DecodedImage | None:
    faulthandler.dump_traceback_later(HANG_SECONDS, exit=True)
    start = time.perf_counter()
    try:
        return decode_capture(data, limits)
    except CaptureRejected:
        return None
    finally:
        faulthandler.cancel_dump_traceback_later()
        elapsed = time.perf_counter() - start
        assert elapsed < PER_CALL_SECONDS, f"decoding took {elapsed:.2f} s"


def _check(data: bytes, limits: DecodeLimits) -> None:
    decoded = _decode_or_reject(data, limits)
    if decoded is None:
        return
    pixels = decoded.pixels
    assert isinstance(pixels, np.ndarray)
    assert pixels.dtype == np.uint8
    assert pixels.ndim == 3
    assert pixels.shape[2] == 3
    assert pixels.shape[0] >= 1
    assert pixels.shape[1] >= 1
    assert pixels.flags.c_contiguous
    width, height = decoded.original_size
    assert 1 <= width * height <= limits.max_pixels
    assert pixels.shape[0] * pixels.shape[1] <= width * height
    assert 0 < decoded.scale <= 1
    assert decoded.media_type == sniff_media_type(data)
    metadata = decoded.metadata
    texts = [metadata.xmp]
    for table in (metadata.exif, metadata.png_text, metadata.iptc):
        texts += [*table.keys(), *table.values()]
    assert all(isinstance(text, str) for text in texts)
    assert sum(map(len, texts)) <= 512 * 1024


def _mutated(seeds: tuple[bytes, ...], index: int, rng: random.Random) -> bytes:
    return images.mutate(seeds[index % len(seeds)], rng)


@fuzz(1000)
@given(index=st.integers(0, 100), rng=st.randoms(use_true_random=False), limits=LIMITS)
def test_mutated_jpeg(index: int, rng: random.Random, limits: DecodeLimits) -> None:
    _check(_mutated(jpeg_seeds(), index, rng), limits)


@fuzz(1000)
@given(index=st.integers(0, 100), rng=st.randoms(use_true_random=False), limits=LIMITS)
def test_mutated_png(index: int, rng: random.Random, limits: DecodeLimits) -> None:
    _check(_mutated(png_seeds(), index, rng), limits)


@fuzz(700)
@given(index=st.integers(0, 100), rng=st.randoms(use_true_random=False), limits=LIMITS)
def test_mutated_webp(index: int, rng: random.Random, limits: DecodeLimits) -> None:
    _check(_mutated(webp_seeds(), index, rng), limits)


@fuzz(400)
@given(index=st.integers(0, 100), rng=st.randoms(use_true_random=False), limits=LIMITS)
def test_mutated_avif(index: int, rng: random.Random, limits: DecodeLimits) -> None:
    _check(_mutated(avif_seeds(), index, rng), limits)


@fuzz(200)
@given(
    prefix=st.sampled_from([b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"RIFF\0\0\0\0WEBPVP8X"]),
    body=st.binary(max_size=512),
    limits=LIMITS,
)
def test_random_bytes_behind_a_valid_signature(
    prefix: bytes, body: bytes, limits: DecodeLimits
) -> None:
    _check(prefix + body, limits)


def test_seeds_are_valid_captures() -> None:
    animated = 0
    for seeds in (jpeg_seeds(), png_seeds(), webp_seeds(), avif_seeds()):
        for data in seeds:
            assert sniff_media_type(data) is not None
            try:
                decode_capture(data)
            except AnimatedImage:
                animated += 1
    assert animated == 2  # one APNG and one animated WebP seed

"""Image builders for tests: small valid captures in every accepted format, and a mutator.

Everything is generated in memory from a seed, so tests never depend on files on disk.
"""

from __future__ import annotations

import io
import random
import struct
import zlib
from collections.abc import Callable, Mapping, Sequence

import numpy as np
from PIL import Image, PngImagePlugin

ORIENTATION_TAG = 0x0112
SOFTWARE_TAG = 0x0131
EXIF_IFD = 0x8769
USER_COMMENT_TAG = 0x9286
MARK = (255, 0, 0)


def noise_image(width: int, height: int, seed: int = 0, mode: str = "RGB") -> Image.Image:
    """A photo-like test image: smooth gradients plus sensor-like noise."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack(
        [
            255 * xs / max(width - 1, 1),
            255 * ys / max(height - 1, 1),
            128 + 100 * np.sin((xs + ys) / 37.0),
        ],
        axis=-1,
    )
    noisy = base + rng.normal(0, 12, size=base.shape).astype(np.float32)
    image = Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))
    return image if mode == "RGB" else image.convert(mode)


def marked_image(width: int, height: int, mark: int = 16) -> Image.Image:
    """A grey image with a red square in its stored top-left corner."""
    pixels = np.full((height, width, 3), 90, dtype=np.uint8)
    pixels[:mark, :mark] = MARK
    return Image.fromarray(pixels)


def exif_bytes(
    orientation: int | None = None,
    software: str | None = None,
    user_comment: str | None = None,
    extra: Mapping[int, object] | None = None,
) -> bytes:
    """A little-endian EXIF block with the given IFD0 / Exif-IFD entries."""
    exif = Image.Exif()
    if orientation is not None:
        exif[ORIENTATION_TAG] = orientation
    if software is not None:
        exif[SOFTWARE_TAG] = software
    for tag, value in (extra or {}).items():
        exif[tag] = value
    if user_comment is not None:
        exif.get_ifd(EXIF_IFD)[USER_COMMENT_TAG] = b"UNICODE\x00" + user_comment.encode("utf-16-le")
    return exif.tobytes()


def jpeg_bytes(
    width: int,
    height: int,
    quality: int = 90,
    exif_orientation: int | None = None,
    seed: int = 0,
    *,
    image: Image.Image | None = None,
    mode: str = "RGB",
    progressive: bool = False,
    exif: bytes | None = None,
    xmp: bytes | None = None,
) -> bytes:
    """Encode a JPEG; ``exif_orientation`` writes an EXIF Orientation tag."""
    image = image if image is not None else noise_image(width, height, seed, mode)
    if exif is None and exif_orientation is not None:
        exif = exif_bytes(orientation=exif_orientation)
    options: dict[str, object] = {"quality": quality, "progressive": progressive}
    if exif is not None:
        options["exif"] = exif
    if xmp is not None:
        options["xmp"] = xmp
    return _save(image, "JPEG", **options)


def png_bytes(
    width: int,
    height: int,
    seed: int = 0,
    *,
    mode: str = "RGB",
    text: Mapping[str, str] | None = None,
    image: Image.Image | None = None,
    exif: bytes | None = None,
) -> bytes:
    """Encode a PNG; ``mode`` "I;16" gives 16-bit greyscale, ``text`` adds tEXt chunks."""
    if image is None:
        if mode == "I;16":
            ramp = np.linspace(0, 65535, width * height, dtype=np.float64).reshape(height, width)
            image = Image.fromarray(ramp.astype(np.uint16))
        else:
            image = noise_image(width, height, seed, mode)
    info = PngImagePlugin.PngInfo()
    for key, value in (text or {}).items():
        info.add_text(key, value)
    options: dict[str, object] = {"pnginfo": info}
    if exif is not None:
        options["exif"] = exif
    return _save(image, "PNG", **options)


def webp_bytes(
    width: int,
    height: int,
    quality: int = 80,
    seed: int = 0,
    *,
    lossless: bool = False,
    mode: str = "RGB",
    image: Image.Image | None = None,
) -> bytes:
    """Encode a still WebP (lossy by default)."""
    image = image if image is not None else noise_image(width, height, seed, mode)
    return _save(image, "WEBP", quality=quality, lossless=lossless)


def avif_bytes(
    width: int,
    height: int,
    quality: int = 60,
    seed: int = 0,
    *,
    image: Image.Image | None = None,
) -> bytes:
    """Encode a still AVIF."""
    image = image if image is not None else noise_image(width, height, seed)
    return _save(image, "AVIF", quality=quality, speed=10)


def animated_bytes(fmt: str, width: int = 32, height: int = 24, frames: int = 3) -> bytes:
    """Encode an animation (``fmt`` is "WEBP", "PNG" for APNG, or "AVIF")."""
    images = [noise_image(width, height, seed) for seed in range(frames)]
    options: dict[str, object] = {"save_all": True, "append_images": images[1:], "duration": 100}
    if fmt == "AVIF":
        options["speed"] = 10
    return _save(images[0], fmt, **options)


def png_with_header(width: int, height: int) -> bytes:
    """A PNG whose IHDR claims ``width`` x ``height`` (valid CRC) but holds one tiny IDAT."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + png_chunk(b"IEND", b"")
    )


def png_chunk(kind: bytes, body: bytes) -> bytes:
    """One PNG chunk with a correct CRC."""
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def jpeg_segment(marker: int, body: bytes) -> bytes:
    """One JPEG marker segment (``marker`` is the byte after 0xFF)."""
    return bytes([0xFF, marker]) + struct.pack(">H", len(body) + 2) + body


def iptc_app13(records: Mapping[tuple[int, int], bytes]) -> bytes:
    """An APP13 Photoshop segment holding IPTC-IIM records, to insert after SOI."""
    iim = b"".join(
        bytes([0x1C, record, dataset]) + struct.pack(">H", len(value)) + value
        for (record, dataset), value in records.items()
    )
    padded = iim + b"\x00" * (len(iim) & 1)
    block = b"8BIM" + struct.pack(">H", 0x0404) + b"\x00\x00" + struct.pack(">I", len(iim))
    return jpeg_segment(0xED, b"Photoshop 3.0\x00" + block + padded)


def insert_after_soi(jpeg: bytes, segment: bytes) -> bytes:
    """Insert a segment right after a JPEG's SOI marker."""
    return jpeg[:2] + segment + jpeg[2:]


def _save(image: Image.Image, fmt: str, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


# --- mutation ----------------------------------------------------------------------------------

_SIZES = (0, 1, 2, 3, 7, 255, 256, 4097, 16383, 65535, 2**24 - 1, 2**31 - 1, 2**32 - 1)
_PNG_KINDS: tuple[bytes, ...] = (
    b"tEXt",
    b"zTXt",
    b"iTXt",
    b"eXIf",
    b"acTL",
    b"fcTL",
    b"fdAT",
    b"IDAT",
    b"PLTE",
)
_PNG_KINDS += (b"tRNS", b"iCCP", b"sBIT", b"IHDR", b"IEND", b"gAMA", b"xYzW")
_RIFF_KINDS = (b"EXIF", b"XMP ", b"ICCP", b"ANIM", b"ANMF", b"ALPH", b"VP8X", b"VP8 ", b"VP8L")
_BOX_KINDS = (b"free", b"meta", b"ispe", b"iloc", b"ipma", b"mdat", b"ftyp", b"pixi", b"av1C")


def mutate(data: bytes, rng: random.Random) -> bytes:
    """Apply one to three random damaging edits, some of them aware of the container format."""
    out = bytearray(data)
    for _ in range(rng.randint(1, 3)):
        edit = rng.choice(_EDITS)
        out = edit(out, rng)
    return bytes(out)


def _flip_bits(data: bytearray, rng: random.Random) -> bytearray:
    for _ in range(rng.randint(1, 8)):
        if data:
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
    return data


def _overwrite(data: bytearray, rng: random.Random) -> bytearray:
    if data:
        pos = rng.randrange(len(data))
        fill = rng.choice((b"\x00", b"\xff", bytes([rng.randrange(256)])))
        data[pos : pos + rng.randint(1, 16)] = fill * rng.randint(1, 16)
    return data


def _truncate(data: bytearray, rng: random.Random) -> bytearray:
    return data[: rng.randrange(len(data) + 1)]


def _insert_random(data: bytearray, rng: random.Random) -> bytearray:
    pos = rng.randrange(len(data) + 1)
    data[pos:pos] = rng.randbytes(rng.randint(1, 64))
    return data


def _duplicate(data: bytearray, rng: random.Random) -> bytearray:
    if data:
        start = rng.randrange(len(data))
        piece = data[start : start + rng.randint(1, 256)]
        pos = rng.randrange(len(data) + 1)
        data[pos:pos] = piece * rng.randint(1, 4)
    return data


def _insert_chunk(data: bytearray, rng: random.Random) -> bytearray:
    body = rng.randbytes(rng.randint(0, 48))
    if data.startswith(b"\x89PNG"):
        chunk = png_chunk(rng.choice(_PNG_KINDS), body)
        if rng.random() < 0.2:
            chunk = chunk[:-4] + rng.randbytes(4)  # bad CRC
        pos = _boundary(data, rng, _png_chunk_starts(data))
    elif data.startswith(b"\xff\xd8"):
        marker = rng.choice((0xE0, 0xE1, 0xE2, 0xED, 0xFE, 0xDB, 0xC4, 0xC0, 0xC2, 0xDA, 0xDD))
        chunk = jpeg_segment(marker, body)
        pos = _boundary(data, rng, _jpeg_segment_starts(data))
    elif data.startswith(b"RIFF"):
        kind = rng.choice(_RIFF_KINDS)
        chunk = kind + struct.pack("<I", len(body)) + body + b"\x00" * (len(body) & 1)
        pos = rng.choice((12, len(data)))
    else:
        kind = rng.choice(_BOX_KINDS)
        chunk = struct.pack(">I", len(body) + 8) + kind + body
        pos = rng.randrange(len(data) + 1)
    data[pos:pos] = chunk
    return data


def _change_dimensions(data: bytearray, rng: random.Random) -> bytearray:
    """Rewrite the declared width and/or height in the format's header."""
    size = rng.choice(_SIZES)
    if data.startswith(b"\x89PNG") and len(data) >= 33:
        offset = rng.choice((16, 20))
        data[offset : offset + 4] = struct.pack(">I", size)
        if rng.random() < 0.8:  # keep the CRC valid so the decoder gets past the header check
            data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    elif data.startswith(b"\xff\xd8"):
        for start in _jpeg_segment_starts(data):
            if data[start + 1] in (0xC0, 0xC1, 0xC2) and start + 9 <= len(data):
                offset = start + rng.choice((5, 7))
                data[offset : offset + 2] = struct.pack(">H", size & 0xFFFF)
                break
    elif data.startswith(b"RIFF") and len(data) >= 30:
        kind = bytes(data[12:16])
        if kind == b"VP8X":
            offset = rng.choice((24, 27))
            data[offset : offset + 3] = (size & 0xFFFFFF).to_bytes(3, "little")
        elif kind == b"VP8L":
            bits = int.from_bytes(data[21:25], "little")
            shift = rng.choice((0, 14))
            bits = (bits & ~(0x3FFF << shift)) | ((size & 0x3FFF) << shift)
            data[21:25] = bits.to_bytes(4, "little")
        else:
            offset = rng.choice((26, 28))
            data[offset : offset + 2] = struct.pack("<H", size & 0xFFFF)
    else:
        found = data.find(b"ispe")
        if found >= 0 and found + 16 <= len(data):
            offset = found + rng.choice((8, 12))
            data[offset : offset + 4] = struct.pack(">I", size)
    return data


def _boundary(data: bytearray, rng: random.Random, starts: Sequence[int]) -> int:
    return rng.choice(starts) if starts else rng.randrange(len(data) + 1)


def _png_chunk_starts(data: bytearray) -> list[int]:
    starts: list[int] = []
    pos = 8
    while pos + 8 <= len(data) and len(starts) < 64:
        starts.append(pos)
        pos += 12 + int.from_bytes(data[pos : pos + 4], "big")
    return starts


def _jpeg_segment_starts(data: bytearray) -> list[int]:
    starts: list[int] = []
    pos = 2
    while pos + 4 <= len(data) and data[pos] == 0xFF and len(starts) < 64:
        starts.append(pos)
        if data[pos + 1] == 0xDA:
            break
        pos += 2 + int.from_bytes(data[pos + 2 : pos + 4], "big")
    return starts


_EDITS: tuple[Callable[[bytearray, random.Random], bytearray], ...] = (
    _flip_bits,
    _overwrite,
    _truncate,
    _insert_random,
    _duplicate,
    _insert_chunk,
    _change_dimensions,
    _change_dimensions,
)

"""Defensive decoding of uploaded captures into an oriented RGB working copy.

Decisions, and why:

- Formats are recognised by content (magic bytes) against an allow-list, never by filename or
  client content-type.
- Each format is opened with its own Pillow plugin class rather than ``Image.open``, which tries
  every registered plugin (more parsers exposed to hostile bytes), turns JPEGs that carry an MPF
  index (Ultra HDR and many Android phones) into multi-frame MPO images, and whose bomb check reads
  the process-global ``Image.MAX_IMAGE_PIXELS`` that other code may change. The pixel cap is
  checked here, from the header, before any pixel buffer exists; WebP is measured from its own
  header first because Pillow's WebP plugin allocates the canvas while opening.
- Pillow's header parsers are Python loops, so a cheap walk over JPEG segments and PNG chunks bounds
  their number first, and caps the number of JPEG scans (thousands of progressive scans make a tiny
  file cost seconds of CPU).
- Truncated data is an error: ``ImageFile.LOAD_TRUNCATED_IMAGES`` is never set here.
- Warnings are not silenced: ``warnings.catch_warnings`` swaps process-global state and is not
  thread-safe, and decodes run in worker threads. Paths that warn are avoided (MPO sniffing, the
  global bomb check) or best-effort (EXIF); a warning the host's filters turn into an error is
  handled like any other decoder exception.
- ICC profiles are ignored and pixels treated as sRGB: detector training data is decoded the same
  way, it costs nothing, and it keeps LittleCMS away from untrusted profiles. CMYK and YCCK JPEGs go
  through Pillow's plain conversion (the plugin handles Adobe's inverted CMYK).
- Transparency is composited onto white, what a reviewer sees in a browser and the usual backdrop of
  an ID photo. 16-bit greyscale is scaled to 8 bits (v / 257), not clipped.
- EXIF orientation is applied for every format, as browsers do; AVIF ``irot``/``imir`` reach us as
  an orientation value. GPS tags are never copied into metadata (the subject's location).
- ``pixels`` is read-only: all detectors share one array and none may change it for the others.
"""

from __future__ import annotations

import io
import math
import numbers
import re
import struct
from dataclasses import dataclass
from typing import Final

import numpy as np
from PIL import (
    AvifImagePlugin,
    ExifTags,
    Image,
    ImageFile,
    IptcImagePlugin,
    JpegImagePlugin,
    PngImagePlugin,
    WebPImagePlugin,
    _imaging,
    features,
)

from faceverdict.detectors.base import DecodedImage, ImageMetadata, RGBImage
from faceverdict.errors import (
    AnimatedImage,
    CaptureRejected,
    CorruptedImage,
    ImageTooLarge,
    UnsupportedFormat,
)

JPEG: Final = "image/jpeg"
PNG: Final = "image/png"
WEBP: Final = "image/webp"
AVIF: Final = "image/avif"

_PLUGINS: Final[dict[str, type[ImageFile.ImageFile]]] = {
    JPEG: JpegImagePlugin.JpegImageFile,
    PNG: PngImagePlugin.PngImageFile,
    WEBP: WebPImagePlugin.WebPImageFile,
    AVIF: AvifImagePlugin.AvifImageFile,
}
_PIL_FORMATS: Final = {JPEG: "JPEG", PNG: "PNG", WEBP: "WEBP", AVIF: "AVIF"}
# Checked once: a Pillow build without the codec cannot decode these, so they are not allowed.
_DECODABLE: Final = {
    JPEG: features.check("jpg"),
    PNG: features.check("zlib"),
    WEBP: features.check("webp"),
    AVIF: features.check("avif"),
}

# Structure caps: legitimate files stay far below them (phones write < 100 JPEG segments, encoders
# < 20 scans, PNG writers a few thousand IDAT chunks at most for 25 MiB), while hostile files at the
# caps cost Pillow's Python parsers tens of milliseconds instead of seconds.
_MAX_JPEG_SEGMENTS: Final = 512
_MAX_JPEG_SCANS: Final = 100
_JPEG_SCAN_PASSES: Final = 20  # scans x pixels may not exceed this many full-size images
_MAX_JPEG_JUNK: Final = 4096
# Bytes per kind of segment before the first scan, for the kinds Pillow parses in Python loops
# (quantisation tables quadratically, Photoshop resource blocks and frame headers linearly).
_JPEG_HEADER_BUDGET: Final = {"DQT": 4096, "SOF": 1024, "APP13": 256 * 1024}
_MAX_PNG_CHUNKS: Final = 10_000
_MAX_PNG_ANCILLARY: Final = 1000  # chunks other than IDAT
_MAX_PNG_COMPRESSED: Final = 16  # zTXt, iTXt, iCCP: each may inflate to 1 MiB
_MAX_EXIF_BYTES: Final = 256 * 1024  # JPEG caps EXIF at 64 KiB; larger blobs elsewhere are hostile

# Metadata caps (characters): enough for a ComfyUI workflow, not enough to exhaust memory.
_MAX_VALUE_CHARS: Final = 64 * 1024
_MAX_TOTAL_CHARS: Final = 512 * 1024
_MAX_ENTRIES: Final = 256

_BACKGROUND: Final = (255, 255, 255)
_ORIENTATION: Final = ExifTags.Base.Orientation
_TRANSPOSE: Final = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_SIXTEEN_BIT: Final = frozenset({"I;16", "I;16B", "I;16L", "I;16N", "I"})
_ALPHA_MODES: Final = frozenset({"RGBA", "RGBa", "LA", "La", "PA"})

# EXIF tags that are pointers, binary blobs or location: never copied into metadata.
_EXIF_SKIP: Final = frozenset({0x8769, 0x8825, 0xA005, 0x014A, 0x927C, 0x02BC, 0x83BB, 0x8773})
_EXIF_USER_COMMENT: Final = 0x9286
_EXIF_XP_TAGS: Final = range(0x9C9B, 0x9CA0)  # Windows XPTitle..XPSubject, UTF-16LE
_IPTC_NAMES: Final = {
    (2, 5): "ObjectName",
    (2, 25): "Keywords",
    (2, 55): "DateCreated",
    (2, 60): "TimeCreated",
    (2, 65): "OriginatingProgram",
    (2, 70): "ProgramVersion",
    (2, 80): "By-line",
    (2, 85): "By-lineTitle",
    (2, 90): "City",
    (2, 101): "Country",
    (2, 105): "Headline",
    (2, 110): "Credit",
    (2, 115): "Source",
    (2, 116): "CopyrightNotice",
    (2, 120): "Caption-Abstract",
    (2, 122): "Writer-Editor",
}

_JPEG_TO_MARKER: Final = re.compile(rb"([^\xff]*)(\xff+)")
# In entropy-coded data 0xFF is followed by 0x00 (stuffing) or a restart marker; anything else
# ends the scan.
_JPEG_SCAN_END: Final = re.compile(rb"\xff[^\x00\xd0-\xd7]")
_PNG_SIGNATURE: Final = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True)
class DecodeLimits:
    """Caps on what one capture may cost, and the size of the working copy."""

    max_bytes: int = 25 * 2**20
    max_pixels: int = 60_000_000
    # 1536: a 4000 px phone JPEG decodes at 1/2 DCT scale (2000 px), about half the CPU of a
    # full decode, while a selfie face still spans several hundred pixels for the detectors.
    # Assurance decodes at full resolution instead.
    work_long_side: int = 1536

    def __post_init__(self) -> None:
        if min(self.max_bytes, self.max_pixels, self.work_long_side) <= 0:
            raise ValueError("decode limits must be positive")


def sniff_media_type(data: bytes) -> str | None:
    """Return the allow-listed media type ``data`` holds, judged by content only, or None."""
    media_type: str | None = None
    if data.startswith(b"\xff\xd8\xff"):
        media_type = JPEG
    elif data.startswith(_PNG_SIGNATURE):
        media_type = PNG
    elif (
        data[:4] == b"RIFF" and data[8:12] == b"WEBP" and data[12:16] in (b"VP8 ", b"VP8L", b"VP8X")
    ):
        media_type = WEBP
    elif _is_avif(data):
        media_type = AVIF
    if media_type is None or not _DECODABLE[media_type]:
        return None
    return media_type


def decode_capture(data: bytes, limits: DecodeLimits = DecodeLimits()) -> DecodedImage:
    """Decode an upload into an oriented RGB working copy, or raise a ``CaptureRejected``."""
    if len(data) > limits.max_bytes:
        raise ImageTooLarge(f"the upload has {len(data)} bytes; the limit is {limits.max_bytes}")
    media_type = sniff_media_type(data)
    if media_type is None:
        raise UnsupportedFormat("only JPEG, PNG, WebP and AVIF images are accepted")
    try:
        return _decode(data, media_type, limits)
    except CaptureRejected:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageTooLarge("the image has too many pixels") from exc
    except MemoryError as exc:
        # Within the caps a decode needs a few hundred MiB at most; running out means hostile input.
        raise ImageTooLarge("the image needs too much memory to decode") from exc
    except Exception as exc:
        # Decoders signal bad data with OSError, ValueError, SyntaxError, struct.error, EOFError...
        raise CorruptedImage(f"the {_PIL_FORMATS[media_type]} image cannot be decoded") from exc


def keep_pixel_memory(blocks: int = 16) -> None:
    """Let Pillow reuse freed 16 MiB pixel blocks across decodes; process-wide, call at start-up."""
    # Fresh blocks are page-faulted in on every decode: about a third of a 12 MP JPEG's decode
    # time. Cached blocks stay resident (up to ``blocks`` x 16 MiB), so the composition root
    # decides, not this module.
    _imaging.set_blocks_max(blocks)


def _decode(data: bytes, media_type: str, limits: DecodeLimits) -> DecodedImage:
    scans = _check_structure(data, media_type, limits)
    with _PLUGINS[media_type](io.BytesIO(data)) as im:
        if im.format != _PIL_FORMATS[media_type]:
            raise UnsupportedFormat("the image content does not match its signature")
        width, height = im.size
        _check_size(width, height, limits)
        # Each progressive scan is another pass over the whole image: bound passes x pixels.
        if scans * width * height > _JPEG_SCAN_PASSES * limits.max_pixels:
            raise ImageTooLarge("the JPEG has too many scans for its size to decode in time")
        if int(getattr(im, "n_frames", 1)) > 1:
            raise AnimatedImage("the image has several frames; send a single still")
        if media_type == JPEG:
            _draft(im, limits.work_long_side)
        im.load()
        orientation, metadata = _read_metadata(im, media_type)
        work = _reduce(_to_rgb(im), limits.work_long_side)
        if orientation in _TRANSPOSE:
            work = work.transpose(_TRANSPOSE[orientation])
        # Inside the block: ``work`` may be ``im`` itself, which closing would invalidate.
        pixels = _to_array(work)
    original = (height, width) if orientation in (5, 6, 7, 8) else (width, height)
    return DecodedImage(
        pixels=pixels,
        media_type=media_type,
        original_size=original,
        scale=pixels.shape[1] / original[0],
        metadata=metadata,
    )


def _check_size(width: int, height: int, limits: DecodeLimits) -> None:
    if width <= 0 or height <= 0:
        raise CorruptedImage("the image has no pixels")
    if width * height > limits.max_pixels:
        raise ImageTooLarge(
            f"the image is {width}x{height} pixels; the limit is {limits.max_pixels} pixels"
        )


# --- format recognition and header walks -----------------------------------------------------


def _is_avif(data: bytes) -> bool:
    # ISO-BMFF: the first box is ftyp (major brand, minor version, compatible brands). HEIF/HEIC
    # share the container, so an AVIF brand must be listed, not only mif1/msf1.
    if len(data) < 16 or data[4:8] != b"ftyp":
        return False
    box_size = int.from_bytes(data[:4], "big")
    if box_size < 16 or box_size > min(len(data), 1024):
        return False
    brands = {data[8:12]} | {data[i : i + 4] for i in range(16, box_size - 3, 4)}
    return bool(brands & {b"avif", b"avis"})


def _check_structure(data: bytes, media_type: str, limits: DecodeLimits) -> int:
    """Walk the container before Pillow sees it; returns the number of JPEG scans."""
    if media_type == JPEG:
        return _walk_jpeg(data)
    if media_type == PNG:
        _walk_png(data)
    elif media_type == WEBP:
        width, height = _webp_size(data)
        _check_size(width, height, limits)
    return 0


def _walk_jpeg(data: bytes) -> int:
    """Bound the segments, junk and scans of the primary image; unparsable tails go to libjpeg."""
    pos, segments, scans, junk, end = 2, 0, 0, 0, len(data)
    spent = dict.fromkeys(_JPEG_HEADER_BUDGET, 0)
    while pos < end:
        match = _JPEG_TO_MARKER.match(data, pos)
        if match is None:
            break
        junk += len(match.group(1)) + len(match.group(2)) - 1
        pos = match.end()
        if junk > _MAX_JPEG_JUNK:
            raise CorruptedImage("the JPEG has too much data outside its segments")
        if pos >= end:
            break
        marker = data[pos]
        pos += 1
        if marker == 0xD9:  # EOI: later bytes (MPF images, motion-photo video) are never decoded
            break
        if marker == 0x00 or marker == 0x01 or 0xD0 <= marker <= 0xD7:
            continue  # stray stuffing, TEM or restart markers: no length field
        if pos + 2 > end:
            break
        segments += 1
        if segments > _MAX_JPEG_SEGMENTS:
            raise CorruptedImage("the JPEG has too many segments")
        length = int.from_bytes(data[pos : pos + 2], "big")
        kind = _jpeg_budget_kind(marker)
        if scans == 0 and kind is not None:
            spent[kind] += length
            if spent[kind] > _JPEG_HEADER_BUDGET[kind]:
                raise CorruptedImage(f"the JPEG has oversized {kind} segments")
        pos += length
        if marker == 0xDA:
            scans += 1
            if scans > _MAX_JPEG_SCANS:
                raise ImageTooLarge("the JPEG has too many scans to decode in time")
            scan_end = _JPEG_SCAN_END.search(data, pos)
            if scan_end is None:
                break
            pos = scan_end.start()
    return scans


def _jpeg_budget_kind(marker: int) -> str | None:
    if marker == 0xDB:
        return "DQT"
    if marker == 0xED:
        return "APP13"
    if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
        return "SOF"
    return None


def _walk_png(data: bytes) -> None:
    pos, chunks, ancillary, compressed, end = len(_PNG_SIGNATURE), 0, 0, 0, len(data)
    while pos + 8 <= end:
        length, kind = struct.unpack_from(">I4s", data, pos)
        chunks += 1
        ancillary += kind != b"IDAT"
        compressed += kind in (b"zTXt", b"iTXt", b"iCCP")
        if chunks > _MAX_PNG_CHUNKS or ancillary > _MAX_PNG_ANCILLARY:
            raise CorruptedImage("the PNG has too many chunks")
        if compressed > _MAX_PNG_COMPRESSED:
            raise CorruptedImage("the PNG has too many compressed text chunks")
        if kind == b"IEND":
            return
        pos += 12 + length


def _webp_size(data: bytes) -> tuple[int, int]:
    """Canvas size from the first chunk, read before Pillow allocates a canvas for it."""
    kind, body = data[12:16], data[20:30]
    if len(body) < 10:
        raise CorruptedImage("the WebP header is truncated")
    if kind == b"VP8X":
        return 1 + int.from_bytes(body[4:7], "little"), 1 + int.from_bytes(body[7:10], "little")
    if kind == b"VP8L":
        if body[0] != 0x2F:
            raise CorruptedImage("the WebP lossless header is invalid")
        bits = int.from_bytes(body[1:5], "little")
        return 1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF)
    if body[3:6] != b"\x9d\x01\x2a":
        raise CorruptedImage("the WebP lossy header is invalid")
    width, height = struct.unpack_from("<HH", body, 6)
    return int(width) & 0x3FFF, int(height) & 0x3FFF


# --- pixels ----------------------------------------------------------------------------------


def _draft(im: ImageFile.ImageFile, work_long_side: int) -> None:
    """Let libjpeg decode at 1/2, 1/4 or 1/8 scale while the long side stays >= work_long_side."""
    width, height = im.size
    long_side = max(width, height)
    if long_side < 2 * work_long_side:
        return
    ratio = work_long_side / long_side
    # Pillow picks the largest DCT scale whose result is still >= this box in both directions.
    im.draft("RGB", (max(1, math.ceil(width * ratio)), max(1, math.ceil(height * ratio))))


def _to_rgb(im: Image.Image) -> Image.Image:
    if im.mode in _SIXTEEN_BIT:
        wide = np.asarray(im).astype(np.int64)
        scaled = (np.clip(wide, 0, 65535) + 128) // 257
        im = Image.fromarray(scaled.astype(np.uint8))
    if im.mode in _ALPHA_MODES or "transparency" in im.info:
        # Through RGBA also for palette and colour-key transparency: converting those straight to
        # RGB warns and drops the transparency.
        rgba = im.convert("RGBA")
        flat = Image.new("RGB", rgba.size, _BACKGROUND)
        flat.paste(rgba, mask=rgba.getchannel("A"))
        return flat
    return im if im.mode == "RGB" else im.convert("RGB")


def _reduce(im: Image.Image, work_long_side: int) -> Image.Image:
    factor = max(im.size) // work_long_side
    # Box-average by an integer factor: fast, alias-free, long side stays >= work_long_side.
    return im.reduce(factor) if factor >= 2 else im


def _to_array(im: Image.Image) -> RGBImage:
    """Copy an RGB image into a new read-only HxWx3 array."""
    width, height = im.size
    try:
        pixels = _pack_rgb(im, width, height)
    except AttributeError:  # Pillow moved its private encoder factory: take the slow public path
        pixels = np.ascontiguousarray(np.asarray(im), dtype=np.uint8)
    if pixels.shape != (height, width, 3):
        raise CorruptedImage("the image did not decode to RGB")
    pixels.flags.writeable = False
    return pixels


def _pack_rgb(im: Image.Image, width: int, height: int) -> RGBImage:
    # ``np.asarray(im)`` goes through ``tobytes``, which builds the image twice in fresh Python
    # memory; the page faults alone cost ~40 ms for 12 MP. Packing 256 KiB chunks into one numpy
    # buffer (reused chunk memory, huge pages) does the same copy in ~14 ms.
    out = np.empty(width * height * 3, dtype=np.uint8)
    encoder = Image._getencoder("RGB", "raw", "RGB")
    encoder.setimage(im.im, (0, 0, width, height))
    pos, status, bufsize = 0, 0, max(2**18, width * 4)
    while status == 0:
        _, status, chunk = encoder.encode(bufsize)
        out[pos : pos + len(chunk)] = np.frombuffer(chunk, dtype=np.uint8)
        pos += len(chunk)
    if status < 0 or pos != out.size:
        raise CorruptedImage("the image could not be copied out of the decoder")
    return out.reshape(height, width, 3)


# --- metadata --------------------------------------------------------------------------------


class _Budget:
    """Caps each value and the total text kept from one file."""

    def __init__(self) -> None:
        self.left = _MAX_TOTAL_CHARS

    def put(self, into: dict[str, str], key: str, value: str) -> None:
        key = key[:256]
        if len(into) >= _MAX_ENTRIES or key in into or self.left <= 0:
            return
        value = value[: max(0, min(_MAX_VALUE_CHARS, self.left - len(key)))]
        self.left -= len(key) + len(value)
        into[key] = value

    def text(self, value: str) -> str:
        value = value[: min(_MAX_VALUE_CHARS, max(self.left, 0))]
        self.left -= len(value)
        return value


def _read_metadata(im: ImageFile.ImageFile, media_type: str) -> tuple[int, ImageMetadata]:
    """Orientation and provenance text; every part is best-effort and never rejects a capture."""
    budget = _Budget()
    # XMP first: it carries IPTC DigitalSourceType and C2PA hints, the strongest provenance text.
    xmp = _read_xmp(im, budget)
    orientation, exif = _read_exif(im, budget)
    png_text: dict[str, str] = {}
    if isinstance(im, PngImagePlugin.PngImageFile):
        try:
            for key, value in im.text.items():
                budget.put(png_text, key, str(value))
        except Exception:
            pass  # corrupt text chunks leave the pixels usable
    iptc = _read_iptc(im, budget) if media_type == JPEG else {}
    return orientation, ImageMetadata(exif=exif, xmp=xmp, png_text=png_text, iptc=iptc)


def _read_exif(im: Image.Image, budget: _Budget) -> tuple[int, dict[str, str]]:
    found: dict[str, str] = {}
    if len(im.info.get("exif") or b"") > _MAX_EXIF_BYTES:
        return 1, found
    try:
        exif = im.getexif()
        raw_orientation = exif.get(_ORIENTATION, 1)
    except Exception:
        return 1, found  # unreadable EXIF: show the pixels as stored
    orientation = raw_orientation if isinstance(raw_orientation, int) else 1
    big_endian = exif.endian == ">"
    try:
        for directory in (exif, exif.get_ifd(ExifTags.IFD.Exif)):
            for tag, value in list(directory.items())[: _MAX_ENTRIES * 4]:
                text = None if tag in _EXIF_SKIP else _exif_text(tag, value, big_endian)
                if text is not None:
                    budget.put(found, ExifTags.TAGS.get(tag, f"0x{tag:04X}"), text)
    except Exception:
        pass  # keep what was read before the damage
    return orientation, found


def _exif_text(tag: int, value: object, big_endian: bool) -> str | None:
    if isinstance(value, tuple) and tag in _EXIF_XP_TAGS:
        value = bytes(v for v in value if isinstance(v, int) and 0 <= v < 256)
    if isinstance(value, str):
        return value.rstrip("\x00")
    if isinstance(value, bytes):
        if tag == _EXIF_USER_COMMENT:
            return _user_comment(value, big_endian)
        if tag in _EXIF_XP_TAGS:
            return value.decode("utf-16-le", "replace").rstrip("\x00")
        text = value.rstrip(b"\x00").decode("ascii", "replace")
        return text if text.isprintable() else None
    if isinstance(value, numbers.Real):
        return str(value)
    return None


def _user_comment(value: bytes, big_endian: bool) -> str:
    """Decode an EXIF UserComment, whose first 8 bytes name its character code."""
    code, body = value[:8], value[8:]
    if code.startswith(b"UNICODE"):
        if body[:2] in (b"\xff\xfe", b"\xfe\xff"):
            text = body.decode("utf-16", "replace")
        else:
            # Writers disagree on byte order (the file's, or always little-endian); for mostly
            # Latin text the zero bytes tell which.
            zeros_even, zeros_odd = body[0::2].count(0), body[1::2].count(0)
            if zeros_even != zeros_odd:
                big_endian = zeros_even > zeros_odd
            text = body.decode("utf-16-be" if big_endian else "utf-16-le", "replace")
    elif code.startswith(b"JIS"):
        text = body.decode("shift_jis", "replace")
    else:
        text = body.decode("utf-8", "replace")
    return text.rstrip("\x00 ")


def _read_xmp(im: Image.Image, budget: _Budget) -> str:
    packet = im.info.get("xmp") or im.info.get("XML:com.adobe.xmp") or ""
    if isinstance(packet, bytes):
        packet = packet[: _MAX_VALUE_CHARS * 4].decode("utf-8", "replace")
    return budget.text(packet) if isinstance(packet, str) else ""


def _read_iptc(im: ImageFile.ImageFile, budget: _Budget) -> dict[str, str]:
    found: dict[str, str] = {}
    try:
        records = IptcImagePlugin.getiptcinfo(im) or {}
    except Exception:
        return found
    # Record 1:90 names the character set; ESC % G is UTF-8, otherwise Latin-1 is the safe guess.
    charset = records.get((1, 90))
    encoding = "utf-8" if charset == b"\x1b%G" else None
    for (record, dataset), value in records.items():
        if record != 2:
            continue
        parts = value if isinstance(value, list) else [value]
        text = "; ".join(_iptc_text(part, encoding) for part in parts)
        budget.put(found, _IPTC_NAMES.get((record, dataset), f"{record}:{dataset}"), text)
    return found


def _iptc_text(value: bytes, encoding: str | None) -> str:
    if encoding is None:
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return value.decode("latin-1")
    return value.decode(encoding, "replace")

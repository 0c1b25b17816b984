"""Decoding of uploaded captures: formats, orientation, colour modes, limits and metadata."""

from __future__ import annotations

import io
import json
import struct
import zlib

import numpy as np
import pytest
from PIL import Image, ImageFile, PngImagePlugin

from faceverdict.detectors.base import DecodedImage
from faceverdict.detectors.imaging import (
    DecodeLimits,
    decode_capture,
    keep_pixel_memory,
    sniff_media_type,
)
from faceverdict.errors import (
    AnimatedImage,
    CaptureRejected,
    CorruptedImage,
    ImageTooLarge,
    UnsupportedFormat,
)
from tests.support import images


def _assert_valid(decoded: DecodedImage, width: int, height: int) -> None:
    pixels = decoded.pixels
    assert pixels.dtype == np.uint8
    assert pixels.shape == (height, width, 3)
    assert pixels.flags.c_contiguous
    assert not pixels.flags.writeable


def _mean(pixels: np.ndarray, rows: slice, cols: slice) -> np.ndarray:
    return np.asarray(pixels[rows, cols].reshape(-1, 3).mean(axis=0))


# --- formats -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "media_type"),
    [
        (images.jpeg_bytes(64, 48), "image/jpeg"),
        (images.jpeg_bytes(64, 48, progressive=True), "image/jpeg"),
        (images.jpeg_bytes(64, 48, mode="L"), "image/jpeg"),
        (images.png_bytes(64, 48), "image/png"),
        (images.png_bytes(64, 48, mode="L"), "image/png"),
        (images.png_bytes(64, 48, mode="1"), "image/png"),
        (images.webp_bytes(64, 48), "image/webp"),
        (images.webp_bytes(64, 48, lossless=True, mode="RGBA"), "image/webp"),
        (images.avif_bytes(64, 48), "image/avif"),
    ],
    ids=[
        "jpeg",
        "progressive",
        "grey-jpeg",
        "png",
        "grey-png",
        "1bit-png",
        "webp",
        "webp-ll",
        "avif",
    ],
)
def test_each_format_round_trips(data: bytes, media_type: str) -> None:
    decoded = decode_capture(data)

    assert sniff_media_type(data) == media_type
    assert decoded.media_type == media_type
    assert decoded.original_size == (64, 48)
    assert decoded.scale == 1.0
    _assert_valid(decoded, 64, 48)


def test_lossless_pixels_are_exact() -> None:
    source = images.noise_image(40, 30, seed=5)

    for data in (
        images.png_bytes(40, 30, image=source),
        images.webp_bytes(40, 30, lossless=True, image=source),
    ):
        assert np.array_equal(decode_capture(data).pixels, np.asarray(source))


def test_lossy_pixels_are_close() -> None:
    source = images.noise_image(64, 48, seed=6)
    expected = np.asarray(source).astype(np.int16)

    for data in (
        images.jpeg_bytes(64, 48, quality=95, image=source),
        images.avif_bytes(64, 48, quality=90, image=source),
    ):
        error = np.abs(decode_capture(data).pixels.astype(np.int16) - expected).mean()
        assert error < 12


def test_mpo_jpeg_from_a_phone_is_a_single_still() -> None:
    # Ultra HDR and many Android JPEGs carry an MPF index and a second image (gain map).
    frames = [images.noise_image(48, 32, seed) for seed in range(2)]
    out = io.BytesIO()
    frames[0].save(out, "MPO", save_all=True, append_images=frames[1:])

    decoded = decode_capture(out.getvalue())

    assert decoded.media_type == "image/jpeg"
    _assert_valid(decoded, 48, 32)


def test_trailing_data_after_jpeg_is_ignored() -> None:
    # Motion photos append a video after the JPEG's end-of-image marker.
    data = images.jpeg_bytes(48, 32) + b"ftypmp42" + bytes(range(256)) * 64

    _assert_valid(decode_capture(data), 48, 32)


# --- orientation ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("orientation", "corner"),
    [(1, "top-left"), (3, "bottom-right"), (6, "top-right"), (8, "bottom-left")],
)
def test_exif_orientation_is_applied(orientation: int, corner: str) -> None:
    data = images.jpeg_bytes(
        80, 40, quality=95, exif_orientation=orientation, image=images.marked_image(80, 40)
    )

    decoded = decode_capture(data)

    rotated = orientation in (6, 8)
    width, height = (40, 80) if rotated else (80, 40)
    _assert_valid(decoded, width, height)
    assert decoded.original_size == (width, height)
    rows = slice(0, 12) if corner.startswith("top") else slice(height - 12, height)
    cols = slice(0, 12) if corner.endswith("left") else slice(width - 12, width)
    assert _mean(decoded.pixels, rows, cols)[0] > 200
    assert _mean(decoded.pixels, rows, cols)[1] < 60
    assert decoded.metadata.exif["Orientation"] == str(orientation)


def test_orientation_in_png_exif_is_applied() -> None:
    data = images.png_bytes(
        80, 40, image=images.marked_image(80, 40), exif=images.exif_bytes(orientation=6)
    )

    decoded = decode_capture(data)

    _assert_valid(decoded, 40, 80)
    assert tuple(decoded.pixels[0, 39]) == images.MARK


def test_invalid_orientation_is_ignored() -> None:
    data = images.jpeg_bytes(64, 48, exif=images.exif_bytes(orientation=42))

    _assert_valid(decode_capture(data), 64, 48)


# --- colour modes ---------------------------------------------------------------------------


def test_cmyk_jpeg_becomes_rgb() -> None:
    red = Image.new("CMYK", (32, 32), (0, 255, 255, 0))

    pixels = decode_capture(images.jpeg_bytes(32, 32, image=red)).pixels

    assert np.allclose(_mean(pixels, slice(None), slice(None)), (255, 0, 0), atol=6)


def test_sixteen_bit_png_is_scaled_not_clipped() -> None:
    levels = np.array([[0, 257 * 100, 32768, 65535]], dtype=np.uint16)
    data = images.png_bytes(4, 1, image=Image.fromarray(levels))

    pixels = decode_capture(data).pixels

    assert pixels[0, :, 0].tolist() == [0, 100, 128, 255]
    assert np.array_equal(pixels[..., 0], pixels[..., 2])


def test_sixteen_bit_gradient_png() -> None:
    decoded = decode_capture(images.png_bytes(64, 48, mode="I;16"))

    _assert_valid(decoded, 64, 48)
    assert decoded.pixels[0, 0, 0] == 0
    assert decoded.pixels[-1, -1, 0] == 255


def test_alpha_is_composited_onto_white() -> None:
    rgba = np.zeros((2, 3, 4), dtype=np.uint8)
    rgba[:, 0] = (255, 0, 0, 255)  # opaque red
    rgba[:, 1] = (255, 0, 0, 128)  # half-transparent red
    rgba[:, 2] = (0, 0, 255, 0)  # fully transparent

    pixels = decode_capture(images.png_bytes(3, 2, image=Image.fromarray(rgba))).pixels

    assert tuple(pixels[0, 0]) == (255, 0, 0)
    assert np.allclose(pixels[0, 1], (255, 127, 127), atol=2)
    assert tuple(pixels[0, 2]) == (255, 255, 255)


def test_grey_alpha_png() -> None:
    la = Image.fromarray(np.array([[[0, 255], [0, 0]]], dtype=np.uint8), mode="LA")

    pixels = decode_capture(images.png_bytes(2, 1, image=la)).pixels

    assert pixels[0].tolist() == [[0, 0, 0], [255, 255, 255]]


def test_palette_png_with_transparent_index() -> None:
    palette = Image.new("P", (4, 1))
    palette.putpalette([255, 0, 0, 0, 255, 0] + [0] * 762)
    palette.putdata([0, 1, 1, 0])
    out = io.BytesIO()
    palette.save(out, "PNG", transparency=1)

    pixels = decode_capture(out.getvalue()).pixels

    assert pixels[0].tolist() == [[255, 0, 0], [255, 255, 255], [255, 255, 255], [255, 0, 0]]


def test_colour_key_transparency_is_composited() -> None:
    grey = Image.fromarray(np.array([[0, 200, 0]], dtype=np.uint8))
    out = io.BytesIO()
    grey.convert("RGB").save(out, "PNG", transparency=(0, 0, 0))

    pixels = decode_capture(out.getvalue()).pixels

    assert pixels[0].tolist() == [[255, 255, 255], [200, 200, 200], [255, 255, 255]]


def test_palette_png_without_transparency() -> None:
    decoded = decode_capture(images.png_bytes(64, 48, mode="P"))

    _assert_valid(decoded, 64, 48)


def test_icc_profile_is_ignored() -> None:
    source = images.noise_image(16, 16, seed=3)
    out = io.BytesIO()
    source.save(out, "PNG", icc_profile=b"\x00" * 128)

    assert np.array_equal(decode_capture(out.getvalue()).pixels, np.asarray(source))


# --- rejected formats ---------------------------------------------------------------------------


def _pil_bytes(fmt: str) -> bytes:
    out = io.BytesIO()
    images.noise_image(16, 16).save(out, fmt)
    return out.getvalue()


@pytest.mark.parametrize(
    "data",
    [
        _pil_bytes("GIF"),
        _pil_bytes("BMP"),
        _pil_bytes("TIFF"),
        _pil_bytes("PDF"),
        _pil_bytes("ICO"),
        b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>',
        b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n",
        b"hello, this is not an image",
        b"",
        b"\xff\xd8",
        b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic",
        b"\x00\x00\x00\x14ftypmif1\x00\x00\x00\x00mif1",
        b"RIFF\x10\x00\x00\x00WAVEfmt ",
    ],
    ids=[
        "gif",
        "bmp",
        "tiff",
        "pdf",
        "ico",
        "svg",
        "pdf-header",
        "text",
        "empty",
        "two-bytes",
        "heic",
        "heif-no-avif-brand",
        "wav",
    ],
)
def test_other_formats_are_unsupported(data: bytes) -> None:
    assert sniff_media_type(data) is None
    with pytest.raises(UnsupportedFormat):
        decode_capture(data)


def test_format_is_judged_by_content_not_by_extension_like_trailers() -> None:
    # A GIF whose bytes end like a PNG is still a GIF.
    data = _pil_bytes("GIF") + b"\x89PNG\r\n\x1a\n"

    with pytest.raises(UnsupportedFormat):
        decode_capture(data)


@pytest.mark.parametrize("fmt", ["WEBP", "PNG", "AVIF"])
def test_animations_are_rejected(fmt: str) -> None:
    with pytest.raises(AnimatedImage):
        decode_capture(images.animated_bytes(fmt))


# --- size limits --------------------------------------------------------------------------------


def test_byte_cap() -> None:
    data = images.png_bytes(64, 48)

    with pytest.raises(ImageTooLarge):
        decode_capture(data, DecodeLimits(max_bytes=len(data) - 1))
    _assert_valid(decode_capture(data, DecodeLimits(max_bytes=len(data))), 64, 48)


def test_pixel_cap() -> None:
    data = images.jpeg_bytes(64, 48)

    with pytest.raises(ImageTooLarge):
        decode_capture(data, DecodeLimits(max_pixels=64 * 48 - 1))
    _assert_valid(decode_capture(data, DecodeLimits(max_pixels=64 * 48)), 64, 48)


def test_huge_png_header_is_rejected_before_any_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_decoding(*args: object) -> None:
        raise AssertionError("pixels were decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)

    with pytest.raises(ImageTooLarge):
        decode_capture(images.png_with_header(100_000, 100_000))


def test_huge_webp_canvas_is_rejected_before_pillow_opens_it() -> None:
    data = bytearray(images.webp_bytes(32, 32, lossless=True))
    bits = int.from_bytes(data[21:25], "little") | 0x0FFFFFFF  # 16384 x 16384
    data[21:25] = bits.to_bytes(4, "little")

    with pytest.raises(ImageTooLarge):
        decode_capture(bytes(data))


def test_pixel_cap_does_not_depend_on_pillow_global(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
    with pytest.raises(ImageTooLarge):
        decode_capture(images.png_with_header(10_000, 10_000))

    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    _assert_valid(decode_capture(images.jpeg_bytes(64, 48)), 64, 48)


def test_zero_width_is_corrupted() -> None:
    with pytest.raises(CorruptedImage):
        decode_capture(images.png_with_header(0, 10))


def test_jpeg_with_too_many_scans_is_rejected() -> None:
    data = images.jpeg_bytes(16, 16)
    sos = data.index(b"\xff\xda")
    scan = data[sos:-2]

    with pytest.raises(ImageTooLarge):
        decode_capture(data[:sos] + scan * 150 + b"\xff\xd9")


def test_jpeg_with_endless_segments_is_rejected() -> None:
    data = images.jpeg_bytes(16, 16)
    comments = images.jpeg_segment(0xFE, b"x") * 5000

    with pytest.raises(CorruptedImage):
        decode_capture(images.insert_after_soi(data, comments))


def test_png_with_endless_chunks_is_rejected() -> None:
    data = images.png_bytes(16, 16)
    junk = images.png_chunk(b"xYzW", b"") * 20_000

    with pytest.raises(CorruptedImage):
        decode_capture(data[:33] + junk + data[33:])


# --- damage ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        images.jpeg_bytes(64, 48),
        images.jpeg_bytes(64, 48, progressive=True),
        images.png_bytes(64, 48),
        images.webp_bytes(64, 48),
        images.webp_bytes(64, 48, lossless=True),
        images.avif_bytes(64, 48),
    ],
    ids=["jpeg", "progressive", "png", "webp", "webp-ll", "avif"],
)
@pytest.mark.parametrize("keep", [0.3, 0.6, 0.9])
def test_truncated_images_are_corrupted(data: bytes, keep: float) -> None:
    with pytest.raises(CorruptedImage):
        decode_capture(data[: int(len(data) * keep)])


def test_truncated_decoding_stays_off() -> None:
    with pytest.raises(CorruptedImage):
        decode_capture(images.jpeg_bytes(64, 48)[:-200])
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_png_with_bad_crc_is_corrupted() -> None:
    data = bytearray(images.png_bytes(16, 16))
    data[29] ^= 0xFF  # IHDR CRC

    with pytest.raises(CorruptedImage):
        decode_capture(bytes(data))


def test_garbage_after_a_valid_signature_is_corrupted() -> None:
    for signature in (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"RIFF\x00\x00\x00\x00WEBPVP8 "):
        with pytest.raises(CorruptedImage):
            decode_capture(signature + bytes(range(256)))


# --- working size -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "work_long_side", "scale", "working"),
    [
        ((2048, 1536), 1024, 0.5, (1024, 768)),
        ((2048, 1536), 512, 0.25, (512, 384)),
        ((2048, 1536), 256, 0.125, (256, 192)),
        ((2048, 1536), 1025, 1.0, (2048, 1536)),
        ((1601, 1201), 400, 0.25, (401, 301)),
    ],
)
def test_large_jpeg_decodes_at_dct_scale(
    size: tuple[int, int], work_long_side: int, scale: float, working: tuple[int, int]
) -> None:
    data = images.jpeg_bytes(*size, quality=75)

    decoded = decode_capture(data, DecodeLimits(work_long_side=work_long_side))

    assert decoded.scale == pytest.approx(scale, rel=0.01)
    assert decoded.original_size == size
    _assert_valid(decoded, *working)
    assert max(decoded.pixels.shape[:2]) >= work_long_side


def test_dct_scale_with_rotation_uses_oriented_sizes() -> None:
    data = images.jpeg_bytes(1024, 768, quality=75, exif_orientation=6)

    decoded = decode_capture(data, DecodeLimits(work_long_side=256))

    assert decoded.original_size == (768, 1024)
    assert decoded.scale == 0.25
    _assert_valid(decoded, 192, 256)


@pytest.mark.parametrize("encode", [images.png_bytes, images.webp_bytes])
def test_other_large_formats_are_reduced(encode: object) -> None:
    assert callable(encode)
    data = encode(1200, 500)

    decoded = decode_capture(data, DecodeLimits(work_long_side=400))

    assert decoded.scale == pytest.approx(1 / 3)
    assert decoded.original_size == (1200, 500)
    _assert_valid(decoded, 400, 167)


def test_sources_under_twice_the_working_size_are_kept_whole() -> None:
    decoded = decode_capture(images.png_bytes(799, 300), DecodeLimits(work_long_side=400))

    assert decoded.scale == 1.0
    _assert_valid(decoded, 799, 300)


def test_keep_pixel_memory_does_not_change_results() -> None:
    data = images.jpeg_bytes(64, 48)
    before = decode_capture(data).pixels
    try:
        keep_pixel_memory(4)
        assert np.array_equal(decode_capture(data).pixels, before)
    finally:
        keep_pixel_memory(0)


# --- metadata -----------------------------------------------------------------------------------


def test_png_text_from_generators_comes_through() -> None:
    parameters = "a portrait photo\nSteps: 30, Sampler: Euler a, CFG scale: 7, Seed: 1"
    prompt = json.dumps({"3": {"class_type": "KSampler", "inputs": {"seed": 1}}})
    data = images.png_bytes(32, 32, text={"parameters": parameters, "prompt": prompt})

    metadata = decode_capture(data).metadata

    assert metadata.png_text == {"parameters": parameters, "prompt": prompt}


def test_compressed_and_international_png_text() -> None:
    info = PngImagePlugin.PngInfo()
    info.add_text("workflow", '{"nodes": []}', zip=True)
    info.add_itxt("Comment", "généré", lang="fr")
    out = io.BytesIO()
    images.noise_image(16, 16).save(out, "PNG", pnginfo=info)

    metadata = decode_capture(out.getvalue()).metadata

    assert metadata.png_text == {"workflow": '{"nodes": []}', "Comment": "généré"}


def test_png_text_after_image_data_comes_through() -> None:
    data = images.png_bytes(16, 16)
    iend = data.rindex(b"IEND") - 4
    late = images.png_chunk(b"tEXt", b"Software\x00ComfyUI")

    metadata = decode_capture(data[:iend] + late + data[iend:]).metadata

    assert metadata.png_text == {"Software": "ComfyUI"}


def test_exif_text_comes_through() -> None:
    exif = images.exif_bytes(
        software="Adobe Photoshop 25.0",
        user_comment="made with a diffusion model",
        extra={0x010F: "Apple", 0x0110: "iPhone 15"},
    )

    metadata = decode_capture(images.jpeg_bytes(32, 32, exif=exif)).metadata

    assert metadata.exif["Software"] == "Adobe Photoshop 25.0"
    assert metadata.exif["Make"] == "Apple"
    assert metadata.exif["Model"] == "iPhone 15"
    assert metadata.exif["UserComment"] == "made with a diffusion model"


def test_exif_in_webp_and_png() -> None:
    exif = images.exif_bytes(software="GIMP 2.10")
    out = io.BytesIO()
    images.noise_image(16, 16).save(out, "WEBP", exif=exif)

    assert decode_capture(out.getvalue()).metadata.exif["Software"] == "GIMP 2.10"
    png = images.png_bytes(16, 16, exif=exif)
    assert decode_capture(png).metadata.exif["Software"] == "GIMP 2.10"


def test_gps_is_never_copied() -> None:
    exif = Image.Exif()
    exif[0x0131] = "Camera"
    exif.get_ifd(0x8825)[2] = (48.0, 51.0, 24.0)  # GPSLatitude

    metadata = decode_capture(images.jpeg_bytes(16, 16, exif=exif.tobytes())).metadata

    assert metadata.exif == {"Software": "Camera"}


def test_xmp_packet_comes_through() -> None:
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF/></x:xmpmeta>'

    metadata = decode_capture(images.jpeg_bytes(16, 16, xmp=xmp)).metadata

    assert metadata.xmp == xmp.decode()


def test_iptc_comes_through() -> None:
    app13 = images.iptc_app13({(1, 90): b"\x1b%G", (2, 120): "légende".encode(), (2, 65): b"GIMP"})
    data = images.insert_after_soi(images.jpeg_bytes(16, 16), app13)

    metadata = decode_capture(data).metadata

    assert metadata.iptc == {"Caption-Abstract": "légende", "OriginatingProgram": "GIMP"}


def test_metadata_is_capped() -> None:
    text = {f"key{i}": "x" * 100_000 for i in range(12)}

    metadata = decode_capture(images.png_bytes(16, 16, text=text)).metadata

    assert all(len(value) <= 64 * 1024 for value in metadata.png_text.values())
    assert sum(len(key) + len(value) for key, value in metadata.png_text.items()) <= 512 * 1024
    assert len(metadata.png_text["key0"]) == 64 * 1024


def test_damaged_exif_leaves_the_pixels_usable() -> None:
    data = bytearray(images.jpeg_bytes(32, 32, exif=images.exif_bytes(software="x" * 40)))
    start = data.index(b"Exif\x00\x00") + 6
    data[start + 10 : start + 40] = b"\xff" * 30

    _assert_valid(decode_capture(bytes(data)), 32, 32)


def test_bad_zlib_text_chunk_leaves_the_pixels_usable() -> None:
    data = images.png_bytes(16, 16)
    bad = images.png_chunk(b"zTXt", b"k\x00\x00" + b"not zlib")

    decoded = decode_capture(data[:33] + bad + data[33:])

    _assert_valid(decoded, 16, 16)


# --- error contract -----------------------------------------------------------------------------


def test_every_rejection_is_a_capture_rejected() -> None:
    for error in (UnsupportedFormat, CorruptedImage, ImageTooLarge, AnimatedImage):
        assert issubclass(error, CaptureRejected)


def test_limits_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        DecodeLimits(work_long_side=0)


def test_crafted_png_helper_is_well_formed() -> None:
    data = images.png_with_header(3, 2)
    length, kind = struct.unpack(">I4s", data[8:16])

    assert (length, kind) == (13, b"IHDR")
    assert struct.unpack(">I", data[29:33])[0] == zlib.crc32(data[12:29])

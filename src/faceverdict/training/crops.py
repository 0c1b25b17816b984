"""Builds the face-crop cache that every training recipe reads.

Each image goes through the service's own inline preprocessing (``decode_capture`` and the
capture gate's face choice), so training sees exactly the crops inference will see. Per image
the cache keeps: ``crop`` (uint8, CROP_SIZE square at CROP_MARGIN around the face box, from the
working decode), ``landmarks`` (468 x 2 in crop pixels), and ``native`` (the face region at the
file's own resolution, no resampling, long side capped, for pixel-trace detectors).
Nothing here is committed: the cache lives outside the repository.

Usage: python -m faceverdict.training.crops --manifest M.csv --root DIR [--cache DIR]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from faceverdict.detectors.base import Face
from faceverdict.detectors.capture_gate import CaptureGate
from faceverdict.detectors.face_crop import crop_box, crop_square
from faceverdict.detectors.face_detection import BlazeFaceDetector
from faceverdict.detectors.imaging import DecodeLimits, decode_capture
from faceverdict.detectors.landmarks import FaceMesh
from faceverdict.errors import CaptureRejected
from faceverdict.training.data import DEFAULT_CACHE, Row, read_manifest

CROP_SIZE = 320
CROP_MARGIN = 1.8
NATIVE_MARGIN = 1.3
NATIVE_MAX_SIDE = 768
CACHE_VERSION = "crops-v1"


def cache_dir(cache: Path = DEFAULT_CACHE) -> Path:
    """Folder of the current cache version."""
    return cache / CACHE_VERSION


def _main_face(
    gate: CaptureGate, detector: BlazeFaceDetector, pixels: np.ndarray, image: object
) -> tuple[Face | None, str | None]:
    outcome = gate.inspect(image)  # type: ignore[arg-type]
    abstention = outcome.result.abstention
    if outcome.face is not None:
        return outcome.face, None
    # Training may still use faces the gate refuses for quality (blur, size): keep the largest.
    faces = detector.detect(pixels)
    if not faces:
        return None, abstention.value if abstention else "no_face"
    return max(faces, key=lambda f: f.width * f.height), abstention.value if abstention else None


def build(
    manifest: Path, root: Path, cache: Path = DEFAULT_CACHE, limit: int | None = None
) -> Path:
    """Process every manifest row into the cache (idempotent: done rows are skipped)."""
    out = cache_dir(cache)
    (out / "items").mkdir(parents=True, exist_ok=True)
    index_path = out / "index.jsonl"
    done: set[str] = set()
    if index_path.exists():
        done = {json.loads(line)["relpath"] for line in index_path.read_text().splitlines() if line}
    rows: list[Row] = read_manifest(manifest)[: limit or None]
    gate, detector, mesh = CaptureGate(), BlazeFaceDetector(), FaceMesh()
    started, processed = time.time(), 0
    # Pixel-exact native crops need the full decode, so no DCT reduction for the cache.
    full = DecodeLimits(work_long_side=100_000)
    with index_path.open("a") as index:
        for i, row in enumerate(rows):
            if row.relpath in done:
                continue
            entry: dict[str, object] = {
                "relpath": row.relpath,
                "label": row.label,
                "family": row.family,
                "source": row.source,
                "group": row.group,
                "license": row.license,
            }
            try:
                data = (root / row.relpath).read_bytes()
                image = decode_capture(data, full)
            except (OSError, CaptureRejected) as exc:
                entry["error"] = str(exc)
                index.write(json.dumps(entry) + "\n")
                continue
            working = decode_capture(data)  # the inline path's (possibly reduced) decode
            face, abstention = _main_face(gate, detector, working.pixels, working)
            entry["gate_abstention"] = abstention
            if face is None:
                index.write(json.dumps(entry) + "\n")
                continue
            box = crop_box(face, CROP_MARGIN)
            crop = crop_square(working.pixels, box, CROP_SIZE)
            points = mesh.landmarks(working.pixels, face)
            # Native-resolution face region from the full decode.
            factor = image.pixels.shape[1] / working.pixels.shape[1]
            nbox = crop_box(face, NATIVE_MARGIN)
            x0, y0 = max(0, int(nbox.x0 * factor)), max(0, int(nbox.y0 * factor))
            x1 = min(image.pixels.shape[1], int((nbox.x0 + nbox.side) * factor))
            y1 = min(image.pixels.shape[0], int((nbox.y0 + nbox.side) * factor))
            native = image.pixels[y0:y1, x0:x1]
            if max(native.shape[:2]) > NATIVE_MAX_SIDE:
                cy, cx = native.shape[0] // 2, native.shape[1] // 2
                h = NATIVE_MAX_SIDE // 2
                native = native[max(0, cy - h) : cy + h, max(0, cx - h) : cx + h]
            name = f"{i:06d}.npz"
            np.savez_compressed(
                out / "items" / name,
                crop=crop,
                landmarks=box.to_crop(points.astype(np.float32), CROP_SIZE).astype(np.float32),
                native=np.ascontiguousarray(native),
            )
            entry.update(
                item=name,
                face_box=list(face.box),
                face_score=face.score,
                working_scale=working.scale,
            )
            index.write(json.dumps(entry) + "\n")
            processed += 1
            if processed % 250 == 0:
                rate = processed / (time.time() - started)
                print(f"{processed} crops, {rate:.1f}/s", flush=True)
    return out


def main() -> None:
    """Command-line entry."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--manifest", type=Path, required=True)
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--limit", type=int, default=None)
    args = parser.parse_args()
    out = build(args.manifest, args.root, args.cache, args.limit)
    print(f"cache ready: {out}")


if __name__ == "__main__":
    main()

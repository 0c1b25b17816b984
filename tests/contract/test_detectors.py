"""One contract over every registered detector: metadata, determinism, bounded output."""

from __future__ import annotations

import pytest

from faceverdict.detectors.base import Detector, Sample
from faceverdict.detectors.capture_gate import CaptureGate
from faceverdict.detectors.imaging import decode_capture
from faceverdict.detectors.model_files import model_file
from faceverdict.detectors.registry import (
    UnknownDetector,
    create_detector,
    list_detectors,
    register,
)
from faceverdict.domain.detection import DetectorKind
from tests.support.images import jpeg_bytes
from tests.support.synthetic_faces import synthetic_face

NAMES = list_detectors()


def face_sample() -> Sample:
    import io

    buf = io.BytesIO()
    synthetic_face(size=(640, 640)).save(buf, "JPEG", quality=92)
    data = buf.getvalue()
    image = decode_capture(data)
    outcome = CaptureGate().inspect(image)
    assert outcome.face is not None, outcome.result
    return Sample(data=data, image=image, face=outcome.face)


def faceless_sample() -> Sample:
    data = jpeg_bytes(320, 240, seed=7)
    return Sample(data=data, image=decode_capture(data), face=None)


def test_builtin_detectors_are_registered() -> None:
    assert "provenance" in NAMES
    assert set(list_detectors(DetectorKind.INLINE)) <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_detector_metadata_is_complete(name: str) -> None:
    detector: Detector = create_detector(name)
    info = detector.info
    assert info.name == name
    assert info.version
    assert info.description
    if info.weights_sha256 is not None:
        assert len(info.weights_sha256) == 64


@pytest.mark.parametrize("name", NAMES)
def test_detector_output_is_bounded_and_deterministic(name: str) -> None:
    detector = create_detector(name)
    sample = face_sample() if detector.info.needs_face else faceless_sample()
    first, second = detector.analyse(sample), detector.analyse(sample)
    assert first.detector == name
    assert first.version == detector.info.version
    assert first.fake_probability == second.fake_probability
    if first.fake_probability is not None:
        assert 0.0 <= first.fake_probability <= 1.0
    assert all(r == r.upper() for r in first.reasons)
    assert first.elapsed_ms >= 0
    if first.heatmap is not None:
        x0, y0, x1, y1 = first.heatmap.box
        assert x0 < x1
        assert y0 < y1
        assert all(0.0 <= v <= 1.0 for v in first.heatmap.values)


def test_registry_fails_loudly() -> None:
    with pytest.raises(UnknownDetector, match="unknown detector 'nope'"):
        create_detector("nope")
    with pytest.raises(ValueError, match="already registered"):
        register("provenance")(lambda: create_detector("provenance"))


def test_every_manifest_model_verifies() -> None:
    import json

    from faceverdict.detectors.model_files import MODELS_DIR

    for name in json.loads((MODELS_DIR / "manifest.json").read_text()):
        assert len(model_file(name).sha256) == 64

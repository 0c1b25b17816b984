"""One contract over every registered detector (metadata, determinism, bounded output), and
the plug-in contract: registration, factory context, learned vs evidence, loading."""

from __future__ import annotations

import json
import logging
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from faceverdict.config import Settings
from faceverdict.detectors import registry
from faceverdict.detectors.base import DecodedImage, Detector, Sample
from faceverdict.detectors.capture_gate import CaptureGate
from faceverdict.detectors.ensemble import GateOutcome
from faceverdict.detectors.fusion import Fusion, FusionParameters
from faceverdict.detectors.imaging import decode_capture
from faceverdict.detectors.logistic import logit
from faceverdict.detectors.model_files import model_file
from faceverdict.detectors.provenance import create_provenance_detector
from faceverdict.detectors.registry import (
    DetectorContext,
    UnknownDetector,
    create_detector,
    list_detectors,
    register,
    registration,
)
from faceverdict.domain.detection import DetectorInfo, DetectorKind, DetectorResult
from faceverdict.errors import ConfigurationError
from faceverdict.wiring.ensembles import build_detectors, build_ensemble, warn_uncalibrated
from tests.support.images import jpeg_bytes
from tests.support.plugins import isolated_registry, write_plugin
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
    with pytest.raises(UnknownDetector, match=r"unknown detector 'nope' \(known: .*provenance"):
        create_detector("nope")
    with pytest.raises(UnknownDetector, match="unknown detector 'nope'"):
        create_detector("nope", DetectorContext())
    with isolated_registry():
        with pytest.raises(ValueError, match="already registered"):
            register("provenance")(lambda: create_detector("provenance"))
        with pytest.raises(ValueError, match="'blending' is already registered"):
            register("blending", calibrated=True)(lambda context: create_detector("blending"))
        assert registration("provenance").factory is create_provenance_detector


def test_a_factory_that_needs_more_than_the_context_is_refused_at_registration() -> None:
    def needs_a_path(path: str) -> Detector:
        raise AssertionError("never called")

    with isolated_registry():
        with pytest.raises(TypeError, match=r"'needy'.*parameter 'path' has no default"):
            register("needy")(needs_a_path)
        with pytest.raises(UnknownDetector):
            create_detector("needy")


def test_learned_and_evidence_detectors_are_declared_at_registration() -> None:
    assert list_detectors(calibrated=True) == [
        "blending",
        "blending_assurance",
        "synthetic",
        "synthetic_assurance",
    ]
    assert "provenance" in list_detectors(DetectorKind.INLINE, calibrated=False)
    assert set(list_detectors(calibrated=True)) | set(list_detectors(calibrated=False)) == set(
        NAMES
    )


def test_a_third_party_detector_from_detector_modules_gets_its_options(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_plugin(tmp_path, "acme_detectors_options")
    monkeypatch.syspath_prepend(str(tmp_path))
    # Environment as an operator writes it: JSON keyed by detector name.
    monkeypatch.setenv("FACEVERDICT_DETECTOR_OPTIONS", json.dumps({"acme_probe": {"p": "0.25"}}))
    settings = Settings(
        data_dir=tmp_path,
        detector_modules=["acme_detectors_options"],
        inline_detectors=["acme_probe", "acme_legacy", "provenance"],
    )
    assert settings.detector_options == {"acme_probe": {"p": "0.25"}}
    with isolated_registry("acme_detectors_options"):
        probe, legacy, provenance = build_detectors(settings, settings.inline_detectors)
        assert probe.info.name == "acme_probe"
        assert dict(probe.options) == {"p": "0.25"}  # type: ignore[attr-defined]
        with pytest.raises(TypeError):
            probe.options["p"] = "0.9"  # type: ignore[attr-defined]  # read-only
        assert dict(legacy.options) == {}  # type: ignore[attr-defined]  # no-argument factory
        assert provenance.info.name == "provenance"
        assert probe.analyse(faceless_sample()).fake_probability == 0.25
        # The registry: a learned inline detector, the legacy one evidence, both listed.
        assert "acme_probe" in list_detectors(DetectorKind.INLINE, calibrated=True)
        assert "acme_legacy" in list_detectors(DetectorKind.INLINE, calibrated=False)
        assert dict(create_detector("acme_probe").options) == {}  # type: ignore[attr-defined]
    assert "acme_probe" not in list_detectors()


def test_options_for_a_detector_nobody_registered_are_refused(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, detector_options={"provenanse": {"x": "1"}})
    with pytest.raises(ConfigurationError, match=r"detector_options: .*'provenanse'"):
        build_detectors(settings, ["provenance"])


class _NoGate:
    info = DetectorInfo(name="no_gate", version="0")

    def inspect(self, image: DecodedImage) -> GateOutcome:
        raise AssertionError("not judged here")


def test_a_learned_plugin_the_fusion_does_not_calibrate_runs_as_plain_evidence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    write_plugin(tmp_path, "acme_detectors_fusion")
    monkeypatch.syspath_prepend(str(tmp_path))
    settings = Settings(
        data_dir=tmp_path,
        detector_modules=["acme_detectors_fusion"],
        inline_detectors=["acme_probe"],
        detector_options={"acme_probe": {"p": "0.9"}},
    )
    with isolated_registry("acme_detectors_fusion"), caplog.at_level(logging.WARNING):
        ensemble = build_ensemble(settings, gate=_NoGate())
        assert [d.info.name for d in ensemble.detectors] == ["acme_probe"]
        assert "acme_probe is learned but" in caplog.text
        assert warn_uncalibrated(ensemble.detectors, ensemble.fusion) == ["acme_probe"]
        assert not ensemble.fusion.calibrates("acme_probe")
        fused = ensemble.fusion.fuse([DetectorResult("acme_probe", "acme-1", 0.9)])
        assert fused is not None
        params = ensemble.fusion.params
        assert fused.contributions["acme_probe"] == round(params.default_weight * logit(0.9), 4)


def test_the_shipped_ensembles_need_no_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(data_dir=tmp_path)
    fusion = Fusion(FusionParameters.load())
    names = settings.inline_detectors + list_detectors(DetectorKind.ASSURANCE)
    with caplog.at_level(logging.WARNING):
        assert warn_uncalibrated(build_detectors(settings, names), fusion) == []
    assert caplog.text == ""


def test_entry_point_plugins_register_with_the_builtins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_plugin(tmp_path, "acme_detectors_entry_point")
    monkeypatch.syspath_prepend(str(tmp_path))
    found = EntryPoint("acme", "acme_detectors_entry_point", registry.ENTRY_POINT_GROUP)

    def entry_points(*, group: str) -> list[EntryPoint]:
        return [found] if group == registry.ENTRY_POINT_GROUP else []

    with isolated_registry("acme_detectors_entry_point"):
        monkeypatch.setattr(registry, "entry_points", entry_points)
        monkeypatch.setattr(registry, "_loaded", False)
        assert {"acme_probe", "acme_legacy", "provenance"} <= set(list_detectors())
        assert create_detector("acme_legacy").info.name == "acme_legacy"


def test_a_broken_entry_point_plugin_stops_loading_and_is_named(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    broken = EntryPoint("acme", "acme_detectors_missing", registry.ENTRY_POINT_GROUP)
    with isolated_registry():
        monkeypatch.setattr(registry, "entry_points", lambda *, group: [broken])
        monkeypatch.setattr(registry, "_loaded", False)
        with pytest.raises(ModuleNotFoundError) as raised:
            list_detectors()
        assert "detector plug-in 'acme'" in "".join(raised.value.__notes__)
        assert registry._loaded is False  # the next call tries again


def test_every_manifest_model_verifies() -> None:
    import json

    from faceverdict.detectors.model_files import MODELS_DIR

    for name in json.loads((MODELS_DIR / "manifest.json").read_text()):
        assert len(model_file(name).sha256) == 64

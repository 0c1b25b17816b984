"""The provenance detector: C2PA Content Credentials, combination, robustness, speed."""

from __future__ import annotations

import os
import statistics
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from faceverdict.detectors.base import DecodedImage, ImageMetadata, Sample
from faceverdict.detectors.c2pa_reader import evaluate_store
from faceverdict.detectors.provenance import ProvenanceDetector, create_provenance_detector
from faceverdict.detectors.registry import DetectorContext, create_detector, list_detectors
from faceverdict.domain.detection import DetectorKind
from faceverdict.errors import ConfigurationError
from tests.support.c2pa_signing import (
    DIGITAL_CAPTURE,
    TRAINED_ALGORITHMIC_MEDIA,
    sign_jpeg,
    tamper_pixels,
    throwaway_ca_pem,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "c2pa"
SHARED_FIXTURES = Path(
    os.environ.get(
        "FACEVERDICT_C2PA_FIXTURES", Path(__file__).resolve().parents[3] / "shared/fixtures/c2pa"
    )
)
MEDIA_TYPES = {"jpg": "image/jpeg", "png": "image/png", "webp": "image/webp", "avif": "image/avif"}

GENERATIVE = "C2PA_GENERATIVE_SOURCE"
INVALID = "C2PA_INVALID_MANIFEST"
EDITED = "C2PA_EDITED"
CAPTURE = "C2PA_CAMERA_CAPTURE"
UNTRUSTED = "C2PA_UNTRUSTED_SIGNER"


def fixture_bytes(name: str) -> bytes:
    """A C2PA fixture from the copies in the repository, else from the shared folder."""
    for folder in (FIXTURES, SHARED_FIXTURES):
        if (folder / name).is_file():
            return (folder / name).read_bytes()
    pytest.skip(f"C2PA fixture {name} is neither in {FIXTURES} nor in {SHARED_FIXTURES}")


def make_sample(
    data: bytes, media_type: str = "image/jpeg", metadata: ImageMetadata | None = None
) -> Sample:
    image = DecodedImage(
        pixels=np.zeros((8, 8, 3), dtype=np.uint8),
        media_type=media_type,
        original_size=(8, 8),
        scale=1.0,
        metadata=metadata or ImageMetadata(),
    )
    return Sample(data=data, image=image)


@pytest.fixture(scope="module")
def detector() -> ProvenanceDetector:
    return ProvenanceDetector()


@pytest.fixture(scope="module")
def trusting_detector() -> ProvenanceDetector:
    """A detector that trusts the tests' throw-away CA, as a deployment trusts camera CAs."""
    return ProvenanceDetector(trust_anchors_pem=throwaway_ca_pem())


@pytest.fixture(scope="module")
def plain_jpeg() -> bytes:
    return fixture_bytes("no_manifest.jpg")


# -- registration -------------------------------------------------------------------------


def test_registered_as_inline_provenance_detector() -> None:
    assert "provenance" in list_detectors(DetectorKind.INLINE)
    detector = create_detector("provenance")
    assert isinstance(detector, ProvenanceDetector)
    assert detector.info.name == "provenance"
    assert detector.info.kind is DetectorKind.INLINE
    assert detector.info.version.startswith("1.")
    assert isinstance(create_provenance_detector(DetectorContext()), ProvenanceDetector)
    assert "provenance" in list_detectors(calibrated=False)  # hard evidence, not calibrated


# -- the C2PA fixtures (expected outcomes from the fixture README) -------------------------

FIXTURE_CASES = [
    # name, decisive reason (None: no opinion), (low, high) fake probability, source type
    ("C.jpg", GENERATIVE, (0.9, 0.99), "algorithmicMedia"),
    ("CIE-sig-CA.jpg", GENERATIVE, (0.9, 0.99), "algorithmicMedia"),
    ("ocsp.jpg", GENERATIVE, (0.95, 0.99), "compositeWithTrainedAlgorithmicMedia"),
    ("CA.jpg", EDITED, (0.5, 0.6), None),
    ("CACA.jpg", EDITED, (0.5, 0.6), None),
    ("boxhash.jpg", EDITED, (0.5, 0.6), None),
    ("E-sig-CA.jpg", INVALID, (0.6, 0.8), None),
    ("XCA.jpg", INVALID, (0.6, 0.8), None),
    ("adobe-20220124-E-clm-CAICAI.jpg", INVALID, (0.6, 0.8), None),
    ("no_manifest.jpg", None, None, None),
    ("sample1.png", None, None, None),
    ("sample1.webp", None, None, None),
    ("sample1.avif", None, None, None),
]


@pytest.mark.parametrize(("name", "reason", "bounds", "source_type"), FIXTURE_CASES)
def test_c2pa_fixture_outcome(
    detector: ProvenanceDetector,
    name: str,
    reason: str | None,
    bounds: tuple[float, float] | None,
    source_type: str | None,
) -> None:
    data = fixture_bytes(name)
    result = detector.analyse(make_sample(data, MEDIA_TYPES[name.rsplit(".", 1)[1]]))

    assert result.detector == "provenance"
    assert result.version == detector.info.version
    assert result.elapsed_ms > 0
    if reason is None:
        assert result.fake_probability is None
        assert result.reasons == ()
        assert result.details["c2pa_manifest"] is False
        return
    assert bounds is not None
    assert result.fake_probability is not None
    assert bounds[0] <= result.fake_probability <= bounds[1]
    assert result.reasons[0] == reason
    assert result.details["decisive_reason"] == reason
    # No trust list is configured: every fixture signer is untrusted.
    assert UNTRUSTED in result.reasons
    assert result.details["c2pa_signer_trusted"] is False
    assert result.details["c2pa_claim_generator"]
    if source_type is not None:
        assert result.details["c2pa_source_type"] == source_type
    if reason == INVALID:
        assert result.details["c2pa_state"] == "Invalid"
        assert result.details["c2pa_failures"]
        assert "signingCredential.untrusted" not in str(result.details["c2pa_failures"])
    for value in result.details.values():
        assert isinstance(value, str | float | bool)


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("E-sig-CA.jpg", "claimSignature.mismatch"),
        ("XCA.jpg", "assertion.dataHash.mismatch"),
        ("adobe-20220124-E-clm-CAICAI.jpg", "assertion.hashedURI.mismatch"),
    ],
)
def test_invalid_fixture_names_the_failing_check(
    detector: ProvenanceDetector, name: str, code: str
) -> None:
    result = detector.analyse(make_sample(fixture_bytes(name)))
    assert code in str(result.details["c2pa_failures"]).split(",")


def test_ocsp_fixture_reports_the_generator(detector: ProvenanceDetector) -> None:
    result = detector.analyse(make_sample(fixture_bytes("ocsp.jpg")))
    assert "Photoshop" in str(result.details["c2pa_claim_generator"])
    assert "c2pa.edited" in str(result.details["c2pa_actions"])


# -- images signed by the tests -----------------------------------------------------------


def test_signed_generative_image(detector: ProvenanceDetector, plain_jpeg: bytes) -> None:
    result = detector.analyse(make_sample(sign_jpeg(plain_jpeg, TRAINED_ALGORITHMIC_MEDIA)))
    assert result.reasons[0] == GENERATIVE
    assert result.fake_probability == pytest.approx(0.98)
    assert result.details["c2pa_source_type"] == "trainedAlgorithmicMedia"
    assert result.details["c2pa_claim_generator"] == "faceverdict-tests 1.0"
    assert result.details["c2pa_software_agent"] == "faceverdict test signer 1.0"
    assert UNTRUSTED in result.reasons


def test_signed_camera_capture_untrusted_counts_little(
    detector: ProvenanceDetector, plain_jpeg: bytes
) -> None:
    result = detector.analyse(make_sample(sign_jpeg(plain_jpeg, DIGITAL_CAPTURE)))
    assert result.reasons == (CAPTURE, UNTRUSTED)
    assert result.fake_probability == pytest.approx(0.4)
    assert result.details["c2pa_signer_trusted"] is False
    assert result.details["c2pa_trust_configured"] is False


def test_signed_camera_capture_trusted_is_genuine_evidence(
    trusting_detector: ProvenanceDetector, plain_jpeg: bytes
) -> None:
    result = trusting_detector.analyse(make_sample(sign_jpeg(plain_jpeg, "digitalCapture")))
    assert result.reasons == (CAPTURE,)
    assert result.fake_probability == pytest.approx(0.1)
    assert result.details["c2pa_state"] == "Trusted"
    assert result.details["c2pa_signer_trusted"] is True


def test_trust_does_not_soften_a_generative_declaration(
    trusting_detector: ProvenanceDetector, plain_jpeg: bytes
) -> None:
    result = trusting_detector.analyse(make_sample(sign_jpeg(plain_jpeg)))
    assert result.reasons == (GENERATIVE,)
    assert result.fake_probability == pytest.approx(0.99)


def test_foreign_signer_is_untrusted_even_with_trust_anchors() -> None:
    # Anchors configured, but for another CA (ocsp.jpg's Adobe signer is not under it).
    detector = ProvenanceDetector(trust_anchors_pem=throwaway_ca_pem())
    result = detector.analyse(make_sample(fixture_bytes("ocsp.jpg")))
    assert UNTRUSTED in result.reasons
    assert result.details["c2pa_trust_configured"] is True


def test_capture_with_plain_edits_is_edited(
    trusting_detector: ProvenanceDetector, plain_jpeg: bytes
) -> None:
    signed = sign_jpeg(
        plain_jpeg,
        DIGITAL_CAPTURE,
        extra_actions=[{"action": "c2pa.resized"}, {"action": "c2pa.color_adjustments"}],
    )
    result = trusting_detector.analyse(make_sample(signed))
    assert result.reasons[0] == EDITED
    assert CAPTURE in result.reasons
    assert result.fake_probability == pytest.approx(0.55)
    assert result.details["c2pa_actions"] == "c2pa.created,c2pa.resized,c2pa.color_adjustments"


def test_capture_with_a_generative_edit_is_generative(
    detector: ProvenanceDetector, plain_jpeg: bytes
) -> None:
    signed = sign_jpeg(
        plain_jpeg,
        DIGITAL_CAPTURE,
        extra_actions=[
            {
                "action": "c2pa.edited",
                "digitalSourceType": "http://cv.iptc.org/newscodes/digitalsourcetype/"
                "compositeWithTrainedAlgorithmicMedia",
            }
        ],
    )
    result = detector.analyse(make_sample(signed))
    assert result.reasons[0] == GENERATIVE
    assert CAPTURE not in result.reasons
    assert result.fake_probability == pytest.approx(0.97)


def test_screen_capture_source_is_suspicious(
    detector: ProvenanceDetector, plain_jpeg: bytes
) -> None:
    result = detector.analyse(make_sample(sign_jpeg(plain_jpeg, "screenCapture")))
    assert result.reasons[0] == "C2PA_NON_CAPTURE_SOURCE"
    assert result.fake_probability is not None
    assert 0.5 < result.fake_probability < 0.8


def test_pixels_changed_after_signing_is_invalid(
    detector: ProvenanceDetector, plain_jpeg: bytes
) -> None:
    tampered = tamper_pixels(sign_jpeg(plain_jpeg, DIGITAL_CAPTURE))
    result = detector.analyse(make_sample(tampered))
    assert result.reasons[0] == INVALID
    assert CAPTURE not in result.reasons  # a broken manifest's claims are not credited
    assert result.fake_probability == pytest.approx(0.7)
    assert "assertion.dataHash.mismatch" in str(result.details["c2pa_failures"])


def test_tampered_generative_manifest_stays_generative(
    detector: ProvenanceDetector, plain_jpeg: bytes
) -> None:
    result = detector.analyse(make_sample(tamper_pixels(sign_jpeg(plain_jpeg))))
    assert result.reasons[:2] == (GENERATIVE, INVALID)
    assert result.fake_probability == pytest.approx(0.98)


def test_bad_trust_anchor_pem_is_refused_at_start() -> None:
    with pytest.raises(ConfigurationError):
        ProvenanceDetector(trust_anchors_pem="not a certificate")


# -- combining C2PA with metadata traces --------------------------------------------------


def test_metadata_generator_outweighs_untrusted_capture_claim(
    detector: ProvenanceDetector, plain_jpeg: bytes
) -> None:
    metadata = ImageMetadata(exif={"Software": "Stable Diffusion"})
    result = detector.analyse(
        make_sample(sign_jpeg(plain_jpeg, DIGITAL_CAPTURE), metadata=metadata)
    )
    assert result.reasons[0] == "METADATA_GENERATOR_TRACE"
    assert set(result.reasons) >= {CAPTURE, UNTRUSTED, "METADATA_GENERATOR_TRACE"}
    assert result.fake_probability == pytest.approx(0.95)
    assert result.details["metadata_generator_trace_tool"] == "Stable Diffusion"
    assert result.details["metadata_generator_trace_field"] == "exif:Software"


def test_trusted_capture_outweighs_a_photo_editor_tag(
    trusting_detector: ProvenanceDetector, plain_jpeg: bytes
) -> None:
    metadata = ImageMetadata(exif={"Software": "Adobe Photoshop 25.0"})
    sample = make_sample(sign_jpeg(plain_jpeg, DIGITAL_CAPTURE), metadata=metadata)
    result = trusting_detector.analyse(sample)
    assert result.reasons == (CAPTURE, "METADATA_PHOTO_EDITOR")
    assert result.fake_probability == pytest.approx(0.1)


def test_metadata_alone_gives_an_opinion_without_manifest(
    detector: ProvenanceDetector, plain_jpeg: bytes
) -> None:
    metadata = ImageMetadata(png_text={"parameters": "a face\nSteps: 20, Sampler: Euler a"})
    result = detector.analyse(make_sample(plain_jpeg, metadata=metadata))
    assert result.fake_probability == pytest.approx(0.97)
    assert result.reasons == ("METADATA_GENERATOR_TRACE",)
    assert result.details["c2pa_manifest"] is False


def test_no_manifest_no_metadata_no_opinion(
    detector: ProvenanceDetector, plain_jpeg: bytes
) -> None:
    metadata = ImageMetadata(exif={"Make": "Apple", "Model": "iPhone 15 Pro", "Software": "17.1"})
    result = detector.analyse(make_sample(plain_jpeg, metadata=metadata))
    assert result.fake_probability is None
    assert result.reasons == ()
    assert "decisive_reason" not in result.details


def test_store_without_active_manifest_is_unreadable() -> None:
    evidence = evaluate_store({"manifests": {}, "validation_state": "Valid"})
    assert evidence.fake_probability is None
    assert evidence.reasons == ("C2PA_UNREADABLE",)


# -- malformed input never raises -----------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "media_type"),
    [
        (b"", "image/jpeg"),
        (b"\x00" * 10, "image/png"),
        (b"\xff\xd8\xff\xeb\x00\x10JP\x00\x01jumb" + b"\xff" * 64, "image/jpeg"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\x10caBX" + b"junk" * 8, "image/png"),
        (b"RIFF\x10\x00\x00\x00WEBPC2PA" + b"\x00" * 32, "image/webp"),
        (b"\x00\x00\x00\x1cftypavif" + b"\x00" * 64, "image/avif"),
        (b"GIF89a" + b"\x00" * 32, "image/gif"),
        (b"whatever", "application/x-unknown"),
    ],
)
def test_malformed_bytes_are_unreadable_not_errors(
    detector: ProvenanceDetector, data: bytes, media_type: str
) -> None:
    result = detector.analyse(make_sample(data, media_type))
    assert result.fake_probability is None
    assert set(result.reasons) <= {"C2PA_UNREADABLE"}


def test_truncated_manifest_never_raises(detector: ProvenanceDetector, plain_jpeg: bytes) -> None:
    signed = sign_jpeg(plain_jpeg)
    jumbf = signed.find(b"jumb")
    assert jumbf > 0
    for cut in (jumbf + 8, jumbf + 200, jumbf + 2000, len(signed) // 2, len(signed) - 10):
        result = detector.analyse(make_sample(signed[:cut]))
        assert result.detector == "provenance"


def test_wrong_media_type_never_raises(detector: ProvenanceDetector, plain_jpeg: bytes) -> None:
    result = detector.analyse(make_sample(sign_jpeg(plain_jpeg), "image/png"))
    assert result.detector == "provenance"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=4096), media_type=st.sampled_from(sorted(MEDIA_TYPES.values())))
def test_random_bytes_never_raise(data: bytes, media_type: str) -> None:
    result = ProvenanceDetector().analyse(make_sample(data, media_type))
    assert result.fake_probability is None


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_signed_jpeg_never_raises(data: st.DataObject) -> None:
    signed = _signed_once()
    jumbf = signed.find(b"jumb")
    mutated = bytearray(signed)
    for _ in range(data.draw(st.integers(1, 16))):
        position = data.draw(st.integers(max(0, jumbf - 64), jumbf + 4096))
        mutated[position] = data.draw(st.integers(0, 255))
    result = ProvenanceDetector().analyse(make_sample(bytes(mutated)))
    p = result.fake_probability
    assert p is None or 0.0 <= p <= 1.0


_SIGNED: list[bytes] = []


def _signed_once() -> bytes:
    if not _SIGNED:
        _SIGNED.append(sign_jpeg((FIXTURES / "no_manifest.jpg").read_bytes()))
    return _SIGNED[0]


# -- speed --------------------------------------------------------------------------------


def test_file_without_manifest_is_fast(detector: ProvenanceDetector, plain_jpeg: bytes) -> None:
    sample = make_sample(plain_jpeg, metadata=ImageMetadata(exif={"Software": "17.1"}))
    timings = [detector.analyse(sample).elapsed_ms for _ in range(7)]
    # Typically ~0.3 ms; the bound only catches a gross regression on a loaded CI box.
    assert statistics.median(timings) < 25.0


def test_one_detector_serves_concurrent_threads(detector: ProvenanceDetector) -> None:
    samples = [make_sample(fixture_bytes(n)) for n in ("C.jpg", "XCA.jpg", "no_manifest.jpg")]
    expected = [detector.analyse(s).reasons for s in samples]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(detector.analyse, samples * 8))
    assert [r.reasons for r in results] == expected * 8


def test_trust_anchors_come_from_the_settings(tmp_path: Path, plain_jpeg: bytes) -> None:
    from faceverdict.config import Settings
    from faceverdict.wiring.ensembles import build_detector

    anchors = tmp_path / "camera-cas.pem"
    anchors.write_text(throwaway_ca_pem())
    capture = make_sample(sign_jpeg(plain_jpeg, DIGITAL_CAPTURE))

    default = build_detector(Settings(data_dir=tmp_path), "provenance")
    assert default.analyse(capture).reasons == (CAPTURE, UNTRUSTED)

    trusting = build_detector(
        Settings(data_dir=tmp_path, c2pa_trust_anchors_file=anchors), "provenance"
    )
    assert trusting.analyse(capture).reasons == (CAPTURE,)
    # The registry's factory reads the same trust from its context.
    context = DetectorContext(c2pa_trust_anchors_pem=anchors.read_text())
    assert create_detector("provenance", context).analyse(capture).reasons == (CAPTURE,)


def test_unreadable_trust_anchor_settings_are_refused_at_start(tmp_path: Path) -> None:
    from faceverdict.config import Settings
    from faceverdict.wiring.ensembles import build_detector

    missing = Settings(data_dir=tmp_path, c2pa_trust_anchors_file=tmp_path / "none.pem")
    with pytest.raises(ConfigurationError, match="c2pa_trust_anchors_file: cannot read"):
        build_detector(missing, "provenance")
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate")
    with pytest.raises(ConfigurationError):
        build_detector(Settings(data_dir=tmp_path, c2pa_trust_anchors_file=garbage), "provenance")

"""The provenance detector: what the file says about where it came from.

Two sources, one result:

- **C2PA Content Credentials** (``c2pa_reader``): a signed manifest declaring a
  generative-AI source, a manifest broken after signing, a camera capture (worth much
  more when the signer chains to a configured trust anchor), or edits.
- **Generator traces in unsigned metadata** (``metadata_traces``): Stable Diffusion UIs'
  PNG chunks, generator names in EXIF/XMP software fields, IPTC digital source types,
  face-retouch apps and photo editors.

Reason codes (stable, UPPER_SNAKE) and fake probabilities, on the fusion's scale where
0.5 is no evidence:

=============================  ===========  ===========================================
reason                         probability  when
=============================  ===========  ===========================================
C2PA_GENERATIVE_SOURCE         0.95-0.99    signed trainedAlgorithmicMedia (0.98),
                                            compositeWithTrained.../compositeSynthetic
                                            (0.97), algorithmicMedia (0.95); only in an
                                            ingredient: 0.95; +0.01 when trusted
C2PA_INVALID_MANIFEST          0.7          validation failed (signature, data hash,
                                            hashed URI, ...); failing codes in details
C2PA_NON_CAPTURE_SOURCE        0.65         screenCapture, virtualRecording,
                                            digitalCreation
C2PA_EDITED                    0.55 / 0.65  edits without generative AI / AI-enhanced
C2PA_CAMERA_CAPTURE            0.1 / 0.4    digitalCapture (computational, composite
                                            capture too): trusted / untrusted signer
C2PA_UNTRUSTED_SIGNER          (flag)       signer not chained to a trust anchor
C2PA_REMOTE_MANIFEST           none         manifest only by URL (never fetched)
C2PA_UNREADABLE                none         c2pa could not parse the file
METADATA_GENERATOR_TRACE       0.9-0.97     generator name or SD UI parameters/workflow
METADATA_AI_SOURCE_TYPE        0.93-0.96    IPTC generative source type, unsigned
METADATA_FACE_EDITOR           0.7-0.75     FaceApp, Facetune, Remini, Meitu, ...
METADATA_PHOTO_EDITOR          0.6          Photoshop, GIMP, Snapseed, Lightroom, ...
=============================  ===========  ===========================================

No manifest and no trace: no opinion (``fake_probability`` None).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import c2pa

from faceverdict.detectors.base import Sample
from faceverdict.detectors.c2pa_reader import C2paEvidence, ContentCredentialsReader
from faceverdict.detectors.metadata_traces import Trace, find_traces
from faceverdict.detectors.registry import DetectorContext, register
from faceverdict.domain.detection import DetectorInfo, DetectorKind, DetectorResult

# The rules' own version, then the C2PA SDK's: both change what a file yields.
VERSION = f"1.0.0+c2pa-python.{c2pa.__version__}"


@dataclass(frozen=True)
class _Evidence:
    fake_probability: float
    reason: str


def strongest(evidence: list[_Evidence]) -> _Evidence | None:
    """The piece of evidence farthest from even odds; ties go to the more suspicious.

    Rule: provenance signals are not independent (a generator writes both its PNG chunk
    and its EXIF Software; a C2PA manifest restates the XMP), so multiplying them would
    double count. The single most decisive one speaks for the file, whichever way it
    points: a trusted camera signature (0.1, 0.4 from even) outweighs a "Photoshop"
    Software tag (0.6, 0.1 from even), while "Stable Diffusion" in the metadata (0.95)
    outweighs an untrusted, self-signed "digitalCapture" claim (0.4).
    """
    if not evidence:
        return None
    return max(evidence, key=lambda e: (abs(e.fake_probability - 0.5), e.fake_probability))


class ProvenanceDetector:
    """C2PA Content Credentials and metadata generator traces, as one inline detector.

    ``trust_anchors_pem``: a PEM bundle of the root CAs whose C2PA signers count as
    trusted (e.g. the CAs of the camera makers or capture SDKs a deployment accepts); it
    replaces the SDK's built-in list. ``allowed_certificates_pem``: signer certificates
    trusted individually. Without either, every signer is untrusted
    (``C2PA_UNTRUSTED_SIGNER``) and camera-capture claims count for little. A bad PEM
    raises ``ConfigurationError`` here, at start-up.
    """

    def __init__(
        self,
        trust_anchors_pem: str | None = None,
        *,
        allowed_certificates_pem: str | None = None,
    ) -> None:
        self.info = DetectorInfo(
            name="provenance",
            version=VERSION,
            kind=DetectorKind.INLINE,
            description="C2PA Content Credentials and generator traces in image metadata",
            licence="c2pa-python: MIT OR Apache-2.0",
        )
        self._c2pa = ContentCredentialsReader(trust_anchors_pem, allowed_certificates_pem)

    def analyse(self, sample: Sample) -> DetectorResult:
        """Judge the file's provenance; never raises."""
        started = time.perf_counter()
        c2pa_evidence = self._c2pa.read(sample.data, sample.image.media_type)
        extra: dict[str, float | str | bool] = {}
        try:
            traces = find_traces(sample.image.metadata)
        except Exception as exc:  # defensive: metadata comes from an untrusted file
            traces = ()
            extra["metadata_error"] = str(exc)[:200]
        elapsed_ms = (time.perf_counter() - started) * 1000
        return self._result(c2pa_evidence, traces, extra, elapsed_ms)

    def _result(
        self,
        c2pa_evidence: C2paEvidence,
        traces: tuple[Trace, ...],
        extra: dict[str, float | str | bool],
        elapsed_ms: float,
    ) -> DetectorResult:
        evidence = [_Evidence(t.fake_probability, t.reason) for t in traces]
        if c2pa_evidence.fake_probability is not None:
            decisive_c2pa = next(
                (r for r in c2pa_evidence.reasons if r != "C2PA_UNTRUSTED_SIGNER"), ""
            )
            evidence.insert(0, _Evidence(c2pa_evidence.fake_probability, decisive_c2pa))
        best = strongest(evidence)

        details = {**c2pa_evidence.details, **extra}
        for reason in dict.fromkeys(t.reason for t in traces):
            of_reason = [t for t in traces if t.reason == reason]
            prefix = reason.lower()
            details[f"{prefix}_tool"] = ", ".join(dict.fromkeys(t.tool for t in of_reason))
            details[f"{prefix}_field"] = ", ".join(dict.fromkeys(t.where for t in of_reason))
        reasons = list(c2pa_evidence.reasons) + [t.reason for t in traces]
        if best is not None:
            details["decisive_reason"] = best.reason
            reasons.insert(0, best.reason)  # the decisive reason first
        return DetectorResult(
            detector=self.info.name,
            version=self.info.version,
            fake_probability=None if best is None else best.fake_probability,
            reasons=tuple(dict.fromkeys(reasons)),
            elapsed_ms=elapsed_ms,
            details=details,
        )


@register("provenance", calibrated=False)
def create_provenance_detector(context: DetectorContext) -> ProvenanceDetector:
    """The registry's factory: hard evidence (the fusion adds it, never calibrates it), with
    the deployment's C2PA trust from ``context`` (none: every C2PA signer is untrusted)."""
    return ProvenanceDetector(
        context.c2pa_trust_anchors_pem,
        allowed_certificates_pem=context.c2pa_allowed_certificates_pem,
    )

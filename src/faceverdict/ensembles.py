"""Detector ensembles from the settings: registered detectors, deployment trust, fusion."""

from __future__ import annotations

import importlib
from pathlib import Path

from faceverdict.config import Settings
from faceverdict.detectors.base import Detector
from faceverdict.detectors.capture_gate import CaptureGate
from faceverdict.detectors.ensemble import Ensemble, Gate
from faceverdict.detectors.fusion import Fusion, FusionParameters
from faceverdict.detectors.imaging import DecodeLimits
from faceverdict.detectors.provenance import ProvenanceDetector
from faceverdict.detectors.registry import create_detector, list_detectors
from faceverdict.domain.detection import DetectorKind
from faceverdict.errors import ConfigurationError


def load_detector_modules(settings: Settings) -> None:
    """Import the configured detector modules, so that their ``@register`` calls run."""
    for name in settings.detector_modules:
        importlib.import_module(name)


def _read_pem(path: Path | None, setting: str) -> str | None:
    if path is None:
        return None
    try:
        return path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not a PEM file"
        raise ConfigurationError(f"{setting}: cannot read {path}: {reason}") from None


def build_detector(settings: Settings, name: str) -> Detector:
    """The registered detector ``name``, with the deployment's C2PA trust for provenance."""
    if name != "provenance":
        return create_detector(name)
    anchors = _read_pem(settings.c2pa_trust_anchors_file, "c2pa_trust_anchors_file")
    allowed = _read_pem(settings.c2pa_allowed_certificates_file, "c2pa_allowed_certificates_file")
    if anchors or allowed:
        return ProvenanceDetector(anchors, allowed_certificates_pem=allowed)
    return create_detector(name)


def build_ensemble(settings: Settings, gate: Gate | None = None) -> Ensemble:
    """The inline ensemble named by the settings (capture gate + registered detectors)."""
    load_detector_modules(settings)
    return Ensemble(
        detectors=[build_detector(settings, name) for name in settings.inline_detectors],
        fusion=Fusion(FusionParameters.load()),
        gate=gate if gate is not None else CaptureGate(),
        limits=DecodeLimits(max_bytes=settings.max_upload_bytes, max_pixels=settings.max_pixels),
        threads=settings.detector_threads,
    )


def build_assurance_ensemble(settings: Settings, inline: Ensemble) -> Ensemble:
    """The assurance ensemble: the assurance detectors plus the inline ones they don't replace.

    An assurance detector named ``<x>_assurance`` replaces the inline detector ``<x>``; the
    capture gate, fusion and decode limits are the inline ensemble's.
    """
    load_detector_modules(settings)
    names = settings.assurance_detectors
    if names is None:
        names = list_detectors(DetectorKind.ASSURANCE)
    replaced = {name.removesuffix("_assurance") for name in names}
    kept = [d for d in inline.detectors if d.info.name not in replaced]
    return Ensemble(
        detectors=kept + [build_detector(settings, name) for name in names],
        fusion=inline.fusion,
        gate=inline.gate,
        limits=inline.limits,
        threads=inline.threads,
    )

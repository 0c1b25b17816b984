"""Detector ensembles from the settings: registered detectors, their context, fusion.

No detector is named here: each is built by its registered factory from a
``DetectorContext`` (the deployment's C2PA trust, the detector's ``detector_options``).
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Sequence
from pathlib import Path

from faceverdict.config import Settings
from faceverdict.detectors.base import Detector
from faceverdict.detectors.capture_gate import CaptureGate
from faceverdict.detectors.ensemble import Ensemble, Gate, Safeguards
from faceverdict.detectors.fusion import Fusion, FusionParameters
from faceverdict.detectors.imaging import DecodeLimits
from faceverdict.detectors.registry import DetectorContext, create_detector, list_detectors
from faceverdict.domain.detection import DetectorKind
from faceverdict.errors import ConfigurationError

log = logging.getLogger(__name__)


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


def detector_context(settings: Settings) -> DetectorContext:
    """The deployment's part of every detector's context: the C2PA trust files, read here.

    Each detector gets its own ``options`` on top (``detector_options``, see ``build_detectors``).
    """
    return DetectorContext(
        c2pa_trust_anchors_pem=_read_pem(
            settings.c2pa_trust_anchors_file, "c2pa_trust_anchors_file"
        ),
        c2pa_allowed_certificates_pem=_read_pem(
            settings.c2pa_allowed_certificates_file, "c2pa_allowed_certificates_file"
        ),
    )


def build_detectors(
    settings: Settings, names: Sequence[str], context: DetectorContext | None = None
) -> list[Detector]:
    """The registered detectors ``names``, each built with ``context`` (default: from the
    settings) and its own ``detector_options``.

    Loads the ``detector_modules`` first; options for a detector nobody registered are a
    ConfigurationError (a typo would otherwise be ignored).
    """
    load_detector_modules(settings)
    unknown = sorted(set(settings.detector_options) - set(list_detectors()))
    if unknown:
        raise ConfigurationError(
            f"detector_options: no detector is registered as {', '.join(map(repr, unknown))}"
        )
    if context is None:
        context = detector_context(settings)
    return [
        create_detector(name, context.with_options(settings.detector_options.get(name, {})))
        for name in names
    ]


def build_detector(settings: Settings, name: str) -> Detector:
    """The registered detector ``name``, built with the deployment's context."""
    return build_detectors(settings, [name])[0]


def warn_uncalibrated(detectors: Sequence[Detector], fusion: Fusion) -> list[str]:
    """Log (and return) the detectors whose registration and ``fusion.json`` disagree.

    A learned detector (``calibrated=True``) that the parameters do not standardise still
    runs, but the fusion counts it as plain evidence (``default_weight * logit(p)``) until
    ``make calibrate`` refits the file; an evidence detector that they do standardise is
    counted as learned. Either way the scores are not what the registration says.
    """
    learned = set(list_detectors(calibrated=True))
    mismatched: list[str] = []
    for detector in detectors:
        name = detector.info.name
        if name in learned and not fusion.calibrates(name):
            log.warning(
                "detector %s is learned but %s has no calibration for it: the fusion counts "
                "it as plain evidence (weight %s) until `make calibrate` refits the file",
                name,
                fusion.version,
                fusion.params.default_weight,
            )
            mismatched.append(name)
        elif name not in learned and fusion.calibrates(name):
            log.warning(
                "detector %s is registered as evidence but %s standardises it as a learned "
                "detector: refit the file with `make calibrate`",
                name,
                fusion.version,
            )
            mismatched.append(name)
    return mismatched


def build_ensemble(settings: Settings, gate: Gate | None = None) -> Ensemble:
    """The inline ensemble named by the settings (capture gate + registered detectors)."""
    detectors = build_detectors(settings, settings.inline_detectors)
    fusion = Fusion(FusionParameters.load())
    warn_uncalibrated(detectors, fusion)
    return Ensemble(
        detectors=detectors,
        fusion=fusion,
        gate=gate if gate is not None else CaptureGate(),
        limits=DecodeLimits(max_bytes=settings.max_upload_bytes, max_pixels=settings.max_pixels),
        threads=settings.detector_threads,
        safeguards=safeguards(settings, settings.inline_deadline_ms),
    )


def safeguards(settings: Settings, deadline_ms: float) -> Safeguards:
    """Deadline, per-detector timeouts and circuit breakers from the settings."""
    return Safeguards(
        deadline_seconds=deadline_ms / 1000,
        timeouts={k: v / 1000 for k, v in settings.detector_timeouts_ms.items()},
        fail_max=settings.detector_breaker_failures,
        reset_seconds=settings.detector_breaker_reset_seconds,
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
    detectors = kept + build_detectors(settings, names)
    warn_uncalibrated(detectors[len(kept) :], inline.fusion)
    return Ensemble(
        detectors=detectors,
        fusion=inline.fusion,
        gate=inline.gate,
        limits=inline.limits,
        threads=inline.threads,
        safeguards=safeguards(settings, settings.assurance_deadline_ms),
    )

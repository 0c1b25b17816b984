"""The stable output of ``faceverdict scan``: one JSON object per image (see docs/cli.md)."""

from __future__ import annotations

from typing import Any

from faceverdict.domain.detection import Abstention
from faceverdict.domain.policy import ABSTAINED_BAND
from faceverdict.services.checks import Assessment

SCAN_SCHEMA_VERSION = 1


def scan_record(path: str, assessment: Assessment) -> dict[str, Any]:
    """The JSON object ``scan`` prints for one judged image."""
    j, o = assessment.judgement, assessment.outcome
    return {
        "schema": SCAN_SCHEMA_VERSION,
        "path": path,
        "sha256": j.capture.sha256,
        "authenticity_score": j.authenticity_score,
        "abstained": j.abstention.value if j.abstention else None,
        "band": o.band,
        "action": o.action.value,
        "reasons": list(dict.fromkeys(o.reasons + tuple(r for x in j.results for r in x.reasons))),
        "composite_risk": o.composite_risk,
        "detectors": [
            {
                "name": r.detector,
                "version": r.version,
                "fake_probability": r.fake_probability,
                "reasons": list(r.reasons),
                "elapsed_ms": r.elapsed_ms,
                "details": r.details,
            }
            for r in j.results
        ],
        "policy_version": assessment.policy_version,
        "model_versions": j.model_versions,
        "elapsed_ms": j.elapsed_ms,
    }


def rejected_record(
    path: str, abstention: Abstention, detail: str, action: str, policy_version: str
) -> dict[str, Any]:
    """The JSON object ``scan`` prints for a file that is not an acceptable image."""
    return {
        "schema": SCAN_SCHEMA_VERSION,
        "path": path,
        "sha256": None,
        "authenticity_score": None,
        "abstained": abstention.value,
        "band": ABSTAINED_BAND,
        "action": action,
        "reasons": [f"ABSTAINED_{abstention.value.upper()}"],
        "composite_risk": None,
        "detectors": [],
        "policy_version": policy_version,
        "model_versions": {},
        "elapsed_ms": 0.0,
        "error": detail,
    }

"""Reason codes, signals and durations in plain words for reviewers."""

from __future__ import annotations

import re
from datetime import timedelta

from faceverdict.domain.review import AttackType, TaskReason

REASONS: dict[str, str] = {
    # provenance
    "C2PA_GENERATIVE_SOURCE": "Content Credentials say a generative AI made this image.",
    "C2PA_CAMERA_CAPTURE": "Content Credentials signed by a camera say this is a direct capture.",
    "C2PA_EDITED": "Content Credentials record edits after capture.",
    "C2PA_INVALID_MANIFEST": "The Content Credentials are broken or tampered with.",
    "C2PA_NON_CAPTURE_SOURCE": "Content Credentials say this did not come straight from a camera.",
    "C2PA_REMOTE_MANIFEST": "The Content Credentials point to a remote manifest (not checked).",
    "C2PA_UNREADABLE": "The Content Credentials could not be read.",
    "C2PA_UNTRUSTED_SIGNER": "The Content Credentials are signed by an unknown signer.",
    "METADATA_AI_SOURCE_TYPE": "The file's metadata declares an AI-generated source.",
    "METADATA_FACE_EDITOR": "The file's metadata names a face-editing app.",
    "METADATA_GENERATOR_TRACE": "The file carries traces of an image generator (e.g. Stable "
    "Diffusion, ComfyUI settings).",
    "METADATA_PHOTO_EDITOR": "The file's metadata names a photo editor.",
    "DETECTOR_FAILED": "This detector failed on the capture; it had no say.",
    "DEMO_ILLUSTRATION": "Illustrative heatmap drawn by `faceverdict demo`; not a detector.",
    # policy
    "LIVENESS_LOW": "The client's liveness check scored low.",
    "DEVICE_RISK_HIGH": "The client reports a risky device.",
    "DOCUMENT_MISMATCH": "The face does not match the identity document well.",
    # review
    "REVIEW_GENUINE": "A reviewer judged the capture genuine.",
    "REVIEW_FAKE": "A reviewer judged the capture fake.",
    "REVIEW_INCONCLUSIVE": "A reviewer could not decide.",
}

_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"^BAND_(\w+)$"), "The score falls in the '{0}' band of the policy."),
    (re.compile(r"^ABSTAINED_(\w+)$"), "No score: the capture could not be judged ({0})."),
    (re.compile(r"^COMPOSITE_RISK_(\w+)$"), "The combined risk of all signals requires {0}."),
    (re.compile(r"^ATTACK_(\w+)$"), "Attack type: {0}."),
]

TASK_REASONS: dict[TaskReason, str] = {
    TaskReason.POLICY_ACTION: "Policy sent this check to review",
    TaskReason.DETECTOR_CONFLICT: "Detectors disagree strongly",
    TaskReason.ASSURANCE_ESCALATION: "Deeper analysis asked for a person",
    TaskReason.QC_SAMPLE: "Random quality audit of an automated decision",
    TaskReason.SECOND_REVIEW: "Independent second review",
    TaskReason.DISAGREEMENT: "Two reviewers disagreed: adjudicate",
}

ATTACK_TYPES: dict[AttackType, str] = {
    AttackType.FACE_SWAP: "Face swap",
    AttackType.FULLY_SYNTHETIC: "Fully synthetic (generated) face",
    AttackType.MORPH: "Morph of two faces",
    AttackType.EDITED: "Edited (retouched, inpainted)",
    AttackType.PRESENTATION_ATTACK: "Presentation attack (screen, print, mask)",
    AttackType.OTHER: "Other",
}

SIGNALS: dict[str, tuple[str, str]] = {
    "liveness_score": ("Liveness", "1 = surely live"),
    "device_risk": ("Device risk", "1 = surely risky"),
    "document_match_score": ("Document match", "1 = surely the document holder"),
}


def _words(code: str) -> str:
    return code.lower().replace("_", " ")


def reason(code: str) -> str:
    """A reason code in plain words; unknown codes are spelled out."""
    if code in REASONS:
        return REASONS[code]
    for pattern, template in _PATTERNS:
        match = pattern.match(code)
        if match:
            return template.format(_words(match.group(1)))
    return _words(code).capitalize() + "."


def duration(delta: timedelta) -> str:
    """A short, rounded duration: '45 s', '12 min', '3 h 05 min', '2 d 4 h'."""
    seconds = abs(int(delta.total_seconds()))
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes:02d} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"


def time_left(delta: timedelta) -> str:
    """Time to an SLA: '12 min left' or 'overdue by 3 min'."""
    if delta.total_seconds() < 0:
        return f"overdue by {duration(delta)}"
    return f"{duration(delta)} left"


def percent(value: float | None) -> str:
    """A probability as a percentage, or a dash."""
    return "–" if value is None else f"{value * 100:.0f}%"

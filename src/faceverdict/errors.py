"""One exception tree for the whole service; mapped to HTTP problem types only at the edge.

FaceverdictError
├── CaptureRejected           bad upload: nothing is stored (HTTP 4xx)
│   ├── UnsupportedFormat     not an allowed image type (415)
│   ├── CorruptedImage        truncated or undecodable (422)
│   ├── ImageTooLarge         too many bytes or pixels (413)
│   └── AnimatedImage         more than one frame (422)
├── InvalidRequest            a field is missing or out of range (422)
│   └── UnknownFlow           the flow is not in the policy (422)
├── IdempotencyConflict       same Idempotency-Key, different request (409)
├── NotFound                  no such check (404)
│   └── CaptureGone           the capture was erased or expired (410)
├── Unauthorized              missing or wrong API key (401)
├── ConfigurationError        settings or policy refused at start
├── IntegrityFailure          the evidence log failed a self-check (500)
└── Unavailable               a backing service is down (503)
    ├── KeyUnavailable        a data key cannot be unwrapped now (KMS down) (503)
    └── Overloaded            too many checks in flight in this process (503)
"""

from __future__ import annotations

from faceverdict.domain.detection import Abstention


class FaceverdictError(Exception):
    """Base of every error the service raises on purpose."""

    slug = "error"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class CaptureRejected(FaceverdictError):
    """The upload is not an acceptable image; it is not stored."""

    slug = "bad-capture"
    abstention: Abstention = Abstention.CORRUPTED


class UnsupportedFormat(CaptureRejected):
    """The bytes are not one of the allowed image formats."""

    slug = "unsupported-format"
    abstention = Abstention.UNSUPPORTED_FORMAT


class CorruptedImage(CaptureRejected):
    """The image is truncated or cannot be decoded."""

    slug = "corrupted"
    abstention = Abstention.CORRUPTED


class ImageTooLarge(CaptureRejected):
    """The upload exceeds the byte or pixel cap (decompression bombs included)."""

    slug = "too-large"
    abstention = Abstention.TOO_LARGE


class AnimatedImage(CaptureRejected):
    """The image has several frames; a capture must be a single still."""

    slug = "animated"
    abstention = Abstention.ANIMATED


class InvalidRequest(FaceverdictError):
    """A request field is missing or invalid."""

    slug = "invalid-request"


class UnsafeWebhookTarget(InvalidRequest):
    """A webhook URL points at an address the service must not call (SSRF protection)."""

    slug = "unsafe-webhook-target"


class UnknownFlow(InvalidRequest):
    """The flow is not defined by the active policy."""

    slug = "unknown-flow"


class IdempotencyConflict(FaceverdictError):
    """The Idempotency-Key was already used for a different request."""

    slug = "idempotency-conflict"


class NotFound(FaceverdictError):
    """The requested resource does not exist."""

    slug = "not-found"


class CaptureGone(NotFound):
    """The raw capture no longer exists: erased with its subject, or past retention."""

    slug = "capture-gone"


class Unauthorized(FaceverdictError):
    """The request carries no valid API key."""

    slug = "unauthorized"


class ConfigurationError(FaceverdictError):
    """Settings or policy are invalid; the service refuses to start."""

    slug = "configuration"


class IntegrityFailure(FaceverdictError):
    """The evidence log disagrees with itself; nothing is signed or served until resolved."""

    slug = "integrity-failure"


class Unavailable(FaceverdictError):
    """A backing service (database, storage) is unavailable; retry later."""

    slug = "unavailable"


class KeyUnavailable(Unavailable):
    """A data key cannot be generated or unwrapped now (e.g. the KMS is unreachable)."""

    slug = "key-unavailable"


class Overloaded(Unavailable):
    """This process is judging as many checks as it may at once: retry shortly."""

    slug = "overloaded"

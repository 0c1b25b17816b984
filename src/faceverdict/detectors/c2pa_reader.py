"""C2PA Content Credentials: read and validate the manifest store, turn it into evidence.

``c2pa-python`` (the C2PA reference implementation, c2pa-rs) reads the manifest store
embedded in the file, checks the claim signature, the hashes binding it to these bytes
and, where trust anchors are configured, the signer's certificate chain. We then look at
what the active manifest and its ingredients claim: how the content came to be (IPTC
``digitalSourceType`` on the actions) and what was done to it since.

Reading never touches the network: remote manifests and OCSP fetching are switched off
(the inline path has no time for it, and a URL in an upload must not make us call out).
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import c2pa

from faceverdict.detectors.metadata_traces import GENERATIVE_SOURCE_TYPES, source_type_code
from faceverdict.errors import ConfigurationError

C2PA_GENERATIVE_SOURCE = "C2PA_GENERATIVE_SOURCE"
C2PA_INVALID_MANIFEST = "C2PA_INVALID_MANIFEST"
C2PA_CAMERA_CAPTURE = "C2PA_CAMERA_CAPTURE"
C2PA_EDITED = "C2PA_EDITED"
C2PA_NON_CAPTURE_SOURCE = "C2PA_NON_CAPTURE_SOURCE"
C2PA_UNTRUSTED_SIGNER = "C2PA_UNTRUSTED_SIGNER"
C2PA_REMOTE_MANIFEST = "C2PA_REMOTE_MANIFEST"
C2PA_UNREADABLE = "C2PA_UNREADABLE"

# The numbers are likelihoods on the fusion's scale: 0.5 is no evidence either way.
# A manifest that fails validation: the pixels (dataHash), the claim (claimSignature) or an
# assertion (hashedURI) changed after signing. Suspicious, since a KYC capture goes straight
# from the capturing SDK to us, but not proof: editors unaware of C2PA re-save files and
# leave the stale manifest behind. Moderate: ~2.3:1 towards fake.
INVALID_MANIFEST_P = 0.7
# A generative source declared only by an ingredient (e.g. an AI image composited in).
GENERATIVE_INGREDIENT_P = 0.95
# A signature chaining to a configured trust anchor (a camera maker's CA) on a capture:
# strong genuine evidence, yet not certainty, since a real camera can photograph a screen.
TRUSTED_CAPTURE_P = 0.1
# The same claim under an untrusted signer: anyone can make a certificate and sign a
# deepfake as "digitalCapture", so it is barely evidence; a slight lean only, because
# real capture pipelines are what emit such manifests in practice.
UNTRUSTED_CAPTURE_P = 0.4
# Edits without generative AI: the image is not what the sensor recorded. Near neutral.
EDITED_P = 0.55
# AI enhancement (``algorithmicallyEnhanced``: upscaling, denoise, beautify): new detail
# was synthesised, but not new content.
AI_ENHANCED_P = 0.65
# Not a camera capture of a person at all: a screenshot, a screen/virtual recording, or a
# human-made digital creation. For a face capture that points to replay or fabrication.
NON_CAPTURE_P = 0.65

CAPTURE_SOURCE_TYPES = frozenset({"digitalCapture", "computationalCapture", "compositeCapture"})
NON_CAPTURE_SOURCE_TYPES = frozenset({"screenCapture", "virtualRecording", "digitalCreation"})
# Actions that record where the asset came from or how it was packaged, not an edit.
NON_EDIT_ACTIONS = frozenset(
    {
        "c2pa.created",
        "c2pa.opened",
        "c2pa.published",
        "c2pa.repackaged",
        "c2pa.managed",
        "c2pa.watermarked",
        "c2pa.watermarked.bound",
        "c2pa.watermarked.unbound",
    }
)
_UNTRUSTED_CODES = frozenset({"signingCredential.untrusted"})
_MAX_INGREDIENT_DEPTH = 16

Details = dict[str, float | str | bool]


@dataclass(frozen=True)
class C2paEvidence:
    """What the Content Credentials say: a fake probability (None: no opinion), why."""

    fake_probability: float | None
    reasons: tuple[str, ...] = ()
    details: Details = field(default_factory=dict)


@dataclass(frozen=True)
class _Action:
    name: str
    source_type: str | None
    agent: str
    in_ingredient: bool


class ContentCredentialsReader:
    """Reads C2PA manifests with a fixed, offline configuration.

    ``trust_anchors_pem``: root CA certificates (PEM bundle) whose signers count as
    trusted, typically the CAs of the camera makers or capture SDKs a deployment accepts.
    They *replace* the SDK's built-in list, so "trusted" means exactly "chains to a CA this
    deployment chose". Without them every signer is ``signingCredential.untrusted``.
    ``allowed_certificates_pem``: end-entity certificates trusted as such (no chain).
    """

    def __init__(
        self,
        trust_anchors_pem: str | None = None,
        allowed_certificates_pem: str | None = None,
    ) -> None:
        trust: dict[str, str] = {}
        if trust_anchors_pem:
            trust["trust_anchors"] = trust_anchors_pem
        if allowed_certificates_pem:
            trust["allowed_list"] = allowed_certificates_pem
        settings: dict[str, Any] = {
            "verify": {"remote_manifest_fetch": False, "ocsp_fetch": False},
            "trust": trust,
        }
        try:
            # One context for every read: the SDK guards its use across threads.
            self._context = c2pa.Context.from_dict(settings)
        except Exception as exc:  # c2pa reports a bad PEM as a generic C2paError
            raise ConfigurationError(f"C2PA trust configuration refused: {exc}") from None
        self.trust_configured = bool(trust)

    def read(self, data: bytes, media_type: str) -> C2paEvidence:
        """Evidence from the manifest store in ``data``; never raises."""
        try:
            with c2pa.Reader(media_type, io.BytesIO(data), None, self._context) as reader:
                store = json.loads(reader.json())
        except c2pa.C2paError.ManifestNotFound:
            return C2paEvidence(None, (), {"c2pa_manifest": False})
        except Exception as exc:  # malformed input must never escape the detector
            message = str(exc)
            if message.startswith("Remote"):  # a remote manifest we do not fetch
                return C2paEvidence(None, (C2PA_REMOTE_MANIFEST,), {"c2pa_remote": message[:200]})
            return C2paEvidence(None, (C2PA_UNREADABLE,), {"c2pa_error": message[:200]})
        try:
            return evaluate_store(store, trust_configured=self.trust_configured)
        except Exception as exc:  # an unexpected shape of the store JSON
            return C2paEvidence(None, (C2PA_UNREADABLE,), {"c2pa_error": f"store: {exc}"[:200]})


def evaluate_store(store: Mapping[str, Any], *, trust_configured: bool = False) -> C2paEvidence:
    """Turn a manifest store (``Reader.json()``) into evidence."""
    manifests: Mapping[str, Any] = store.get("manifests") or {}
    active = manifests.get(store.get("active_manifest") or "")
    if not isinstance(active, Mapping):
        return C2paEvidence(None, (C2PA_UNREADABLE,), {"c2pa_error": "no active manifest"})

    statuses = [s.get("code", "") for s in store.get("validation_status") or []]
    failures = sorted({c for c in statuses if c and c not in _UNTRUSTED_CODES})
    success = _codes(store, "success")
    state = str(store.get("validation_state") or ("Invalid" if failures else "Valid"))
    trusted = state == "Trusted" or "signingCredential.trusted" in success
    # Treated as invalid only for a real failure: should a future SDK mark an untrusted
    # signer alone as Invalid, that stays a trust question, not tampering.
    invalid = state == "Invalid" and bool(failures)

    actions = list(_actions(manifests, active, in_ingredient=False, depth=0, seen=set()))
    own = [a for a in actions if not a.in_ingredient]
    details: Details = {
        "c2pa_manifest": True,
        "c2pa_state": state,
        "c2pa_signer_trusted": trusted,
        "c2pa_claim_generator": _claim_generator(active),
        "c2pa_actions": ",".join(dict.fromkeys(a.name for a in own)),
    }
    issuer = (active.get("signature_info") or {}).get("issuer")
    if issuer:
        details["c2pa_signer_issuer"] = str(issuer)
    if failures:
        details["c2pa_failures"] = ",".join(failures)

    reasons: list[str] = []
    probability: float | None = None

    def decide(action: _Action, reason: str, p: float) -> None:
        nonlocal probability
        reasons.append(reason)
        if probability is None:  # the first decision sets the probability: most severe first
            probability = p
            details["c2pa_source_type"] = action.source_type or ""
            details["c2pa_source_in"] = "ingredient" if action.in_ingredient else "active"
            if action.agent:
                details["c2pa_software_agent"] = action.agent

    generative = [a for a in actions if a.source_type in GENERATIVE_SOURCE_TYPES]
    if generative:
        first = min(generative, key=lambda a: (a.in_ingredient, -_gen_p(a)))
        # Trust barely matters here: a signed admission of AI is not what an attacker forges.
        p = GENERATIVE_INGREDIENT_P if first.in_ingredient else _gen_p(first)
        decide(first, C2PA_GENERATIVE_SOURCE, min(0.99, p + (0.01 if trusted else 0.0)))
    if invalid:
        reasons.append(C2PA_INVALID_MANIFEST)
        probability = probability if probability is not None else INVALID_MANIFEST_P
    enhanced = [a for a in own if a.source_type == "algorithmicallyEnhanced"]
    edits = [a for a in own if a.name not in NON_EDIT_ACTIONS]
    non_capture = [a for a in own if a.source_type in NON_CAPTURE_SOURCE_TYPES]
    if not invalid:
        if non_capture:
            decide(non_capture[0], C2PA_NON_CAPTURE_SOURCE, NON_CAPTURE_P)
        if enhanced:
            decide(enhanced[0], C2PA_EDITED, AI_ENHANCED_P)
        elif edits:
            decide(edits[0], C2PA_EDITED, EDITED_P)
        capture = [a for a in actions if a.source_type in CAPTURE_SOURCE_TYPES]
        if capture and not generative:
            decide(
                capture[0],
                C2PA_CAMERA_CAPTURE,
                TRUSTED_CAPTURE_P if trusted else UNTRUSTED_CAPTURE_P,
            )
    if not trusted:
        reasons.append(C2PA_UNTRUSTED_SIGNER)
        details["c2pa_trust_configured"] = trust_configured
    return C2paEvidence(probability, tuple(dict.fromkeys(reasons)), details)


def _gen_p(action: _Action) -> float:
    return GENERATIVE_SOURCE_TYPES[action.source_type or ""]


def _codes(store: Mapping[str, Any], kind: str) -> set[str]:
    results = (store.get("validation_results") or {}).get("activeManifest") or {}
    return {str(entry.get("code", "")) for entry in results.get(kind) or []}


def _claim_generator(manifest: Mapping[str, Any]) -> str:
    generator = manifest.get("claim_generator")
    if generator:
        return str(generator)[:200]
    infos = manifest.get("claim_generator_info") or []
    parts = [f"{i.get('name', '')} {i.get('version', '')}".strip() for i in infos]
    return "; ".join(p for p in parts if p)[:200]


def _agent(action: Mapping[str, Any]) -> str:
    agent = action.get("softwareAgent")
    if isinstance(agent, Mapping):
        agent = f"{agent.get('name', '')} {agent.get('version', '')}".strip()
    return str(agent or "")[:200]


def _actions(
    manifests: Mapping[str, Any],
    manifest: Mapping[str, Any],
    *,
    in_ingredient: bool,
    depth: int,
    seen: set[str],
) -> Iterator[_Action]:
    """Actions of ``manifest`` (c2pa.actions and .v2), then of its ingredients' manifests."""
    for assertion in manifest.get("assertions") or []:
        if not str(assertion.get("label", "")).startswith("c2pa.actions"):
            continue
        for action in (assertion.get("data") or {}).get("actions") or []:
            raw_type = action.get("digitalSourceType")
            source_type = source_type_code(str(raw_type)) if raw_type else None
            yield _Action(str(action.get("action", "")), source_type, _agent(action), in_ingredient)
    if depth >= _MAX_INGREDIENT_DEPTH:
        return
    for ingredient in manifest.get("ingredients") or []:
        label = ingredient.get("active_manifest")
        child = manifests.get(label) if isinstance(label, str) else None
        if isinstance(child, Mapping) and label not in seen:
            seen.add(label)
            yield from _actions(manifests, child, in_ingredient=True, depth=depth + 1, seen=seen)

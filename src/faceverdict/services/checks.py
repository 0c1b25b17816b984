"""Use cases of the inline path: assess a capture, submit a check, read a check."""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from dataclasses import dataclass

from faceverdict.detectors.ensemble import Ensemble, Judgement
from faceverdict.domain.check import Check, Decision
from faceverdict.domain.policy import ClientSignals, FlowPolicy, Outcome, Policy, apply_policy
from faceverdict.errors import IdempotencyConflict, InvalidRequest, NotFound, UnknownFlow
from faceverdict.ports.captures import CaptureRecord, CaptureVault
from faceverdict.ports.checks import CheckRepository, DuplicateIdempotencyKey
from faceverdict.ports.clock import Clock
from faceverdict.services.pseudonyms import Pseudonymizer
from faceverdict.services.recorder import CheckRecorder

log = logging.getLogger(__name__)

MAX_SUBJECT_REF = 256
MAX_IDEMPOTENCY_KEY = 255


@dataclass(frozen=True)
class SubmitCheck:
    """A request to judge one capture for one subject in one flow."""

    image: bytes
    subject_ref: str
    flow: str
    signals: ClientSignals
    idempotency_key: str | None = None


@dataclass(frozen=True)
class Assessment:
    """A judged capture with the policy's outcome, before anything is stored."""

    judgement: Judgement
    outcome: Outcome
    policy_version: str


@dataclass(frozen=True)
class Submitted:
    """The stored check, and whether this call created it (False: idempotent replay)."""

    check: Check
    created: bool


def new_id(prefix: str) -> str:
    """A random, URL-safe identifier with a type prefix, e.g. ``chk_…``."""
    return f"{prefix}_{uuid.uuid4().hex}"


class Assessor:
    """Judges a capture and applies the policy; stores nothing (used by scan and submit).

    ``inline``: the check waits for the answer, so the flow's ``deadline_ms`` bounds the
    detectors; the asynchronous assurance assessor keeps its ensemble's own, longer deadline.
    """

    def __init__(self, ensemble: Ensemble, policy: Policy, *, inline: bool = True) -> None:
        self.ensemble = ensemble
        self.policy = policy
        self.inline = inline

    def flow(self, flow: str) -> FlowPolicy:
        """The rules of ``flow``; UnknownFlow names the flows the policy defines."""
        try:
            return self.policy.flow(flow)
        except KeyError:
            known = ", ".join(sorted(self.policy.flows))
            raise UnknownFlow(f"unknown flow {flow!r}; the policy defines: {known}") from None

    def assess(self, image: bytes, flow: str, signals: ClientSignals) -> Assessment:
        """Judge a capture and apply the flow's policy."""
        flow_policy = self.flow(flow)
        deadline = None
        if self.inline and flow_policy.deadline_ms is not None:
            deadline = flow_policy.deadline_ms / 1000
        judgement = self.ensemble.judge(image, deadline_seconds=deadline)
        outcome = apply_policy(
            flow_policy,
            judgement.authenticity_score,
            judgement.abstention,
            signals,
            degraded=judgement.degraded,
        )
        return Assessment(judgement=judgement, outcome=outcome, policy_version=self.policy.version)


def capture_key(check_id: str) -> str:
    """The blob key of a check's raw capture."""
    return f"captures/{check_id}"


class CheckService:
    """Judges captures, applies the policy and keeps the record of each check.

    A check, its capture record, the evidence entries of its events and the events commit in
    one transaction through the recorder, which then dispatches the events (review tasks,
    assurance, webhooks are their handlers).
    """

    def __init__(
        self,
        *,
        repository: CheckRepository,
        recorder: CheckRecorder,
        blobs: CaptureVault,
        assessor: Assessor,
        pseudonymizer: Pseudonymizer,
        clock: Clock,
        store_captures: bool = True,
    ) -> None:
        self.repository = repository
        self.recorder = recorder
        self.blobs = blobs
        self.assessor = assessor
        self.pseudonymizer = pseudonymizer
        self.clock = clock
        self.store_captures = store_captures

    def submit(self, command: SubmitCheck) -> Submitted:
        """Judge, decide and store a check; a repeated Idempotency-Key returns the first one."""
        self._validate(command)
        fingerprint = self._fingerprint(command)
        if command.idempotency_key is not None:
            existing = self.repository.get_by_idempotency_key(command.idempotency_key)
            if existing is not None:
                return Submitted(self._replay(existing, fingerprint), created=False)
        assessment = self.assessor.assess(command.image, command.flow, command.signals)
        check = self._record(command, assessment, fingerprint)
        blob_key = capture_key(check.check_id)
        record: CaptureRecord | None = None
        if self.store_captures:
            key_id = self.blobs.put(
                blob_key, command.image, subject_pseudonym=check.subject_pseudonym
            )
            record = CaptureRecord(
                check_id=check.check_id,
                subject_pseudonym=check.subject_pseudonym,
                flow=check.flow,
                blob_key=blob_key,
                key_id=key_id,
                sha256=check.capture.sha256,
                media_type=check.capture.media_type,
                stored_at=check.created_at,
            )
        try:
            self.recorder.add(check, record)
        except DuplicateIdempotencyKey:
            # Lost a race with an identical request: keep the winner, leave nothing behind.
            self.blobs.delete(blob_key)
            existing = self.repository.get_by_idempotency_key(command.idempotency_key or "")
            if existing is None:
                raise
            return Submitted(self._replay(existing, fingerprint), created=False)
        except BaseException:
            self.blobs.delete(blob_key)
            raise
        # The decision's reactions may have moved the check on (e.g. to ``assuring``).
        return Submitted(self.repository.get(check.check_id) or check, created=True)

    def get(self, check_id: str) -> Check:
        """The current state of a check."""
        check = self.repository.get(check_id)
        if check is None:
            raise NotFound(f"no check with id {check_id!r}")
        return check

    def _validate(self, command: SubmitCheck) -> None:
        if not command.subject_ref or len(command.subject_ref) > MAX_SUBJECT_REF:
            raise InvalidRequest(f"subject_ref must be 1 to {MAX_SUBJECT_REF} characters")
        key = command.idempotency_key
        if key is not None and not (0 < len(key) <= MAX_IDEMPOTENCY_KEY and key.isprintable()):
            raise InvalidRequest(
                f"Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} printable characters"
            )
        self.assessor.flow(command.flow)

    def _fingerprint(self, command: SubmitCheck) -> str:
        body = {
            "image": hashlib.sha256(command.image).hexdigest(),
            "subject": self.pseudonymizer.pseudonym(command.subject_ref),
            "flow": command.flow,
            "signals": command.signals.as_dict(),
        }
        return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()

    @staticmethod
    def _replay(existing: Check, fingerprint: str) -> Check:
        if existing.request_fingerprint != fingerprint:
            raise IdempotencyConflict(
                "this Idempotency-Key was already used for a different request"
            )
        return existing

    def _record(self, command: SubmitCheck, assessment: Assessment, fingerprint: str) -> Check:
        now = self.clock.now()
        judgement, outcome = assessment.judgement, assessment.outcome
        check = Check.receive(
            check_id=new_id("chk"),
            subject_pseudonym=self.pseudonymizer.pseudonym(command.subject_ref),
            flow=command.flow,
            capture=judgement.capture,
            signals=command.signals,
            now=now,
            idempotency_key=command.idempotency_key,
            request_fingerprint=fingerprint,
        )
        reasons = outcome.reasons + tuple(r for result in judgement.results for r in result.reasons)
        decision = Decision(
            decision_id=new_id("dec"),
            check_id=check.check_id,
            authenticity_score=judgement.authenticity_score,
            abstention=judgement.abstention,
            band=outcome.band,
            action=outcome.action,
            reasons=tuple(dict.fromkeys(reasons)),
            policy_version=assessment.policy_version,
            model_versions=judgement.model_versions,
            composite_risk=outcome.composite_risk,
            final=outcome.final,
            decided_at=now,
        )
        check.decide(decision, judgement.results)
        return check

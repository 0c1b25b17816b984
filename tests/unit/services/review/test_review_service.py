"""Review use cases on memory stores with a manual clock."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import pytest

from faceverdict.domain.check import Check, CheckState, Decision, InvalidTransition
from faceverdict.domain.detection import DetectorResult
from faceverdict.domain.events import CheckReceived, DomainEvent
from faceverdict.domain.policy import Action
from faceverdict.domain.review import (
    AttackType,
    Priority,
    ReviewEvent,
    Role,
    TaskKind,
    TaskReason,
    TaskStatus,
    Tier,
    Verdict,
    VerdictLabel,
)
from faceverdict.ports.evidence import EntryDraft
from faceverdict.ports.review import QueueFilter
from faceverdict.services.recorder import CheckRecorder
from faceverdict.services.review.errors import Forbidden, LeaseLost, TaskUnavailable
from tests.support.review import (
    T0,
    ReviewWorld,
    WorldFactory,
    decided_event,
    make_check,
    queued,
    review_policy,
)

GENUINE = Verdict(VerdictLabel.GENUINE)
SWAP = Verdict(VerdictLabel.FAKE, AttackType.FACE_SWAP)


# task creation by policy


def test_review_actions_queue_tasks_with_the_flow_sla_and_priority(world: ReviewWorld) -> None:
    service = world.review.service
    onboarding = service.task(queued(world, make_check("chk_on")))
    payment = service.task(queued(world, make_check("chk_pay", flow="payment")))
    assert onboarding.due_at == T0 + timedelta(hours=24)
    assert onboarding.priority is Priority.NORMAL
    assert payment.due_at == T0 + timedelta(minutes=15)
    assert payment.priority is Priority.HIGH
    assert payment.reasons == (TaskReason.POLICY_ACTION,)
    assert payment.decides
    world.add_check(make_check("chk_ok", action=Action.ACCEPT, final=True, risk=0.1))
    assert world.decided(stored(world, "chk_ok")) is None
    # the same decision never queues twice
    assert world.decided(stored(world, "chk_on")) is None
    assert len(service.tasks.tasks_for_check("chk_on")) == 1
    assert any(isinstance(e, ReviewEvent) and e.kind == "task_created" for e in world.published)
    # a task that settles the check puts it in review, with its event in the evidence log
    assert stored(world, "chk_on").state is CheckState.IN_REVIEW
    assert stored(world, "chk_ok").state is CheckState.FINAL


def stored(world: ReviewWorld, check_id: str) -> Check:
    check = world.checks.get(check_id)
    assert check is not None
    return check


def test_the_sweep_queues_reviews_whose_handler_never_ran(world: ReviewWorld) -> None:
    service = world.review.service
    recorder = CheckRecorder(uow=world.stores.uow, bus=world.bus)
    dispatch = world.bus.dispatch
    world.bus.dispatch = lambda recorded: 0  # type: ignore[method-assign]  # the process stops
    for check in (
        make_check("chk_lost"),
        make_check("chk_lost_payment", flow="payment"),
        make_check("chk_ok", action=Action.ACCEPT, final=True, risk=0.1),
    ):
        check.events.extend(_events_of(check))
        recorder.add(check)
    world.bus.dispatch = dispatch  # type: ignore[method-assign]
    assert world.bus.catch_up() == 0  # still claimed by the process that recorded them
    world.clock.advance(minutes=3)  # the claim lapses
    assert world.bus.catch_up(limit=1) == 6  # every event settled, one at a time
    assert world.bus.catch_up() == 0  # each handler ran once
    assert [t.check_id for t in service.tasks.tasks_for_check("chk_lost")] == ["chk_lost"]
    assert len(service.tasks.tasks_for_check("chk_lost_payment")) == 1
    assert service.tasks.tasks_for_check("chk_ok") == []
    assert stored(world, "chk_lost").state is CheckState.IN_REVIEW


def _events_of(check: Check) -> list[DomainEvent]:
    """The events of a check as the inline path raises them (make_check pulled them)."""
    return [
        CheckReceived(check.check_id, check.created_at, check.flow, check.capture.sha256),
        decided_event(check),
    ]


def test_high_risk_tasks_go_to_seniors_only(world: ReviewWorld) -> None:
    task_id = queued(world, make_check("chk_1", risk=0.92))
    alice = world.account("alice")
    sam = world.account("sam", Role.SENIOR)
    service = world.review.service
    assert service.task(task_id).tier is Tier.SENIOR
    assert service.queue(alice, QueueFilter()) == []
    assert [t.task_id for t in service.queue(sam, QueueFilter())] == [task_id]
    with pytest.raises(Forbidden):
        service.claim(task_id, alice)
    assert service.claim(task_id, sam).held_by(sam.reviewer_id, T0)


def test_detector_conflict_queues_a_senior_task_even_for_a_step_up(world: ReviewWorld) -> None:
    results = [
        DetectorResult(detector="provenance", version="1", fake_probability=0.97),
        DetectorResult(detector="blending", version="1", fake_probability=0.05),
    ]
    check = make_check("chk_1", action=Action.STEP_UP, risk=0.3, results=results)
    task = world.review.service.task(queued(world, check))
    assert task.reasons == (TaskReason.DETECTOR_CONFLICT,)
    assert task.tier is Tier.SENIOR


def test_audit_samples_final_decisions_without_changing_them(make_world: WorldFactory) -> None:
    world = make_world(review_policy(audit=1.0))
    check = make_check("chk_1", action=Action.ACCEPT, final=True, risk=0.05)
    task_id = queued(world, check)
    service = world.review.service
    task = service.task(task_id)
    assert task.reasons == (TaskReason.QC_SAMPLE,)
    assert not task.decides
    assert task.priority is Priority.LOW
    alice = world.account("alice")
    service.claim(task_id, alice)
    result = service.submit_verdict(task_id, alice, SWAP)
    assert result.settled
    assert result.decision is None
    stored = world.checks.get("chk_1")
    assert stored is not None
    assert [d.decision_id for d in stored.decisions] == ["dec_chk_1"]
    assert [o.label for o in service.tasks.outcomes()] == [VerdictLabel.FAKE]


def test_an_assurance_review_decision_escalates_to_a_senior_once(world: ReviewWorld) -> None:
    check = make_check("chk_1", action=Action.STEP_UP, risk=0.3)
    world.add_check(check)
    service = world.review.service
    assert world.decided(check) is None  # a step-up needs no person
    escalation = _assured(check, Action.REVIEW)
    world.checks.save_decision(escalation)
    task = world.decided(escalation)
    assert task is not None
    assert task.reasons == (TaskReason.ASSURANCE_ESCALATION, TaskReason.POLICY_ACTION)
    assert task.tier is Tier.SENIOR
    # the same decision, handled again (the sweep, a retry), queues nothing more
    assert world.decided(stored(world, "chk_1")) is None
    assert len(service.tasks.tasks_for_check("chk_1")) == 1


def _assured(check: Check, action: Action) -> Check:
    previous = check.current_decision
    assert previous is not None
    if check.state is CheckState.DECIDED:
        check.begin_assurance(T0)
    check.decide(
        Decision(
            decision_id=f"dec_assured_{check.check_id}",
            check_id=check.check_id,
            authenticity_score=50.0,
            abstention=None,
            band="gray",
            action=action,
            reasons=("ASSURANCE_CHANGED",),
            policy_version="p1",
            model_versions={},
            composite_risk=0.5,
            final=action is not Action.REVIEW,
            decided_at=T0,
            supersedes=previous.decision_id,
            stage="assurance",
        ),
        check.detector_results,
    )
    check.pull_events()
    return check


# claims, leases, verdicts


def test_a_verdict_supersedes_the_inline_decision(world: ReviewWorld) -> None:
    task_id = queued(world, make_check("chk_1"))
    alice = world.account("alice")
    service = world.review.service
    with pytest.raises(LeaseLost):
        service.submit_verdict(task_id, alice, SWAP)  # not claimed yet
    service.claim(task_id, alice)
    world.published.clear()
    result = service.submit_verdict(task_id, alice, SWAP)
    assert result.settled
    assert result.task.status is TaskStatus.DONE
    check = world.checks.get("chk_1")
    assert check is not None
    assert check.state is CheckState.FINAL
    final = check.current_decision
    assert final is not None
    assert final == result.decision
    assert (final.stage, final.action, final.final) == ("review", Action.REJECT, True)
    assert final.supersedes == "dec_chk_1"
    assert final.reasons == ("REVIEW_FAKE", "ATTACK_FACE_SWAP")
    assert final.policy_version == "test-policy"
    assert final.authenticity_score == 40.0  # the automated score stays on record
    kinds = [e.kind for e in world.stores.evidence.entries_of("chk_1")]
    assert kinds[-1] == "check.decided"  # the verdict's decision, in the evidence log
    published = {e.kind for e in world.published if isinstance(e, ReviewEvent)}
    assert {"verdict_recorded", "case_settled"} <= published
    with pytest.raises(LeaseLost):
        service.submit_verdict(task_id, alice, GENUINE)
    with pytest.raises(TaskUnavailable):
        service.claim(task_id, alice)


@pytest.mark.parametrize(
    ("verdict", "action"),
    [
        (GENUINE, Action.ACCEPT),
        (Verdict(VerdictLabel.INCONCLUSIVE, note="heavy glare"), Action.STEP_UP),
    ],
)
def test_verdict_actions_come_from_the_policy(
    world: ReviewWorld, verdict: Verdict, action: Action
) -> None:
    task_id = queued(world, make_check("chk_1"))
    alice = world.account("alice")
    world.review.service.claim(task_id, alice)
    decision = world.review.service.submit_verdict(task_id, alice, verdict).decision
    assert decision is not None
    assert decision.action is action


def test_no_two_reviewers_hold_a_task_and_an_abandoned_lease_lapses(world: ReviewWorld) -> None:
    task_id = queued(world, make_check("chk_1"))
    alice, bob = world.account("alice"), world.account("bob")
    service = world.review.service
    service.claim(task_id, alice)
    with pytest.raises(TaskUnavailable, match="another reviewer"):
        service.claim(task_id, bob)
    assert service.claim_next(bob) is None
    world.clock.advance(minutes=10)
    assert service.renew(task_id, alice).expires_at == world.clock.now() + timedelta(minutes=15)
    world.clock.advance(minutes=16)  # alice walked away
    with pytest.raises(LeaseLost):
        service.renew(task_id, alice)
    taken = service.claim_next(bob)
    assert taken is not None
    assert taken.task_id == task_id
    with pytest.raises(LeaseLost):
        service.submit_verdict(task_id, alice, GENUINE)
    assert service.submit_verdict(task_id, bob, GENUINE).settled


def test_release_returns_a_task_to_the_queue(world: ReviewWorld) -> None:
    task_id = queued(world, make_check("chk_1"))
    alice, bob = world.account("alice"), world.account("bob")
    world.review.service.claim(task_id, alice)
    world.review.service.release(task_id, alice)
    assert world.review.service.claim(task_id, bob).lease is not None


# double review


def test_double_review_agreement_settles_with_the_first_verdict(
    make_world: WorldFactory,
) -> None:
    world = make_world(review_policy(double=1.0))
    task_id = queued(world, make_check("chk_1"))
    alice, bob = world.account("alice"), world.account("bob")
    service = world.review.service
    service.claim(task_id, alice)
    first = service.submit_verdict(task_id, alice, SWAP)
    assert not first.settled
    assert first.decision is None
    second = first.follow_up
    assert second is not None
    assert second.kind is TaskKind.SECOND
    assert second.due_at == service.task(task_id).due_at
    check = world.checks.get("chk_1")
    assert check is not None
    assert check.state is CheckState.IN_REVIEW  # the customer still waits
    with pytest.raises(TaskUnavailable, match="someone else"):
        service.claim(second.task_id, alice)
    assert service.claim_next(alice) is None
    service.claim(second.task_id, bob)
    # independence: bob sees neither alice's verdict nor its label in the timeline
    case = world.review.cases.case(second.task_id, bob)
    assert case.verdicts == []
    assert all("face_swap" not in e.detail and "fake" not in e.detail for e in case.timeline)
    result = service.submit_verdict(
        second.task_id, bob, Verdict(VerdictLabel.FAKE, AttackType.MORPH)
    )
    assert result.agreed is True
    assert result.decision is not None
    assert result.decision.reasons == ("REVIEW_FAKE", "ATTACK_FACE_SWAP")  # the first verdict's
    rates = {a.username: a.rate for a in world.review.reports.agreement()}
    assert rates["alice"].rate == 1.0
    assert rates["bob"].compared == 1


def test_double_review_disagreement_escalates_to_a_senior(make_world: WorldFactory) -> None:
    world = make_world(review_policy(double=1.0))
    task_id = queued(world, make_check("chk_1", flow="payment"))
    alice, bob = world.account("alice"), world.account("bob")
    carol, sam = world.account("carol"), world.account("sam", Role.SENIOR)
    service = world.review.service
    service.claim(task_id, alice)
    second = service.submit_verdict(task_id, alice, GENUINE).follow_up
    assert second is not None
    service.claim(second.task_id, bob)
    disagreement = service.submit_verdict(second.task_id, bob, SWAP)
    assert disagreement.agreed is False
    assert not disagreement.settled
    adjudication = disagreement.follow_up
    assert adjudication is not None
    assert adjudication.kind is TaskKind.ADJUDICATION
    assert adjudication.tier is Tier.SENIOR
    assert adjudication.priority is Priority.URGENT  # payment HIGH, one level up
    assert adjudication.reasons == (TaskReason.DISAGREEMENT,)
    with pytest.raises(Forbidden):
        service.claim(adjudication.task_id, carol)
    with pytest.raises(TaskUnavailable):
        service.claim(adjudication.task_id, bob)
    service.claim(adjudication.task_id, sam)
    case = world.review.cases.case(adjudication.task_id, sam)
    assert {v.verdict.label for v in case.verdicts} == {VerdictLabel.GENUINE, VerdictLabel.FAKE}
    final = service.submit_verdict(
        adjudication.task_id, sam, Verdict(VerdictLabel.FAKE, AttackType.PRESENTATION_ATTACK)
    )
    assert final.decision is not None
    assert final.decision.action is Action.REJECT
    assert final.decision.reasons == ("REVIEW_FAKE", "ATTACK_PRESENTATION_ATTACK")
    rates = {a.username: a.rate for a in world.review.reports.agreement()}
    assert (rates["alice"].compared, rates["alice"].agreed, rates["alice"].upheld) == (1, 0, 0)
    assert (rates["bob"].adjudicated, rates["bob"].upheld) == (1, 1)


# decisions that cannot be written at once


def test_a_decision_left_pending_is_written_by_reconcile(world: ReviewWorld) -> None:
    service = world.review.service
    task_id = queued(world, make_check("chk_1"))
    alice = world.account("alice")
    real = service.recorder

    class Flaky(CheckRecorder):
        calls = 0

        def save_decision(
            self, check: Check, extra: Sequence[EntryDraft] = ()
        ) -> list[DomainEvent]:
            Flaky.calls += 1
            if Flaky.calls == 1:
                raise RuntimeError("database hiccup")
            return real.save_decision(check, extra)

    service.recorder = Flaky(uow=real.uow, bus=real.bus)
    service.claim(task_id, alice)
    result = service.submit_verdict(task_id, alice, GENUINE)
    assert result.settled
    assert result.decision is None
    assert len(service.tasks.pending_outcomes()) == 1
    assert service.reconcile() == 1
    check = stored(world, "chk_1")
    assert check.current_decision is not None
    assert check.current_decision.stage == "review"
    assert check.state is CheckState.FINAL
    assert service.tasks.pending_outcomes() == []


def test_no_automated_stage_decides_a_check_a_person_is_deciding(world: ReviewWorld) -> None:
    task_id = queued(world, make_check("chk_1"))
    check = stored(world, "chk_1")
    assert check.state is CheckState.IN_REVIEW
    with pytest.raises(InvalidTransition):
        _assured(check, Action.REJECT)
    alice = world.account("alice")
    world.review.service.claim(task_id, alice)
    decision = world.review.service.submit_verdict(task_id, alice, GENUINE).decision
    assert decision is not None
    assert decision.stage == "review"
    after = stored(world, "chk_1")
    assert after.state is CheckState.FINAL
    assert after.settled_by_person
    # and once a person decided, no automated stage overrules it
    assert not after.can_supersede("rescan", Action.REJECT)
    assert not after.can_supersede("assurance", Action.REJECT)


def test_a_verdict_on_an_automatically_finalised_check_is_kept_as_a_label(
    make_world: WorldFactory,
) -> None:
    world = make_world(review_policy(audit=1.0))
    task_id = queued(world, make_check("chk_1", action=Action.ACCEPT, final=True, risk=0.05))
    alice = world.account("alice")
    world.review.service.claim(task_id, alice)
    assert world.review.service.submit_verdict(task_id, alice, SWAP).decision is None
    after = stored(world, "chk_1")
    assert [d.decision_id for d in after.decisions] == ["dec_chk_1"]

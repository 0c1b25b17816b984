"""Review use cases over real SQL stores (SQLite and PostgreSQL) with a settable clock."""

from __future__ import annotations

from datetime import timedelta

import pytest

from faceverdict.domain.check import Check, CheckState, Decision
from faceverdict.domain.detection import DetectorResult
from faceverdict.domain.events import CheckDecided
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
from faceverdict.review_errors import Forbidden, LeaseLost, TaskUnavailable
from faceverdict.review_ports import Outcome, QueueFilter
from tests.support.review import T0, ReviewWorld, WorldFactory, make_check, queued, review_policy

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
    assert service.on_decided(world.checks.get("chk_ok")) is None  # type: ignore[arg-type]
    # the same decision never queues twice
    assert service.on_decided(world.checks.get("chk_on")) is None  # type: ignore[arg-type]
    assert len(world.review.service.repository.tasks_for_check("chk_on")) == 1
    assert any(isinstance(e, ReviewEvent) and e.kind == "task_created" for e in world.published)


def test_the_sweep_queues_reviews_whose_hook_never_ran(world: ReviewWorld) -> None:
    service = world.review.service
    assert service.catch_up() == 0  # first sweep: sets the mark
    # Decided, then the process stopped before on_decided ran (nothing queued).
    world.add_check(make_check("chk_lost"))
    world.add_check(make_check("chk_lost_payment", flow="payment"))
    world.add_check(make_check("chk_ok", action=Action.ACCEPT, final=True, risk=0.1))
    assert service.catch_up() == 0  # younger than the grace period: still the hook's
    world.clock.advance(hours=3)  # downtime far longer than the first sweep's look-back
    assert service.catch_up(limit=1) == 2  # one check a page
    assert service.catch_up() == 0  # queuing is idempotent, and the mark has moved
    assert [t.check_id for t in service.repository.tasks_for_check("chk_lost")] == ["chk_lost"]
    assert len(service.repository.tasks_for_check("chk_lost_payment")) == 1
    assert service.repository.tasks_for_check("chk_ok") == []


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
    assert [o.label for o in service.repository.outcomes()] == [VerdictLabel.FAKE]


def test_assurance_escalation_hook(world: ReviewWorld) -> None:
    world.add_check(make_check("chk_1", action=Action.STEP_UP, risk=0.3))
    service = world.review.service
    assert service.on_decided(world.checks.get("chk_1")) is None  # type: ignore[arg-type]
    task = service.escalate("chk_1")
    assert task is not None
    assert task.reasons == (TaskReason.ASSURANCE_ESCALATION,)
    assert task.tier is Tier.SENIOR
    assert service.escalate("chk_1") is None  # already waiting for a person


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
    assert any(isinstance(e, CheckDecided) for e in world.published)
    kinds = {e.kind for e in world.published if isinstance(e, ReviewEvent)}
    assert {"verdict_recorded", "case_settled"} <= kinds
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
    assert check.state is CheckState.DECIDED  # the customer still waits
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
    calls: list[Outcome] = []

    def flaky(check: Check, outcome: Outcome) -> None:
        calls.append(outcome)
        if len(calls) == 1:
            raise RuntimeError("database hiccup")
        world.checks.save_decision(check)

    service.record_decision = flaky
    service.claim(task_id, alice)
    result = service.submit_verdict(task_id, alice, GENUINE)
    assert result.settled
    assert result.decision is None
    assert len(service.repository.pending_outcomes()) == 1
    assert service.reconcile() == 1
    check = world.checks.get("chk_1")
    assert check is not None
    assert check.current_decision is not None
    assert check.current_decision.stage == "review"
    assert service.repository.pending_outcomes() == []


def test_a_check_finalised_meanwhile_keeps_its_decision(world: ReviewWorld) -> None:
    task_id = queued(world, make_check("chk_1"))
    check = world.checks.get("chk_1")
    assert check is not None
    previous = check.current_decision
    assert previous is not None
    check.decide(
        Decision(
            decision_id="dec_assured",
            check_id="chk_1",
            authenticity_score=5.0,
            abstention=None,
            band="fake",
            action=Action.REJECT,
            reasons=("ASSURANCE",),
            policy_version="p1",
            model_versions={},
            composite_risk=0.9,
            final=True,
            decided_at=T0,
            supersedes=previous.decision_id,
            stage="assurance",
        ),
        check.detector_results,
    )
    world.checks.save_decision(check)
    alice = world.account("alice")
    world.review.service.claim(task_id, alice)
    assert world.review.service.submit_verdict(task_id, alice, GENUINE).decision is None
    after = world.checks.get("chk_1")
    assert after is not None
    assert after.current_decision is not None
    assert after.current_decision.decision_id == "dec_assured"
    kinds = [e.kind for e in world.review.service.repository.events(check_id="chk_1")]
    assert "decision_not_applied" in kinds

"""Review rules: triage, leases, SLA, QC sampling, verdicts, double review, agreement."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from faceverdict.domain.detection import Abstention, DetectorResult
from faceverdict.domain.policy import Action
from faceverdict.domain.review import (
    AttackType,
    FlowReviewRules,
    InvalidVerdict,
    Lease,
    Priority,
    ReviewPolicy,
    ReviewTask,
    Role,
    Sla,
    TaskKind,
    TaskReason,
    TaskStatus,
    Tier,
    Verdict,
    VerdictLabel,
    new_lease,
    queue_order,
    sla_due,
)
from faceverdict.domain.review_qc import (
    ReviewPair,
    agreement_rates,
    follow_up_task,
    qc_selected,
    resolve,
    sample_draw,
)
from faceverdict.domain.review_routing import (
    detector_conflict,
    plan_review,
    triage,
)

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
RULES = FlowReviewRules()
PAYMENT = FlowReviewRules(priority=Priority.HIGH, sla=timedelta(minutes=15))


def result(name: str, p: float | None, abstention: Abstention | None = None) -> DetectorResult:
    return DetectorResult(detector=name, version="1", fake_probability=p, abstention=abstention)


def task(**changes: object) -> ReviewTask:
    base: dict[str, object] = {
        "task_id": "rvt_1",
        "check_id": "chk_1",
        "flow": "onboarding",
        "kind": TaskKind.PRIMARY,
        "reasons": (TaskReason.POLICY_ACTION,),
        "tier": Tier.JUNIOR,
        "priority": Priority.NORMAL,
        "created_at": NOW,
        "due_at": NOW + timedelta(hours=24),
        "decides": True,
    }
    base.update(changes)
    return ReviewTask(**base)  # type: ignore[arg-type]


# triage


def test_triage_sends_high_risk_to_seniors_and_the_rest_to_juniors() -> None:
    assert triage(RULES, [TaskReason.POLICY_ACTION], risk=0.3) is Tier.JUNIOR
    assert triage(RULES, [TaskReason.POLICY_ACTION], risk=None) is Tier.JUNIOR
    assert triage(RULES, [TaskReason.POLICY_ACTION], risk=0.8) is Tier.SENIOR
    assert triage(RULES, [TaskReason.POLICY_ACTION], risk=0.95) is Tier.SENIOR


def test_triage_sends_senior_reasons_and_adjudications_to_seniors() -> None:
    assert triage(RULES, [TaskReason.DETECTOR_CONFLICT], risk=0.1) is Tier.SENIOR
    assert triage(RULES, [TaskReason.ASSURANCE_ESCALATION], risk=None) is Tier.SENIOR
    assert triage(RULES, [TaskReason.DISAGREEMENT], 0.0, TaskKind.ADJUDICATION) is Tier.SENIOR
    relaxed = FlowReviewRules(senior_reasons=frozenset())
    assert triage(relaxed, [TaskReason.DETECTOR_CONFLICT], risk=0.1) is Tier.JUNIOR


def test_roles_work_their_tiers() -> None:
    assert Role.REVIEWER.can_work(Tier.JUNIOR)
    assert not Role.REVIEWER.can_work(Tier.SENIOR)
    assert Role.SENIOR.tiers == frozenset(Tier)
    assert Role.ADMIN.can_work(Tier.SENIOR)
    assert not Role.REVIEWER.sees_reports
    assert Role.SENIOR.sees_reports


# SLA


def test_sla_due_time_and_time_left() -> None:
    due = sla_due(NOW, timedelta(minutes=15))
    assert due == NOW + timedelta(minutes=15)
    sla = Sla(created_at=NOW, due_at=due)
    assert sla.time_left(NOW + timedelta(minutes=5)) == timedelta(minutes=10)
    assert sla.time_left(NOW + timedelta(minutes=20)) == timedelta(minutes=-5)
    assert not sla.breached(NOW + timedelta(minutes=15))
    assert sla.breached(NOW + timedelta(minutes=15, seconds=1))
    # a finished task is judged by when it finished, not by now
    assert not sla.breached(NOW + timedelta(days=2), completed_at=NOW + timedelta(minutes=14))
    assert sla.used(NOW + timedelta(minutes=30)) == pytest.approx(2.0)


def test_plan_uses_the_flow_sla_and_priority_when_the_customer_waits() -> None:
    plan = plan_review(
        PAYMENT, action=Action.REVIEW, final=False, risk=0.5, results=[], now=NOW, audit_draw=0.9
    )
    assert plan is not None
    assert plan.reasons == (TaskReason.POLICY_ACTION,)
    assert plan.due_at == NOW + timedelta(minutes=15)
    assert plan.priority is Priority.HIGH
    assert plan.decides


def test_plan_audits_final_decisions_on_the_audit_sla() -> None:
    rules = FlowReviewRules(audit_fraction=0.5, audit_sla=timedelta(days=2))
    plan = plan_review(
        rules, action=Action.ACCEPT, final=True, risk=0.1, results=[], now=NOW, audit_draw=0.2
    )
    assert plan is not None
    assert plan.reasons == (TaskReason.QC_SAMPLE,)
    assert plan.due_at == NOW + timedelta(days=2)
    assert plan.priority is Priority.LOW
    assert not plan.decides
    unsampled = plan_review(
        rules, action=Action.ACCEPT, final=True, risk=0.1, results=[], now=NOW, audit_draw=0.7
    )
    assert unsampled is None


def test_plan_never_audits_a_decision_that_is_not_final() -> None:
    # A step-up waiting for assurance is not an automated final decision: sampling it would
    # queue a QC task that then blocks the assurance escalation for the same check.
    everything = FlowReviewRules(audit_fraction=1.0)
    for action in (Action.ACCEPT, Action.STEP_UP):
        pending = plan_review(
            everything, action=action, final=False, risk=0.1, results=[], now=NOW, audit_draw=0.0
        )
        assert pending is None
    final = plan_review(
        everything, action=Action.ACCEPT, final=True, risk=0.1, results=[], now=NOW, audit_draw=0.0
    )
    assert final is not None
    assert final.reasons == (TaskReason.QC_SAMPLE,)


def test_plan_flags_detector_conflict_and_sends_it_to_a_senior() -> None:
    results = [result("provenance", 0.95), result("blending", 0.1), result("x", None)]
    assert detector_conflict(results, 0.6)
    assert not detector_conflict(results, None)
    assert not detector_conflict([result("a", 0.9), result("b", 0.5)], 0.6)
    assert not detector_conflict([result("a", 0.9), result("g", 0.0, Abstention.NO_FACE)], 0.6)
    # specialised learned detectors may disagree: only disagreement with the reference counts
    specialists = [result("blending", 0.95), result("synthetic", 0.05)]
    assert not detector_conflict(specialists, 0.6, "provenance")
    assert detector_conflict(specialists, 0.6, None)  # "" in the policy: any pair
    assert detector_conflict([*specialists, result("provenance", 0.1)], 0.6, "provenance")
    assert not detector_conflict([*specialists[1:], result("provenance", 0.1)], 0.6, "provenance")
    plan = plan_review(
        RULES, action=Action.STEP_UP, final=False, risk=0.2, results=results, now=NOW, audit_draw=1
    )
    assert plan is not None
    assert plan.reasons == (TaskReason.DETECTOR_CONFLICT,)
    assert plan.tier is Tier.SENIOR


def test_plan_ignores_actions_the_policy_does_not_list() -> None:
    assert (
        plan_review(
            RULES, action=Action.STEP_UP, final=False, risk=0.2, results=[], now=NOW, audit_draw=0
        )
        is None
    )
    strict = FlowReviewRules(task_actions=frozenset({Action.REVIEW, Action.STEP_UP}))
    assert plan_review(
        strict, action=Action.STEP_UP, final=False, risk=0.2, results=[], now=NOW, audit_draw=1
    )


# leases


def test_lease_expires() -> None:
    lease = new_lease("alice", NOW, timedelta(minutes=15))
    assert lease == Lease("alice", NOW + timedelta(minutes=15))
    assert lease.held_by("alice", NOW + timedelta(minutes=14))
    assert not lease.held_by("bob", NOW)
    assert not lease.active(NOW + timedelta(minutes=15))
    with pytest.raises(ValueError, match="positive"):
        new_lease("alice", NOW, timedelta(0))


def test_a_lapsed_claim_reopens_the_task_to_others() -> None:
    claimed = task(status=TaskStatus.CLAIMED, lease=Lease("alice", NOW + timedelta(minutes=15)))
    assert claimed.effective_status(NOW) is TaskStatus.CLAIMED
    assert not claimed.claimable_by("bob", Role.REVIEWER, NOW)
    assert claimed.claimable_by("alice", Role.REVIEWER, NOW)  # renewing her own claim
    later = NOW + timedelta(minutes=16)
    assert claimed.effective_status(later) is TaskStatus.OPEN
    assert claimed.claimable_by("bob", Role.REVIEWER, later)
    assert not claimed.held_by("alice", later)


def test_claim_rules_respect_tier_independence_and_completion() -> None:
    assert not task(tier=Tier.SENIOR).claimable_by("bob", Role.REVIEWER, NOW)
    assert task(tier=Tier.SENIOR).claimable_by("sam", Role.SENIOR, NOW)
    assert not task(excluded=frozenset({"bob"})).claimable_by("bob", Role.SENIOR, NOW)
    assert not task(status=TaskStatus.DONE).claimable_by("bob", Role.ADMIN, NOW)


def test_queue_order_is_priority_then_due_time() -> None:
    tasks = [
        task(task_id="a", priority=Priority.LOW, due_at=NOW),
        task(task_id="b", priority=Priority.HIGH, due_at=NOW + timedelta(hours=2)),
        task(task_id="c", priority=Priority.HIGH, due_at=NOW + timedelta(hours=1)),
        task(task_id="d", priority=Priority.URGENT, due_at=NOW + timedelta(days=1)),
    ]
    assert [t.task_id for t in sorted(tasks, key=queue_order)] == ["d", "c", "b", "a"]
    assert Priority.NORMAL.raised() is Priority.HIGH
    assert Priority.URGENT.raised() is Priority.URGENT


# QC sampling


def test_qc_sampling_hits_the_configured_fraction() -> None:
    draws = [sample_draw("salt", f"rvt_{i}") for i in range(20_000)]
    assert all(0.0 <= d < 1.0 for d in draws)
    for fraction in (0.05, 0.1, 0.5):
        share = sum(qc_selected(fraction, d) for d in draws) / len(draws)
        assert share == pytest.approx(fraction, abs=0.01)
    assert not any(qc_selected(0.0, d) for d in draws)
    assert all(qc_selected(1.0, d) for d in draws)


def test_qc_sampling_is_reproducible_with_the_salt_and_differs_without_it() -> None:
    assert sample_draw("salt", "rvt_1") == sample_draw("salt", "rvt_1")
    picked = {i for i in range(1000) if qc_selected(0.1, sample_draw("salt", str(i)))}
    other = {i for i in range(1000) if qc_selected(0.1, sample_draw("other", str(i)))}
    assert picked != other
    with pytest.raises(ValueError, match="fraction"):
        qc_selected(1.5, 0.2)


def test_qc_sampling_is_uniform_over_random_ids() -> None:
    rng = random.Random(7)
    ids = [f"{rng.getrandbits(64):x}" for _ in range(10_000)]
    buckets = [0] * 10
    for i in ids:
        buckets[int(sample_draw("s", i) * 10)] += 1
    assert max(buckets) - min(buckets) < 200


# verdicts


def test_verdicts_require_what_their_label_needs() -> None:
    assert Verdict(VerdictLabel.GENUINE).reasons == ("REVIEW_GENUINE",)
    fake = Verdict(VerdictLabel.FAKE, AttackType.FACE_SWAP)
    assert fake.reasons == ("REVIEW_FAKE", "ATTACK_FACE_SWAP")
    with pytest.raises(InvalidVerdict, match="attack type"):
        Verdict(VerdictLabel.FAKE)
    with pytest.raises(InvalidVerdict, match="only a 'fake'"):
        Verdict(VerdictLabel.GENUINE, AttackType.MORPH)
    with pytest.raises(InvalidVerdict, match="note"):
        Verdict(VerdictLabel.INCONCLUSIVE, note="   ")
    assert Verdict(VerdictLabel.INCONCLUSIVE, note=" glare on the face ").note == (
        "glare on the face"
    )
    with pytest.raises(InvalidVerdict, match="limited"):
        Verdict(VerdictLabel.GENUINE, note="x" * 2001)


def test_resolution_of_single_and_double_review() -> None:
    genuine = Verdict(VerdictLabel.GENUINE)
    fake = Verdict(VerdictLabel.FAKE, AttackType.MORPH)
    alone = resolve(TaskKind.PRIMARY, genuine, None, double_review=False)
    assert alone.settled == genuine
    assert alone.follow_up is None
    sampled = resolve(TaskKind.PRIMARY, genuine, None, double_review=True)
    assert sampled.settled is None
    assert sampled.follow_up is TaskKind.SECOND
    agree = resolve(TaskKind.SECOND, Verdict(VerdictLabel.GENUINE), genuine, False)
    assert (agree.settled, agree.follow_up, agree.agreed) == (genuine, None, True)
    disagree = resolve(TaskKind.SECOND, fake, genuine, False)
    assert (disagree.settled, disagree.follow_up, disagree.agreed) == (
        None,
        TaskKind.ADJUDICATION,
        False,
    )
    final = resolve(TaskKind.ADJUDICATION, fake, None, False)
    assert final.settled == fake
    with pytest.raises(ValueError, match="first verdict"):
        resolve(TaskKind.SECOND, fake, None, False)


def test_follow_ups_keep_the_due_time_and_escalate_adjudication() -> None:
    parent = task(priority=Priority.HIGH, excluded=frozenset({"alice"}))
    second = follow_up_task(parent, TaskKind.SECOND, "rvt_2", NOW, {"alice"})
    assert second.due_at == parent.due_at
    assert second.tier is Tier.JUNIOR
    assert second.reasons == (TaskReason.SECOND_REVIEW,)
    assert second.blind
    adjudication = follow_up_task(second, TaskKind.ADJUDICATION, "rvt_3", NOW, {"alice", "bob"})
    assert adjudication.tier is Tier.SENIOR
    assert adjudication.priority is Priority.URGENT
    assert adjudication.excluded == {"alice", "bob"}
    assert adjudication.parent_task_id == "rvt_2"
    assert not adjudication.blind


def test_agreement_rates_per_reviewer() -> None:
    g, f = VerdictLabel.GENUINE, VerdictLabel.FAKE
    pairs = [
        ReviewPair("c1", "alice", g, "bob", g),
        ReviewPair("c2", "alice", f, "bob", f),
        ReviewPair("c3", "alice", g, "bob", f, adjudicated_label=f),
        ReviewPair("c4", "carol", g, "alice", g),
    ]
    rates = {r.reviewer_id: r for r in agreement_rates(pairs)}
    assert (rates["alice"].compared, rates["alice"].agreed) == (4, 3)
    assert rates["alice"].rate == pytest.approx(0.75)
    assert (rates["alice"].adjudicated, rates["alice"].upheld) == (1, 0)
    assert rates["bob"].rate == pytest.approx(2 / 3)
    assert rates["bob"].upheld_rate == 1.0
    assert rates["carol"].rate == 1.0
    assert rates["carol"].upheld_rate is None


def test_rules_refuse_bad_values() -> None:
    with pytest.raises(ValueError, match="positive"):
        FlowReviewRules(sla=timedelta(0))
    with pytest.raises(ValueError, match="double_review_fraction"):
        FlowReviewRules(double_review_fraction=2.0)
    with pytest.raises(ValueError, match="another 'review'"):
        FlowReviewRules(
            verdict_actions={
                VerdictLabel.GENUINE: Action.ACCEPT,
                VerdictLabel.FAKE: Action.REVIEW,
                VerdictLabel.INCONCLUSIVE: Action.STEP_UP,
            }
        )
    policy = ReviewPolicy(version="v", flows={"payment": PAYMENT})
    assert policy.for_flow("payment") is PAYMENT
    assert policy.for_flow("unknown") == FlowReviewRules()

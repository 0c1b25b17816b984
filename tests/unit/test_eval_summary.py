"""Report numbers from scored images: how abstentions count, per-family and within-source AUC."""

from __future__ import annotations

import pytest

from faceverdict.domain.detection import Abstention
from faceverdict.domain.policy import Action, Band, FlowPolicy
from faceverdict.evaluation import summary
from faceverdict.evaluation.runner import ManifestRow, ScoredImage

FLOW = FlowPolicy(
    bands=(
        Band("genuine", 90, Action.ACCEPT),
        Band("gray", 60, Action.STEP_UP),
        Band("suspect", 0, Action.REVIEW),
    ),
    abstentions={Abstention.NO_FACE: Action.STEP_UP},
)


def image(
    relpath: str, label: str, family: str, score: float | None, source: str = "s"
) -> ScoredImage:
    row = ManifestRow(relpath, label, family, source, "")
    if score is None:
        return ScoredImage(row, None, "no_face", "abstained", "step_up")
    band = FLOW.band_for(score)
    return ScoredImage(row, score, None, band.name, band.action.value, {"d": 1 - score / 100})


def sample() -> list[ScoredImage]:
    return [
        # Real: two accepted, one in the gray band, one abstained.
        image("r1", "real", "camera", 95),
        image("r2", "real", "camera", 92),
        image("r3", "real", "camera", 70),
        image("r4", "real", "camera", None),
        # Fake family "swap": one accepted (missed), one stopped, one abstained.
        image("f1", "fake", "swap", 93),
        image("f2", "fake", "swap", 20),
        image("f3", "fake", "swap", None),
        # Fake family "gan" from another source: both stopped.
        image("g1", "fake", "gan", 10, source="t"),
        image("g2", "fake", "gan", 50, source="t"),
    ]


def test_policy_action_rates_with_and_without_abstentions() -> None:
    point = summary.iso_30107_3(sample(), FLOW)["policy"][0]
    # BPCER: r3 flagged among 3 scored (1/3); with r4's step_up as not accepted, 2/4.
    assert point["bpcer"][summary.EXCLUDED] == pytest.approx(1 / 3, abs=1e-4)
    assert point["bpcer"][summary.INCLUDED] == 0.5
    swap = point["apcer_by_family"]["swap"]
    # APCER swap: f1 accepted among 2 scored (1/2); the abstained f3 is stopped: 1/3.
    assert swap[summary.EXCLUDED] == 0.5
    assert swap[summary.INCLUDED] == pytest.approx(1 / 3, abs=1e-4)
    assert point["apcer_by_family"]["gan"][summary.EXCLUDED] == 0.0
    assert point["apcer_max"][summary.EXCLUDED] == 0.5


def test_band_boundaries_and_bpcer_targets() -> None:
    iso = summary.iso_30107_3(sample(), FLOW)
    names = [p["name"] for p in iso["policy"]]
    assert names == ["policy action", "band boundary genuine", "band boundary gray"]
    gray = iso["policy"][2]  # flagged when score < 60: no real image
    assert gray["bpcer"][summary.EXCLUDED] == 0.0
    at5 = next(p for p in iso["at_bpcer"] if p["target_bpcer"] == 0.05)
    # Three scored reals: 5% is below 1/3, so the threshold sits above every real score.
    assert at5["above_every_real_score"] is True
    assert at5["bpcer"][summary.EXCLUDED] == 0.0


def test_families_within_source_and_abstentions() -> None:
    images = sample()
    families = summary.families(images)
    assert families["swap"]["versus"] == "all real images"
    assert families["swap"]["n_scored"] == 2
    assert families["gan"]["auc"] == 1.0
    # Attack scores: f1 7 beats r1 (5) only, f2 80 beats r1, r2 (8) and r3 (30): 4 of 6 pairs.
    assert families["swap"]["auc"] == pytest.approx(4 / 6, abs=1e-4)
    assert "auc_ci95" not in families["swap"]  # the robustness passes need no interval
    low, high = summary.families(images, interval=True)["swap"]["auc_ci95"]
    assert 0.0 <= low <= 4 / 6 <= high <= 1.0  # two fakes and three reals: a wide interval
    assert summary.families(images, interval=True)["gan"]["auc_ci95"] == [1.0, 1.0]
    within = summary.within_source(images)
    assert set(within) == {"s"}  # source t has no real images
    abstention = summary.abstention_summary(images)
    assert abstention["by_class"]["real"]["rate"] == 0.25
    assert abstention["by_family"]["swap"]["codes"] == {"no_face": 1}


def test_calibration_and_detectors_sections() -> None:
    images = sample()
    calibration = summary.calibration(images)
    assert calibration["n_scored"] == 7
    assert sum(b["count"] for b in calibration["bins"]) == 7
    assert summary.detectors(images)["d"]["n_opinions"] == 7


def test_demographics_bpcer_per_group() -> None:
    images = sample()
    labels = {"set": {"r1": {"race": "A"}, "r3": {"race": "B"}, "r4": {"race": "B"}}}
    block = summary.demographics(images, labels, attack_threshold=20.0)
    races = block["datasets"]["set"]["attributes"]["race"]
    assert races["A"]["bpcer_at_target"][summary.EXCLUDED] == 0.0
    assert races["B"]["bpcer_at_target"][summary.EXCLUDED] == 1.0  # r3: attack 30 >= 20
    assert races["B"]["abstention_rate"] == 0.5
    assert "gender" not in block["datasets"]["set"]["attributes"]


def test_error_rates_after_a_transform_keep_the_clean_thresholds() -> None:
    from faceverdict.evaluation.runner import ScoringRun

    clean = ScoringRun(sample(), 1.0)
    # The transform lowers every real score by 25 and leaves the fakes alone.
    worse = [
        image(i.row.relpath, i.row.label, i.row.family, i.authenticity_score - 25)
        if i.authenticity_score is not None and not i.row.is_fake
        else i
        for i in sample()
    ]
    block = summary.robustness(clean, [ScoringRun(worse, 1.0, "resize50")], {})
    rates = block["resize50"]["error_rates"]
    # Policy action: r1 70, r2 67, r3 45 are all below the accept band now; r4 abstained.
    assert rates["policy_action"]["bpcer"][summary.EXCLUDED] == 1.0
    assert rates["policy_action"]["bpcer"][summary.INCLUDED] == 1.0
    # APCER is unchanged: f1 still accepted among the scored attacks (1 of 4).
    assert rates["policy_action"]["apcer_pooled"][summary.EXCLUDED] == 0.25
    # The BPCER-5 % threshold comes from the clean reals (above every clean real score)...
    at5 = rates["clean_bpcer_0.05"]
    clean_at5 = summary.bpcer_thresholds(clean.images)[0.05]
    assert at5["attack_threshold"] == pytest.approx(clean_at5, abs=1e-6)
    # ...so after the transform the reals whose attack score passed it are false rejects.
    attack = [100 - s for s in (70, 67, 45)]
    assert at5["bpcer"][summary.EXCLUDED] == pytest.approx(
        sum(a >= clean_at5 for a in attack) / 3, abs=1e-4
    )
    assert at5["bpcer"][summary.EXCLUDED] > 0.0

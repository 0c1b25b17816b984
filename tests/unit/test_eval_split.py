"""The group split shared by training and evaluation."""

from __future__ import annotations

import random

import pytest

from faceverdict.evaluation.split import group_key, group_split, is_calibration, is_validation


def manifest(n_groups: int = 400, per_group: int = 3, ungrouped: int = 600) -> list[dict[str, str]]:
    rows = [
        {"relpath": f"grouped/{g}_{k}.jpg", "group": f"person_{g}", "label": "real"}
        for g in range(n_groups)
        for k in range(per_group)
    ]
    rows += [{"relpath": f"single/{i}.jpg", "group": "", "label": "fake"} for i in range(ungrouped)]
    return rows


def test_deterministic_and_order_independent() -> None:
    rows = manifest()
    first = group_split(rows, 0.2, seed=3)
    shuffled = rows[:]
    random.Random(1).shuffle(shuffled)
    second = group_split(shuffled, 0.2, seed=3)
    assert {r["relpath"] for r in first.validation} == {r["relpath"] for r in second.validation}
    assert group_split(rows, 0.2, seed=3) == first


def test_groups_never_straddle_the_split() -> None:
    split = group_split(manifest(), 0.2, seed=0)
    train_groups = {group_key(r) for r in split.train}
    validation_groups = {group_key(r) for r in split.validation}
    assert not train_groups & validation_groups
    assert len(split.train) + len(split.validation) == len(manifest())


def test_empty_group_falls_back_to_relpath() -> None:
    assert group_key({"relpath": "a.jpg", "group": ""}) == "relpath:a.jpg"
    assert group_key({"relpath": "a.jpg", "group": " x "}) == "group:x"
    assert group_key({"relpath": "a.jpg"}) == "relpath:a.jpg"
    # A group literally named like a path does not collide with an ungrouped image.
    assert group_key({"relpath": "b.jpg", "group": "a.jpg"}) != group_key({"relpath": "a.jpg"})


@pytest.mark.parametrize("fraction", [0.1, 0.2, 0.5])
def test_roughly_the_requested_fraction(fraction: float) -> None:
    rows = [{"relpath": f"{i}.jpg", "group": ""} for i in range(5000)]
    share = len(group_split(rows, fraction, seed=0).validation) / len(rows)
    assert share == pytest.approx(fraction, abs=0.025)


def test_seed_changes_the_split_and_extremes_are_exact() -> None:
    rows = manifest()
    a = {r["relpath"] for r in group_split(rows, 0.2, seed=0).validation}
    b = {r["relpath"] for r in group_split(rows, 0.2, seed=1).validation}
    assert a != b
    assert group_split(rows, 0.0).validation == []
    assert group_split(rows, 1.0).train == []
    with pytest.raises(ValueError, match="validation_fraction"):
        group_split(rows, 1.5)


def test_is_validation_agrees_with_group_split() -> None:
    rows = manifest(50, 2, 50)
    split = group_split(rows, 0.3, seed=9)
    assert [r for r in rows if is_validation(r, 0.3, seed=9)] == split.validation


def test_known_assignment_is_stable_across_versions() -> None:
    # Pinned: changing the hash would silently move images between train and validation.
    rows = [{"relpath": f"{i}.jpg", "group": ""} for i in range(12)]
    pinned = [r["relpath"] for r in group_split(rows, 0.2, seed=0).validation]
    assert pinned == PINNED_VALIDATION


PINNED_VALIDATION = ["4.jpg", "8.jpg", "10.jpg"]


def test_eval_selects_the_validation_part_and_limits_per_family() -> None:
    from faceverdict.evaluation.runner import ManifestRow, select_rows

    rows = [
        ManifestRow(f"{fam}/{i}.jpg", "real", fam, "src", f"{fam}_{i % 40}")
        for fam in ("a", "b")
        for i in range(200)
    ]
    validation = select_rows(rows, split="validation", seed=5)
    expected = [
        r
        for r in group_split([r.split_key() for r in rows], 0.2, seed=5).validation
        if not is_calibration(r, seed=5)
    ]
    assert sorted(r.relpath for r in validation) == sorted(r["relpath"] for r in expected)
    limited = select_rows(rows, split="validation", seed=5, limit=7)
    assert [r.family for r in limited].count("a") == 7
    assert [r.family for r in limited].count("b") == 7
    assert set(limited) <= set(validation)
    assert select_rows(rows, split="validation", seed=5, limit=7) == limited
    assert len(select_rows(rows, split="all")) == len(rows)


def test_eval_leaves_out_the_real_photos_that_calibrated_the_score() -> None:
    from faceverdict.evaluation.runner import ManifestRow, select_rows

    rows = [
        ManifestRow(f"{label}/{i}.jpg", label, label, "src", f"g{i}")
        for label in ("real", "fake")
        for i in range(400)
    ]
    chosen = select_rows(rows, split="validation")
    calibration = [r for r in rows if is_calibration(r.split_key())]
    assert calibration, "the fixture must hit the calibration groups"
    assert all(is_validation(r.split_key()) for r in calibration)  # nested in validation
    picked = {r.relpath for r in chosen}
    assert not any(r.relpath in picked for r in calibration if r.label == "real")
    assert all(r.relpath in picked for r in calibration if r.label == "fake")


def test_train_internal_hold_out_keeps_groups_whole_and_is_independent_of_validation() -> None:
    from faceverdict.training.data import TUNE_FRACTION, in_tune

    rows = manifest(n_groups=2000, per_group=3, ungrouped=2000)
    training_side = [r for r in rows if not is_validation(r)]
    tune = [r for r in training_side if in_tune(r)]
    assert abs(len(tune) / len(training_side) - TUNE_FRACTION) < 0.03
    by_group: dict[str, set[bool]] = {}
    for r in training_side:
        if r["group"]:
            by_group.setdefault(r["group"], set()).add(in_tune(r))
    assert all(len(answers) == 1 for answers in by_group.values())  # a person is never split
    # Another hash seed than the validation split's: the hold-out is not the validation
    # split's edge (its share among validation rows is the same 10 %).
    validation = [r for r in rows if is_validation(r)]
    share = sum(in_tune(r) for r in validation) / len(validation)
    assert abs(share - TUNE_FRACTION) < 0.03

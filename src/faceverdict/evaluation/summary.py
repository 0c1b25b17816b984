"""Turns scored images into the numbers of ``report.json`` (see docs/evaluation.md).

Every rate is a fraction in [0, 1]; undefined values (a class is missing) are null.
Abstentions are never dropped silently: each error rate is given twice, once over the
scored images only (``abstentions_excluded``) and once over every image with an abstained
capture counted by its policy action (``abstentions_as_not_accepted``: the default policy
never accepts an abstained capture, so a real one adds to BPCER and a fake one is stopped).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from faceverdict.domain.policy import Action, FlowPolicy
from faceverdict.evaluation import metrics
from faceverdict.evaluation.runner import ScoredImage, ScoringRun

BPCER_TARGETS = (0.01, 0.05)
FAIRNESS_TARGET = 0.05
DEMOGRAPHIC_ATTRIBUTES = ("race", "gender", "age_group")
EXCLUDED = "abstentions_excluded"
INCLUDED = "abstentions_as_not_accepted"

Json = dict[str, Any]
Flag = Callable[[ScoredImage], bool]


def num(value: float | None, digits: int = 4) -> float | None:
    """A JSON-friendly number: rounded, None for None and nan."""
    if value is None or math.isnan(value) or math.isinf(value):
        return None
    return round(float(value), digits)


def _labels(images: Sequence[ScoredImage]) -> list[int]:
    return [int(i.row.is_fake) for i in images]


def _attack_scores(images: Sequence[ScoredImage]) -> list[float]:
    return [i.attack_score for i in images if i.attack_score is not None]


def separation(
    attacks: Sequence[ScoredImage], bona_fide: Sequence[ScoredImage], interval: bool = False
) -> Json:
    """AUC, AP and EER of scored ``attacks`` against scored ``bona_fide``.

    ``interval`` adds ``auc_ci95``: the stratified bootstrap 95 % interval of the AUC (small
    families have wide ones; read them before comparing two releases).
    """
    scored = [i for i in (*attacks, *bona_fide) if i.scored]
    y, s = _labels(scored), _attack_scores(scored)
    eer = metrics.equal_error_rate(y, s)
    extra: Json = {}
    if interval:
        low, high = metrics.auc_interval(y, s)
        extra["auc_ci95"] = [num(low), num(high)]
    return {
        "n_fake_scored": sum(y),
        "n_real_scored": len(y) - sum(y),
        "auc": num(metrics.roc_auc(y, s)),
        **extra,
        "ap": num(metrics.average_precision(y, s)),
        "eer": num(eer.rate),
        "eer_attack_threshold": num(eer.threshold),
    }


def _by(
    images: Iterable[ScoredImage], key: Callable[[ScoredImage], str]
) -> dict[str, list[ScoredImage]]:
    groups: dict[str, list[ScoredImage]] = defaultdict(list)
    for image in images:
        groups[key(image)].append(image)
    return dict(sorted(groups.items()))


def split_classes(images: Sequence[ScoredImage]) -> tuple[list[ScoredImage], list[ScoredImage]]:
    return [i for i in images if i.row.is_fake], [i for i in images if not i.row.is_fake]


def abstention_summary(images: Sequence[ScoredImage]) -> Json:
    """Abstention counts, rates and codes by class and by family."""

    def block(members: Sequence[ScoredImage]) -> Json:
        codes = Counter(i.abstention for i in members if i.abstention is not None)
        abstained = sum(codes.values())
        return {
            "n": len(members),
            "abstained": abstained,
            "rate": num(abstained / len(members)) if members else None,
            "codes": dict(sorted(codes.items())),
        }

    by_family = {}
    for family, members in _by(images, lambda i: i.row.family).items():
        by_family[family] = {"label": members[0].row.label, **block(members)}
    return {
        "overall": block(images),
        "by_class": {
            label: block([i for i in images if i.row.label == label]) for label in ("real", "fake")
        },
        "by_family": by_family,
    }


def families(images: Sequence[ScoredImage], interval: bool = False) -> Json:
    """Per family: attack families against every real image, real families against every fake.

    ``interval`` adds each AUC's bootstrap 95 % interval (the clean pass of the report).
    """
    fakes, reals = split_classes(images)
    result: Json = {}
    for family, members in _by(images, lambda i: i.row.family).items():
        is_fake = members[0].row.is_fake
        if is_fake:
            numbers = separation(members, reals, interval)
        else:
            numbers = separation(fakes, members, interval)
        result[family] = {
            "label": members[0].row.label,
            "source": members[0].row.source,
            "n": len(members),
            "n_scored": sum(1 for i in members if i.scored),
            "versus": "all real images" if is_fake else "all fake images",
            **numbers,
        }
    return result


def within_source(images: Sequence[ScoredImage]) -> Json:
    """AUC inside each source that has both classes, next to its fakes against all reals."""
    _, all_reals = split_classes(images)
    result: Json = {}
    for source, members in _by(images, lambda i: i.row.source).items():
        fakes, reals = split_classes(members)
        if not fakes or not reals:
            continue
        result[source] = {
            "within_source": separation(fakes, reals),
            "fakes_vs_all_real": separation(fakes, all_reals),
            "families": {
                family: {"within_source_auc": separation(group, reals)["auc"]}
                for family, group in _by(fakes, lambda i: i.row.family).items()
            },
        }
    return result


def error_rates(images: Sequence[ScoredImage], flagged: Flag) -> Json:
    """Share of ``images`` flagged as attack, abstentions excluded and counted by action."""
    scored = [flagged(i) for i in images if i.scored]
    everything = [flagged(i) if i.scored else i.action != Action.ACCEPT for i in images]
    return {
        "n": len(images),
        "n_scored": len(scored),
        EXCLUDED: num(metrics.error_rate(scored)),
        INCLUDED: num(metrics.error_rate(everything)),
    }


def _missed(rates: Json) -> Json:
    """APCER from flagged rates of attacks: the attacks that were *not* flagged."""
    return {
        **rates,
        EXCLUDED: None if rates[EXCLUDED] is None else num(1.0 - rates[EXCLUDED]),
        INCLUDED: None if rates[INCLUDED] is None else num(1.0 - rates[INCLUDED]),
    }


def operating_point(images: Sequence[ScoredImage], flagged: Flag) -> Json:
    """ISO/IEC 30107-3 rates at one decision rule: BPCER, APCER pooled, per family and worst."""
    fakes, reals = split_classes(images)
    by_family = {
        family: _missed(error_rates(members, flagged))
        for family, members in _by(fakes, lambda i: i.row.family).items()
    }
    worst = {
        view: max((v[view] for v in by_family.values() if v[view] is not None), default=None)
        for view in (EXCLUDED, INCLUDED)
    }
    return {
        "bpcer": error_rates(reals, flagged),
        "bpcer_by_family": {
            family: error_rates(members, flagged)
            for family, members in _by(reals, lambda i: i.row.family).items()
        },
        "apcer_pooled": _missed(error_rates(fakes, flagged)),
        "apcer_by_family": by_family,
        "apcer_max": worst,
    }


def _below(authenticity_min: float) -> Flag:
    return lambda i: i.authenticity_score is not None and i.authenticity_score < authenticity_min


def _at_or_above(attack_threshold: float) -> Flag:
    return lambda i: i.attack_score is not None and i.attack_score >= attack_threshold


def bpcer_thresholds(images: Sequence[ScoredImage]) -> dict[float, float]:
    """Attack-score thresholds that hold BPCER (scored real images) to each target."""
    reals = _attack_scores([i for i in images if not i.row.is_fake])
    return {t: metrics.threshold_at_bpcer(reals, t) for t in BPCER_TARGETS}


def iso_30107_3(images: Sequence[ScoredImage], flow: FlowPolicy) -> Json:
    """APCER and BPCER at the policy's own decision and band boundaries, and at BPCER targets."""
    policy_points = [
        {
            "name": "policy action",
            "rule": "flagged as attack when the policy action is not accept",
            **operating_point(images, lambda i: i.action != Action.ACCEPT),
        }
    ]
    for band in flow.bands:
        if band.min_score <= 0:
            continue
        policy_points.append(
            {
                "name": f"band boundary {band.name}",
                "rule": f"flagged as attack when authenticity_score < {band.min_score:g}",
                "authenticity_min": band.min_score,
                "attack_threshold": 100.0 - band.min_score,
                **operating_point(images, _below(band.min_score)),
            }
        )
    reals = _attack_scores([i for i in images if not i.row.is_fake])
    at_bpcer = []
    for target, threshold in bpcer_thresholds(images).items():
        point: Json = {
            "target_bpcer": target,
            "attack_threshold": num(threshold, 6),
            "authenticity_threshold": num(100.0 - threshold, 6),
            "above_every_real_score": bool(reals) and threshold > max(reals),
            "rule": "flagged as attack when 100 - authenticity_score >= attack_threshold",
        }
        if not math.isnan(threshold):
            point.update(operating_point(images, _at_or_above(threshold)))
        at_bpcer.append(point)
    return {
        "convention": (
            "attack score = 100 - authenticity_score; APCER = attacks not flagged, "
            "BPCER = real images flagged; thresholds for target BPCER are chosen on the "
            "scored real images"
        ),
        "policy": policy_points,
        "at_bpcer": at_bpcer,
    }


def detectors(images: Sequence[ScoredImage]) -> Json:
    """AUC of each detector's own fake probability, pooled and per attack family."""
    names = sorted({name for i in images for name in i.detectors})
    result: Json = {}
    for name in names:
        opinions = [i for i in images if i.detectors.get(name) is not None]
        y = _labels(opinions)
        p = [float(i.detectors[name] or 0.0) for i in opinions]
        fakes, reals = split_classes(opinions)
        per_family = {}
        for family, members in _by(fakes, lambda i: i.row.family).items():
            group = [*members, *reals]
            per_family[family] = num(
                metrics.roc_auc(_labels(group), [float(i.detectors[name] or 0.0) for i in group])
            )
        result[name] = {
            "n_opinions": len(opinions),
            "auc": num(metrics.roc_auc(y, p)),
            "families": per_family,
        }
    return result


def calibration(images: Sequence[ScoredImage], bins: int = 10) -> Json:
    """Reliability of P(fake) = 1 - score/100 on scored images: bins and ECE."""
    scored = [i for i in images if i.scored]
    predicted = [(i.attack_score or 0.0) / 100.0 for i in scored]
    table, ece = metrics.reliability(_labels(scored), predicted, bins)
    return {
        "n_scored": len(scored),
        "ece": num(ece),
        "bins": [
            {
                "lower": b.lower,
                "upper": b.upper,
                "count": b.count,
                "mean_predicted": num(b.mean_predicted),
                "observed_fake_rate": num(b.observed_rate),
            }
            for b in table
        ],
    }


def demographics(
    images: Sequence[ScoredImage],
    labels: Mapping[str, Mapping[str, Mapping[str, str]]],
    attack_threshold: float | None,
) -> Json:
    """BPCER of real images per race, gender and age group, per labelled dataset."""
    _, reals = split_classes(images)
    result: Json = {}
    for dataset, by_relpath in labels.items():
        labelled = [i for i in reals if i.row.relpath in by_relpath]
        if not labelled:
            continue
        attributes: Json = {}
        for attribute in DEMOGRAPHIC_ATTRIBUTES:
            groups: dict[str, list[ScoredImage]] = defaultdict(list)
            for image in labelled:
                groups[by_relpath[image.row.relpath].get(attribute) or "?"].append(image)
            if set(groups) == {"?"}:
                continue
            attributes[attribute] = {
                value: {
                    "n": len(members),
                    "abstention_rate": num(sum(not i.scored for i in members) / len(members)),
                    "bpcer_at_target": (
                        None
                        if attack_threshold is None
                        else error_rates(members, _at_or_above(attack_threshold))
                    ),
                    "bpcer_policy": error_rates(members, lambda i: i.action != Action.ACCEPT),
                }
                for value, members in sorted(groups.items())
            }
        result[dataset] = {"n_real": len(labelled), "attributes": attributes}
    return {
        "target_bpcer": FAIRNESS_TARGET,
        "attack_threshold": num(attack_threshold),
        "datasets": result,
    }


def robustness(
    clean: ScoringRun, runs: Sequence[ScoringRun], descriptions: Mapping[str, str]
) -> Json:
    """AUC per family and pooled after each transform, and its drop from the clean run; the
    error rates after it at the policy action and at the clean run's BPCER thresholds."""
    clean_families = families(clean.images)
    clean_pooled = separation(*split_classes(clean.images))["auc"]
    clean_thresholds = bpcer_thresholds(clean.images)
    result: Json = {}
    for run in runs:
        transformed = families(run.images)
        pooled = separation(*split_classes(run.images))["auc"]
        result[run.transform] = {
            "description": descriptions.get(run.transform, run.transform),
            "n": len(run.images),
            "abstention_rate": num(
                sum(not i.scored for i in run.images) / len(run.images) if run.images else math.nan
            ),
            "pooled": _drop(clean_pooled, pooled),
            "error_rates": transformed_error_rates(run, clean_thresholds),
            "families": {
                family: _drop(clean_families[family]["auc"], numbers["auc"])
                for family, numbers in transformed.items()
                if family in clean_families
            },
        }
    return result


def transformed_error_rates(run: ScoringRun, clean_thresholds: Mapping[float, float]) -> Json:
    """BPCER and pooled APCER of ``run`` at the policy action and at the thresholds that gave
    each target BPCER on the clean images: what a deployment with thresholds set on clean
    photos sees when its captures arrive recompressed or downsized."""

    def rates(flagged: Flag) -> Json:
        fakes, reals = split_classes(run.images)
        return {
            "bpcer": error_rates(reals, flagged),
            "apcer_pooled": _missed(error_rates(fakes, flagged)),
        }

    result: Json = {"policy_action": rates(lambda i: i.action != Action.ACCEPT)}
    for target, threshold in clean_thresholds.items():
        if not math.isnan(threshold):
            result[f"clean_bpcer_{target:g}"] = {
                "attack_threshold": num(threshold, 6),
                **rates(_at_or_above(threshold)),
            }
    return result


def _drop(clean: float | None, transformed: float | None) -> Json:
    drop = None if clean is None or transformed is None else num(clean - transformed)
    return {"clean_auc": clean, "auc": transformed, "auc_drop": drop}

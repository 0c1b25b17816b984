"""Assembles ``report.json`` from an evaluation: the metric sections of ``summary`` plus the
run's latency, the machine and the dataset it was measured on."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence

from faceverdict.domain.policy import FlowPolicy
from faceverdict.evaluation.runner import TRANSFORMS, Evaluation, ScoringRun
from faceverdict.evaluation.runner import latency as measure_latency
from faceverdict.evaluation.summary import (
    FAIRNESS_TARGET,
    Json,
    abstention_summary,
    bpcer_thresholds,
    calibration,
    demographics,
    detectors,
    families,
    iso_30107_3,
    num,
    robustness,
    separation,
    split_classes,
    within_source,
)

REPORT_SCHEMA_VERSION = 1


def latency(run: ScoringRun) -> Json:
    """Per-image latency of the clean pass: all images and scored images only."""

    def block(values: Sequence[float], wall: float) -> Json:
        stats = measure_latency(values, wall)
        return {
            "count": stats.count,
            "mean_ms": num(stats.mean_ms, 2),
            "p50_ms": num(stats.p50_ms, 2),
            "p90_ms": num(stats.p90_ms, 2),
            "p99_ms": num(stats.p99_ms, 2),
            "max_ms": num(stats.max_ms, 2),
            "throughput_per_s": num(stats.throughput_per_s, 2),
        }

    everything = [i.elapsed_ms for i in run.images]
    scored = [i.elapsed_ms for i in run.images if i.scored]
    total = sum(everything)
    share = sum(scored) / total if total > 0 else 0.0
    return {
        "all": block(everything, run.wall_seconds),
        "scored_only": block(scored, run.wall_seconds * share),
        "wall_seconds": num(run.wall_seconds, 2),
        "measures": "Assessor.assess per image (decode, gate, detectors, fusion, policy); "
        "file read and transforms excluded; one image at a time, after one untimed warm-up",
    }


def system_info() -> Json:
    """The machine and software the numbers were measured on."""
    import os
    import platform
    from importlib import metadata

    def version(package: str) -> str | None:
        try:
            return metadata.version(package)
        except metadata.PackageNotFoundError:
            return None

    affinity = getattr(os, "sched_getaffinity", None)
    return {
        "cpu_count": os.cpu_count(),
        "cpus_available": len(affinity(0)) if affinity is not None else os.cpu_count(),
        "machine": platform.machine(),
        "processor": platform.processor() or None,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "faceverdict": version("faceverdict"),
        "onnxruntime": version("onnxruntime"),
        "numpy": version("numpy"),
    }


def build_report(
    evaluation: Evaluation,
    flow: FlowPolicy,
    policy_version: str,
    model_versions: Mapping[str, str],
    generated_at: str,
) -> Json:
    """Every section of ``report.json`` (plots are added by the writer)."""
    options, images = evaluation.options, evaluation.clean.images
    iso = iso_30107_3(images, flow)
    fairness = bpcer_thresholds(images)[FAIRNESS_TARGET]
    errors = [
        {"relpath": i.row.relpath, "abstention": i.abstention, "error": i.error}
        for i in images
        if i.error is not None
    ]
    return {
        "schema": REPORT_SCHEMA_VERSION,
        "generated_at": generated_at,
        "dataset": {
            "manifest": str(options.manifest),
            "root": str(options.root),
            "manifest_rows": evaluation.manifest_rows,
            "split": options.split,
            "validation_fraction": options.validation_fraction,
            "seed": options.seed,
            "limit_per_family": options.limit,
            "ensemble": options.ensemble,
            "n_images": len(images),
            "n_real": sum(not i.row.is_fake for i in images),
            "n_fake": sum(i.row.is_fake for i in images),
            "n_by_family": dict(sorted(Counter(i.row.family for i in images).items())),
        },
        "system": system_info(),
        "policy": {
            "version": policy_version,
            "flow": options.flow,
            "bands": [
                {"name": b.name, "min_score": b.min_score, "action": b.action.value}
                for b in flow.bands
            ],
        },
        "model_versions": dict(model_versions),
        "abstention": abstention_summary(images),
        "pooled": separation(*split_classes(images), interval=True),
        "families": families(images, interval=True),
        "within_source": within_source(images),
        "iso_30107_3": iso,
        "detectors": detectors(images),
        "calibration": calibration(images),
        "demographics": demographics(
            images, evaluation.demographics, None if math.isnan(fairness) else fairness
        ),
        "robustness": robustness(
            evaluation.clean, evaluation.transformed, {k: v[0] for k, v in TRANSFORMS.items()}
        )
        if evaluation.transformed
        else None,
        "latency": latency(evaluation.clean),
        "rejected_files": errors,
    }

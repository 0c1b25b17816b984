"""PNG plots of an evaluation: ROC per family, score histograms, reliability, robustness.

matplotlib is an optional dependency (the ``eval`` extra). It is imported lazily through
``importlib``, drawn on bare ``Figure`` objects (Agg canvas, no pyplot state), so the
service never needs it and a missing install only skips the plots.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from faceverdict.evaluation import metrics
from faceverdict.evaluation.runner import ScoredImage

Json = dict[str, Any]
BPCER_MARKS = (0.01, 0.05)


def matplotlib_available() -> bool:
    """Whether matplotlib can be imported (``pip install 'faceverdict[eval]'``)."""
    try:
        importlib.import_module("matplotlib")
    except ImportError:
        return False
    return True


def _figure(width: float, height: float) -> Any:
    figure_module = importlib.import_module("matplotlib.figure")
    return figure_module.Figure(figsize=(width, height), dpi=110, layout="constrained")


def _save(figure: Any, path: Path) -> str:
    figure.savefig(path, format="png")
    return path.name


def _attack_family_sets(
    images: Sequence[ScoredImage],
) -> list[tuple[str, list[int], list[float]]]:
    scored = [i for i in images if i.attack_score is not None]
    reals = [i for i in scored if not i.row.is_fake]
    sets = []
    for family in sorted({i.row.family for i in scored if i.row.is_fake}):
        group = [*(i for i in scored if i.row.family == family), *reals]
        sets.append(
            (family, [int(i.row.is_fake) for i in group], [i.attack_score or 0.0 for i in group])
        )
    if any(i.row.is_fake for i in scored):
        sets.insert(
            0,
            (
                "pooled",
                [int(i.row.is_fake) for i in scored],
                [i.attack_score or 0.0 for i in scored],
            ),
        )
    return sets


def roc_plot(images: Sequence[ScoredImage], path: Path) -> str | None:
    """ROC of each attack family against every real image, and pooled."""
    sets = [(name, y, s) for name, y, s in _attack_family_sets(images) if 0 < sum(y) < len(y)]
    if not sets:
        return None
    figure = _figure(7.5, 6.0)
    axes = figure.subplots()
    for name, y, s in sets:
        curve = metrics.roc_curve(y, s)
        auc = metrics.roc_auc(y, s)
        axes.plot(
            curve.fpr,
            curve.tpr,
            drawstyle="steps-post",
            linewidth=2.5 if name == "pooled" else 1.2,
            color="black" if name == "pooled" else None,
            label=f"{name} (AUC {auc:.3f}, n fake {sum(y)})",
        )
    for mark in BPCER_MARKS:
        axes.axvline(mark, color="grey", linestyle=":", linewidth=0.8)
    axes.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=0.8)
    axes.set_xlabel("BPCER (real images flagged as attack)")
    axes.set_ylabel("1 - APCER (attacks flagged)")
    axes.set_title("ROC per attack family, against all real images (abstentions excluded)")
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1.01)
    axes.legend(fontsize=7, loc="lower right")
    return _save(figure, path)


def histogram_plot(images: Sequence[ScoredImage], bands: Sequence[float], path: Path) -> str | None:
    """Histogram of authenticity scores per family, band boundaries marked."""
    families = sorted({i.row.family for i in images}, key=lambda f: (f.startswith("camera"), f))
    if not families:
        return None
    columns = 3
    rows = math.ceil(len(families) / columns)
    figure = _figure(11.0, 2.4 * rows + 0.6)
    grid = figure.subplots(rows, columns, squeeze=False, sharex=True)
    for index, axes in enumerate(grid.flat):
        if index >= len(families):
            axes.set_visible(False)
            continue
        family = families[index]
        members = [i for i in images if i.row.family == family]
        scores = [i.authenticity_score for i in members if i.authenticity_score is not None]
        fake = members[0].row.is_fake
        axes.hist(scores, bins=20, range=(0, 100), color="tab:red" if fake else "tab:blue")
        for boundary in bands:
            if boundary > 0:
                axes.axvline(boundary, color="black", linestyle=":", linewidth=0.8)
        abstained = len(members) - len(scores)
        axes.set_title(
            f"{family} ({'fake' if fake else 'real'}): {len(scores)} scored, {abstained} abstained",
            fontsize=8,
        )
        axes.tick_params(labelsize=7)
    figure.suptitle("Authenticity score per family (100 = genuine); dotted: policy band boundaries")
    return _save(figure, path)


def reliability_plot(calibration: Json, path: Path) -> str | None:
    """Reliability diagram: mean predicted P(fake) against observed fake rate per bin."""
    bins = [b for b in calibration["bins"] if b["count"]]
    if not bins:
        return None
    figure = _figure(6.0, 6.5)
    top, bottom = figure.subplots(2, 1, height_ratios=[3, 1], sharex=True)
    top.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=0.8, label="perfect")
    top.plot(
        [b["mean_predicted"] for b in bins],
        [b["observed_fake_rate"] for b in bins],
        marker="o",
        label="fused score",
    )
    top.set_ylabel("observed fake rate")
    top.set_ylim(0, 1)
    top.set_title(f"Reliability of P(fake) = 1 - score/100 (ECE {calibration['ece']})")
    top.legend(fontsize=8)
    centres = [(b["lower"] + b["upper"]) / 2 for b in calibration["bins"]]
    bottom.bar(centres, [b["count"] for b in calibration["bins"]], width=0.09, color="grey")
    bottom.set_xlabel("predicted P(fake), 10 bins")
    bottom.set_ylabel("images")
    bottom.set_xlim(0, 1)
    return _save(figure, path)


def robustness_plot(robustness: Json, path: Path) -> str | None:
    """AUC per attack family, clean and after each transform."""
    if not robustness:
        return None
    transforms = list(robustness)
    first = robustness[transforms[0]]["families"]
    families = ["pooled", *sorted(first)]
    figure = _figure(max(7.0, 0.9 * len(families) + 2), 4.5)
    axes = figure.subplots()
    width = 0.8 / (len(transforms) + 1)

    def auc_of(transform: str | None, family: str) -> float:
        block = robustness[transforms[0] if transform is None else transform]
        entry = block["pooled"] if family == "pooled" else block["families"].get(family, {})
        value = entry.get("clean_auc" if transform is None else "auc")
        return math.nan if value is None else float(value)

    for k, transform in enumerate([None, *transforms]):
        axes.bar(
            [x + k * width for x in range(len(families))],
            [auc_of(transform, f) for f in families],
            width=width,
            label=transform or "clean",
        )
    axes.axhline(0.5, color="grey", linestyle=":", linewidth=0.8)
    axes.set_xticks([x + 0.4 - width / 2 for x in range(len(families))])
    axes.set_xticklabels(families, rotation=35, ha="right", fontsize=7)
    axes.set_ylabel("AUC")
    axes.set_ylim(0, 1)
    axes.set_title("AUC per family (fakes vs all reals; reals vs all fakes) under re-encoding")
    axes.legend(fontsize=7, ncols=3)
    return _save(figure, path)


def write_plots(
    images: Sequence[ScoredImage], report: Json, bands: Sequence[float], out: Path
) -> dict[str, str]:
    """Draw every plot into ``out``; returns {plot: file name}, empty without matplotlib."""
    if not matplotlib_available():
        return {}
    made = {
        "roc": roc_plot(images, out / "roc.png"),
        "histograms": histogram_plot(images, bands, out / "histograms.png"),
        "reliability": reliability_plot(report["calibration"], out / "reliability.png"),
        "robustness": robustness_plot(report.get("robustness") or {}, out / "robustness.png"),
    }
    return {name: file for name, file in made.items() if file is not None}

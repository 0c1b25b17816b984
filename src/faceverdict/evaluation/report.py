"""Writes an evaluation to ``report.json``, ``report.md``, ``scores.csv`` and PNG plots."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from faceverdict.evaluation.plots import write_plots
from faceverdict.evaluation.runner import ScoredImage
from faceverdict.evaluation.summary import EXCLUDED, INCLUDED

Json = dict[str, Any]


def write_report(
    report: Json, images: Sequence[ScoredImage], bands: Sequence[float], out: Path
) -> list[Path]:
    """Write every file of the report into ``out`` (created if needed); returns their paths."""
    out.mkdir(parents=True, exist_ok=True)
    plots = write_plots(images, report, bands, out)
    report["plots"] = plots
    if not plots:
        report["plots_skipped"] = "matplotlib is not installed: pip install 'faceverdict[eval]'"
    paths = [out / "report.json", out / "report.md", out / "scores.csv"]
    paths[0].write_text(json.dumps(report, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    paths[1].write_text(markdown(report), encoding="utf-8")
    write_scores(images, paths[2])
    return paths + [out / name for name in plots.values()]


def write_scores(images: Iterable[ScoredImage], path: Path) -> None:
    """One CSV line per judged image of the clean pass (no pixels, only paths and numbers)."""
    images = list(images)
    names = sorted({name for i in images for name in i.detectors})
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            [
                "relpath",
                "label",
                "family",
                "source",
                "authenticity_score",
                "abstention",
                "band",
                "action",
                "elapsed_ms",
                *(f"p_fake:{n}" for n in names),
            ]
        )
        for i in images:
            writer.writerow(
                [
                    i.row.relpath,
                    i.row.label,
                    i.row.family,
                    i.row.source,
                    _cell(i.authenticity_score),
                    i.abstention or "",
                    i.band,
                    i.action,
                    f"{i.elapsed_ms:.2f}",
                    *(_cell(i.detectors.get(n)) for n in names),
                ]
            )


def _cell(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"


def _fmt(value: Any, percent: bool = False) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{100 * value:.1f}%" if percent else f"{value:.3f}"
    return str(value)


def _pair(rates: Json | None) -> str:
    """'excluded / as-not-accepted' percentages of one error-rate block."""
    if not rates:
        return "–"
    return f"{_fmt(rates.get(EXCLUDED), True)} / {_fmt(rates.get(INCLUDED), True)}"


def _interval(bounds: Sequence[float | None] | None) -> str:
    """A bootstrap interval as 'low-high', or a dash."""
    if not bounds or bounds[0] is None or bounds[1] is None:
        return "–"
    return f"{bounds[0]:.3f}-{bounds[1]:.3f}"


def _table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return [*lines, ""]


def markdown(report: Json) -> str:
    """The human-readable report, linking the plots."""
    data, policy, system = report["dataset"], report["policy"], report["system"]
    iso = report["iso_30107_3"]
    policy_point = iso["policy"][0]
    at_bpcer = {p["target_bpcer"]: p for p in iso["at_bpcer"]}
    lines = [
        "# faceverdict evaluation",
        "",
        f"Generated {report['generated_at']} on {system['cpu_count']} CPU(s) "
        f"({system['cpus_available']} available, {system['machine']}, Python {system['python']}).",
        f"Manifest `{data['manifest']}`: split `{data['split']}` "
        f"(validation fraction {data['validation_fraction']}, seed {data['seed']}"
        + (f", at most {data['limit_per_family']} per family" if data["limit_per_family"] else "")
        + f"): {data['n_images']} images, {data['n_real']} real, {data['n_fake']} fake.",
        f"Policy `{policy['version']}`, flow `{policy['flow']}`; bands "
        + ", ".join(f"{b['name']} >= {b['min_score']:g} -> {b['action']}" for b in policy["bands"])
        + ".",
        f"Detectors of the `{data.get('ensemble', 'inline')}` ensemble; models: "
        + ", ".join(f"`{k}` {v}" for k, v in report["model_versions"].items())
        + ".",
        "",
        "Attack score = 100 - authenticity score. Error rates are shown as "
        "*abstentions excluded / abstentions counted by their policy action* (an abstained "
        "capture is not accepted: it adds to BPCER when real and is stopped when fake). "
        "See docs/evaluation.md.",
        "",
        "## Pooled",
        "",
    ]
    pooled = report["pooled"]
    lines += _table(
        ["real scored", "fake scored", "AUC", "AUC 95 % CI", "AP", "EER", "EER attack threshold"],
        [
            [
                pooled["n_real_scored"],
                pooled["n_fake_scored"],
                _fmt(pooled["auc"]),
                _interval(pooled.get("auc_ci95")),
                _fmt(pooled["ap"]),
                _fmt(pooled["eer"], True),
                _fmt(pooled["eer_attack_threshold"]),
            ]
        ],
    )
    lines += [
        "## Per family",
        "",
        "Attack families are compared with all real images, real families with all fakes. "
        "APCER for attack families, BPCER for real ones.",
        "",
    ]
    rows = []
    for family, f in report["families"].items():
        abst = report["abstention"]["by_family"][family]["rate"]
        if f["label"] == "fake":
            rate = policy_point["apcer_by_family"].get(family)
            r1 = at_bpcer.get(0.01, {}).get("apcer_by_family", {}).get(family)
            r5 = at_bpcer.get(0.05, {}).get("apcer_by_family", {}).get(family)
        else:
            rate = policy_point["bpcer_by_family"].get(family)
            r1 = at_bpcer.get(0.01, {}).get("bpcer_by_family", {}).get(family)
            r5 = at_bpcer.get(0.05, {}).get("bpcer_by_family", {}).get(family)
        rows.append(
            [
                family,
                f["label"],
                f["n"],
                _fmt(abst, True),
                _fmt(f["auc"]),
                _interval(f.get("auc_ci95")),
                _fmt(f["ap"]),
                _fmt(f["eer"], True),
                _pair(rate),
                _pair(r1),
                _pair(r5),
            ]
        )
    lines += _table(
        [
            "family",
            "label",
            "n",
            "abstained",
            "AUC",
            "AUC 95 % CI",
            "AP",
            "EER",
            "error @ policy",
            "error @ BPCER 1%",
            "error @ BPCER 5%",
        ],
        rows,
    )
    lines += [
        "## Within source",
        "",
        "Where a source has both classes: its fakes against its own reals (no dataset "
        "shortcut) next to its fakes against every real image.",
        "",
    ]
    lines += _table(
        ["source", "within-source AUC", "fakes vs all real AUC", "per family (within source)"],
        [
            [
                s,
                _fmt(w["within_source"]["auc"]),
                _fmt(w["fakes_vs_all_real"]["auc"]),
                ", ".join(f"{k} {_fmt(v['within_source_auc'])}" for k, v in w["families"].items()),
            ]
            for s, w in report["within_source"].items()
        ],
    )
    lines += ["## ISO/IEC 30107-3 operating points", ""]
    points = [*iso["policy"], *iso["at_bpcer"]]
    lines += _table(
        ["operating point", "rule", "BPCER", "APCER pooled", "APCER max (family)"],
        [
            [
                p.get("name") or f"BPCER target {_fmt(p['target_bpcer'], True)}",
                p["rule"] + _threshold_note(p),
                _pair(p.get("bpcer")),
                _pair(p.get("apcer_pooled")),
                _pair(p.get("apcer_max")),
            ]
            for p in points
        ],
    )
    lines += ["## Abstentions", ""]
    abst = report["abstention"]
    lines += _table(
        ["class / family", "n", "abstained", "rate", "codes"],
        [
            [
                name,
                b["n"],
                b["abstained"],
                _fmt(b["rate"], True),
                ", ".join(f"{k} {v}" for k, v in b["codes"].items()) or "–",
            ]
            for name, b in [*abst["by_class"].items(), *abst["by_family"].items()]
        ],
    )
    if report["detectors"]:
        lines += [
            "## Detectors on their own",
            "",
            "AUC of each detector's fake probability (images where it gave one).",
            "",
        ]
        lines += _table(
            ["detector", "opinions", "AUC", "per attack family"],
            [
                [
                    n,
                    d["n_opinions"],
                    _fmt(d["auc"]),
                    ", ".join(f"{k} {_fmt(v)}" for k, v in d["families"].items()),
                ]
                for n, d in report["detectors"].items()
            ],
        )
    cal = report["calibration"]
    lines += [
        "## Calibration",
        "",
        f"ECE {_fmt(cal['ece'])} over {cal['n_scored']} scored images, 10 bins of "
        "P(fake) = 1 - score/100 (the observed rate depends on this set's fake share).",
        "",
    ]
    lines += _table(
        ["bin", "images", "mean predicted", "observed fake rate"],
        [
            [
                f"{b['lower']:.1f}-{b['upper']:.1f}",
                b["count"],
                _fmt(b["mean_predicted"]),
                _fmt(b["observed_fake_rate"]),
            ]
            for b in cal["bins"]
        ],
    )
    lines += _demographics(report["demographics"])
    if report.get("robustness"):
        lines += _robustness(report["robustness"])
        lines += _robust_error_rates(report["robustness"], report["iso_30107_3"])
    lat = report["latency"]
    lines += ["## Latency", "", f"{lat['measures']}.", ""]
    lines += _table(
        ["images", "count", "mean ms", "p50 ms", "p90 ms", "p99 ms", "max ms", "images/s"],
        [
            [
                k,
                b["count"],
                b["mean_ms"],
                b["p50_ms"],
                b["p90_ms"],
                b["p99_ms"],
                b["max_ms"],
                b["throughput_per_s"],
            ]
            for k, b in (("all", lat["all"]), ("scored", lat["scored_only"]))
        ],
    )
    if report["rejected_files"]:
        lines += ["## Files the service refused", ""]
        lines += [
            f"- `{e['relpath']}`: {e['abstention']}: {e['error']}"
            for e in report["rejected_files"][:50]
        ] + [""]
    if report.get("plots"):
        lines += ["## Plots", ""]
        lines += [f"![{name}]({file})" for name, file in report["plots"].items()] + [""]
    elif report.get("plots_skipped"):
        lines += [f"Plots skipped: {report['plots_skipped']}.", ""]
    return "\n".join(lines)


def _threshold_note(point: Json) -> str:
    if "target_bpcer" not in point:
        return ""
    above = ", above every real score" if point.get("above_every_real_score") else ""
    return f" (t = {_fmt(point['attack_threshold'])}{above})"


def _demographics(block: Json) -> list[str]:
    if not block["datasets"]:
        return []
    lines = [
        "## BPCER per demographic group",
        "",
        f"Real images with labels, at the pooled BPCER {_fmt(block['target_bpcer'], True)} "
        f"threshold (attack score >= {_fmt(block['attack_threshold'])}) and at the policy "
        "action. Labels are annotators' perceptions, see the dataset README.",
        "",
    ]
    for dataset, entry in block["datasets"].items():
        for attribute, groups in entry["attributes"].items():
            lines += [f"### {dataset}: {attribute}", ""]
            lines += _table(
                ["group", "n", "abstained", "BPCER @ target", "BPCER @ policy"],
                [
                    [
                        value,
                        g["n"],
                        _fmt(g["abstention_rate"], True),
                        _pair(g["bpcer_at_target"]),
                        _pair(g["bpcer_policy"]),
                    ]
                    for value, g in groups.items()
                ],
            )
    return lines


def _robustness(block: Json) -> list[str]:
    transforms = list(block)
    families = sorted({f for t in block.values() for f in t["families"]})
    lines = [
        "## Robustness",
        "",
        "AUC after re-encoding every image in memory (clean AUC, then AUC and drop per "
        "transform). " + "; ".join(f"`{k}`: {v['description']}" for k, v in block.items()) + ".",
        "",
    ]
    rows = []
    for family in ["pooled", *families]:
        cells: list[Any] = [family]
        clean = None
        for t in transforms:
            entry = block[t]["pooled"] if family == "pooled" else block[t]["families"].get(family)
            if entry is None:
                cells.append("–")
                continue
            clean = entry["clean_auc"] if clean is None else clean
            cells.append(f"{_fmt(entry['auc'])} ({_fmt(entry['auc_drop'])})")
        rows.append([cells[0], _fmt(clean), *cells[1:]])
    lines += _table(["family", "clean", *transforms], rows)
    lines += _table(
        ["transform", "abstention rate"],
        [[t, _fmt(block[t]["abstention_rate"], True)] for t in transforms],
    )
    return lines


def _robust_error_rates(block: Json, iso: Json) -> list[str]:
    """BPCER / APCER per transform at the policy action and at the clean BPCER thresholds."""
    clean: Json = {"policy_action": iso["policy"][0]}
    points = [("policy_action", "policy action")]
    for point in iso["at_bpcer"]:
        if point.get("bpcer"):
            key = f"clean_bpcer_{point['target_bpcer']:g}"
            clean[key] = point
            points.append((key, f"clean BPCER {100 * point['target_bpcer']:g} % threshold"))
    header = ["transform"]
    for _, name in points:
        header += [f"BPCER, {name}", f"APCER, {name}"]
    rows = []
    for transform, rates in [("clean", clean), *((t, b["error_rates"]) for t, b in block.items())]:
        row: list[Any] = [transform]
        for key, _ in points:
            point = rates.get(key)
            row += [_pair(point and point["bpcer"]), _pair(point and point["apcer_pooled"])]
        rows.append(row)
    return [
        "Error rates after each transform, with the thresholds left where the clean images put "
        "them (the policy's bands, and the attack-score thresholds that gave BPCER 1 % and 5 % "
        "on the clean images): what a deployment that set its thresholds on clean photos sees "
        "when its captures arrive recompressed or downsized. Each cell: *abstentions excluded / "
        "abstentions counted by their policy action*.",
        "",
        *_table(header, rows),
    ]

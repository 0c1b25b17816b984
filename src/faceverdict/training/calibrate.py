"""Fits ``models/fusion.json``: standardisation per detector and the evidence-to-score knots.

Reads only *real* photos of the calibration groups (``evaluation.split.is_calibration``: the
lower half of the validation groups, never trained on) and runs them through the service's
own decode, capture gate and detectors. Then:

- each learned detector's log-odds get a mean and standard deviation (``Standardisation``);
  the learned detectors are the registered ones declared ``calibrated=True``
  (``learned_detectors``: built-ins, entry-point plug-ins and ``--detector-module`` ones);
- the inline total evidence (soft maximum of the standardised learned detectors, plus the
  weighted provenance evidence) gets its genuine tail: empirical quantiles down to the top
  20%, and an exponential tail fitted to the top 10% (peaks over threshold) beyond it, where
  a few hundred photos cannot give quantiles;
- the knots put each anchor score at the evidence that a fixed share of genuine captures
  exceed (``ANCHORS``), so "score 60" means "1% of genuine captures score lower" in every
  release.

It needs no PyTorch: ``python -m faceverdict.training.calibrate --manifest M.csv --root DIR``
(``make calibrate``). The run is deterministic: same models, same data, same file.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import statistics
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from faceverdict.detectors.base import Sample
from faceverdict.detectors.capture_gate import CaptureGate
from faceverdict.detectors.fusion import (
    FusionParameters,
    ScoreMap,
    Standardisation,
    total_evidence,
)
from faceverdict.detectors.imaging import DecodeLimits, decode_capture
from faceverdict.detectors.logistic import logit
from faceverdict.detectors.model_files import MODELS_DIR
from faceverdict.detectors.registry import create_detector, list_detectors
from faceverdict.domain.detection import DetectorKind
from faceverdict.errors import CaptureRejected
from faceverdict.evaluation.metrics import quantile
from faceverdict.evaluation.runner import ManifestRow, read_manifest
from faceverdict.evaluation.split import DEFAULT_CALIBRATION_FRACTION, is_calibration

# Weights of the evidence detectors that should not count with the default weight 1.0
# (the learned detectors are not listed anywhere: see ``learned_detectors``).
EVIDENCE = {"provenance": 1.5}
TEMPERATURE = 0.5
# (share of genuine captures whose evidence is higher, score given to that evidence)
ANCHORS: tuple[tuple[float, float], ...] = (
    (0.8, 99.0),
    (0.5, 98.0),
    (0.2, 95.0),
    (0.05, 90.0),
    (0.01, 60.0),
    (0.001, 30.0),
    (0.0001, 10.0),
)
TAIL_FROM = 0.1  # the exponential tail is fitted above the genuine 90th percentile


def learned_detectors(kind: DetectorKind) -> tuple[str, ...]:
    """The registered detectors of ``kind`` that the fusion calibrates (``calibrated=True``),
    sorted: inline ones are combined for the knots, assurance ones standardised alongside."""
    return tuple(list_detectors(kind, calibrated=True))


@dataclass
class Observations:
    """What the detectors said about the calibration photos (log-odds, per detector)."""

    logits: dict[str, list[float]] = field(default_factory=dict)
    evidence: list[float] = field(default_factory=list)  # provenance part, per photo
    rows: list[ManifestRow] = field(default_factory=list)
    abstained: dict[str, int] = field(default_factory=dict)


def calibration_rows(rows: Sequence[ManifestRow]) -> list[ManifestRow]:
    """The real photos of the calibration groups, in a stable order."""
    chosen = [r for r in rows if not r.is_fake and is_calibration(r.split_key())]
    return sorted(chosen, key=lambda r: r.relpath)


def observe(
    rows: Sequence[ManifestRow],
    root: Path,
    *,
    learned: Sequence[str] | None = None,
    quiet: bool = False,
) -> Observations:
    """Run gate and detectors on every row; photos the gate refuses are counted and skipped.

    ``learned``: the detectors whose log-odds are recorded (default: every registered learned
    detector, inline and assurance)."""
    if learned is None:
        learned = (
            *learned_detectors(DetectorKind.INLINE),
            *learned_detectors(DetectorKind.ASSURANCE),
        )
    gate = CaptureGate()
    detectors = {name: create_detector(name) for name in (*learned, *EVIDENCE)}
    seen = Observations(logits={name: [] for name in learned})
    started = time.monotonic()
    for done, row in enumerate(rows, start=1):
        data = (root / row.relpath).read_bytes()
        try:
            image = decode_capture(data, DecodeLimits())
        except CaptureRejected as exc:
            seen.abstained[exc.abstention.value] = seen.abstained.get(exc.abstention.value, 0) + 1
            continue
        outcome = gate.inspect(image)
        if outcome.result.abstention is not None or outcome.face is None:
            key = outcome.result.abstention.value if outcome.result.abstention else "no_face"
            seen.abstained[key] = seen.abstained.get(key, 0) + 1
            continue
        sample = Sample(data=data, image=image, face=outcome.face)
        results = {name: detector.analyse(sample) for name, detector in detectors.items()}
        if any(results[n].fake_probability is None for n in seen.logits):
            seen.abstained["detector_silent"] = seen.abstained.get("detector_silent", 0) + 1
            continue
        for name in seen.logits:
            seen.logits[name].append(logit(float(results[name].fake_probability or 0.0)))
        seen.evidence.append(
            sum(
                weight * logit(p)
                for name, weight in EVIDENCE.items()
                if (p := results[name].fake_probability) is not None
            )
        )
        seen.rows.append(row)
        if not quiet and (done % 50 == 0 or done == len(rows)):
            rate = done / max(time.monotonic() - started, 1e-9)
            print(f"  {done}/{len(rows)} photos ({rate:.1f}/s)", file=sys.stderr)
    return seen


def standardise(values: Sequence[float]) -> Standardisation:
    """Mean and (population) standard deviation, the std floored to stay usable."""
    return Standardisation(
        mean=round(statistics.fmean(values), 6),
        std=round(max(statistics.pstdev(values), 1e-3), 6),
    )


def combined(
    logits: dict[str, list[float]],
    names: Sequence[str],
    scales: dict[str, Standardisation],
    evidence: Sequence[float],
    temperature: float | None = TEMPERATURE,
) -> list[float]:
    """Total evidence per photo, with the runtime's own ``total_evidence`` (None: a sum)."""
    return [
        total_evidence(
            [scales[n].scaled(logits[n][i]) for n in names],
            extra,
            temperature,
            neutral=0.0,
        )
        for i, extra in enumerate(evidence)
    ]


@dataclass(frozen=True)
class Tail:
    """The genuine evidence distribution: empirical body, exponential upper tail."""

    values: tuple[float, ...]
    threshold: float  # evidence exceeded by TAIL_FROM of genuine photos
    scale: float  # mean excess over the threshold (exponential MLE)

    @classmethod
    def fit(cls, values: Sequence[float]) -> Tail:
        """Fit the tail to ``values`` (needs a few dozen photos above the threshold)."""
        threshold = quantile(values, 1 - TAIL_FROM)
        excess = [v - threshold for v in values if v > threshold]
        if len(excess) < 10:
            raise ValueError(f"too few calibration photos for a tail fit ({len(values)})")
        return cls(tuple(sorted(values)), threshold, max(statistics.fmean(excess), 1e-3))

    def exceeded_by(self, share: float) -> float:
        """The evidence that ``share`` of genuine captures exceed."""
        if share >= TAIL_FROM:
            return quantile(self.values, 1 - share)
        return self.threshold + self.scale * math.log(TAIL_FROM / share)

    def share_above(self, evidence: float) -> float:
        """The share of genuine captures with more evidence than ``evidence`` (the BPCER)."""
        if evidence >= self.threshold:
            return TAIL_FROM * math.exp(-(evidence - self.threshold) / self.scale)
        return sum(v > evidence for v in self.values) / len(self.values)


def fit(seen: Observations, version: str, source: str) -> dict[str, Any]:
    """The ``fusion.json`` document for these observations (of every registered learned
    detector: ``observe``'s default)."""
    inline_learned = learned_detectors(DetectorKind.INLINE)
    assurance_learned = learned_detectors(DetectorKind.ASSURANCE)
    names = (*inline_learned, *assurance_learned)
    scales = {name: standardise(seen.logits[name]) for name in names}
    inline = combined(seen.logits, inline_learned, scales, seen.evidence)
    tail = Tail.fit(inline)
    knots = [(round(tail.exceeded_by(share), 4), score) for share, score in ANCHORS]
    score_map = ScoreMap(tuple(knots))  # validates monotonicity
    assurance = combined(seen.logits, assurance_learned, scales, seen.evidence)
    checks = {
        label: {
            f"below_{int(score)}": round(
                sum(score_map.score(v) < score for v in values) / len(values), 4
            )
            for score in (95.0, 90.0, 60.0)
        }
        for label, values in (("inline", inline), ("assurance", assurance))
    }
    document: dict[str, Any] = {
        "version": version,
        "comment": "Calibrated on genuine photos; see docs/models/fusion.md and "
        "faceverdict.training.calibrate. Regenerate with `make calibrate`.",
        "standardise": {n: {"mean": s.mean, "std": s.std} for n, s in scales.items()},
        "evidence": dict(EVIDENCE),
        "default_weight": 1.0,
        "temperature": TEMPERATURE,
        "neutral": round(quantile(inline, 0.5), 4),
        "score_knots": [list(k) for k in knots],
        "calibration": {
            "data": source,
            "photos": len(seen.rows),
            "skipped": dict(sorted(seen.abstained.items())),
            "families": dict(sorted(Counter(r.family for r in seen.rows).items())),
            "split": f"real photos of groups with group_fraction(seed 0) < "
            f"{DEFAULT_CALIBRATION_FRACTION} (inside the validation groups, never trained on)",
            "anchors": [{"genuine_share_above": share, "score": score} for share, score in ANCHORS],
            "tail": {"threshold": round(tail.threshold, 4), "scale": round(tail.scale, 4)},
            "share_below_on_calibration_photos": checks,
        },
    }
    FusionParameters.from_dict(document)  # the runtime must accept what we write
    return document


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: fit and write ``fusion.json``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--manifest", type=Path, required=True)
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=MODELS_DIR / "fusion.json")
    parser.add_argument("--version", default=time.strftime("fusion-%Y.%m.%d"))
    parser.add_argument("--limit", type=int, default=None, help="at most this many photos")
    parser.add_argument(
        "--detector-module",
        action="append",
        default=[],
        metavar="MODULE",
        help="also import MODULE so that its detectors register (as the detector_modules "
        "setting does; repeatable)",
    )
    args = parser.parse_args(argv)
    for module in args.detector_module:
        importlib.import_module(module)
    try:
        rows = calibration_rows(read_manifest(args.manifest))[: args.limit]
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not rows:
        print("error: no real photo in the calibration groups", file=sys.stderr)
        return 2
    print(f"calibrating on {len(rows)} real photos", file=sys.stderr)
    seen = observe(rows, args.root)
    try:
        document = fit(seen, args.version, source=args.manifest.parent.name)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    args.out.write_text(json.dumps(document, indent=2) + "\n")
    print(json.dumps(document["calibration"]["share_below_on_calibration_photos"]))
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

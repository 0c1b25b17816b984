"""Scoring for ``faceverdict eval``: read a manifest, pick images, judge them, time them.

Images are judged one at a time by the in-process ``Assessor``, the code path of
``faceverdict scan``. Robustness transforms re-encode the bytes in memory; nothing is
written to disk.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, ImageOps

from faceverdict.domain.policy import ClientSignals
from faceverdict.errors import CaptureRejected
from faceverdict.evaluation.split import is_calibration, is_validation
from faceverdict.services.checks import Assessor

MANIFEST_COLUMNS = ("relpath", "label", "family", "source", "group")
LABELS = ("real", "fake")
Transform = Callable[[bytes], bytes]


class ManifestError(ValueError):
    """The manifest cannot be used (missing file, columns, labels or images)."""


@dataclass(frozen=True)
class ManifestRow:
    """One image of the manifest."""

    relpath: str
    label: str
    family: str
    source: str
    group: str

    @property
    def is_fake(self) -> bool:
        """Whether the image is an attack (label ``fake``)."""
        return self.label == "fake"

    def split_key(self) -> dict[str, str]:
        """The columns ``group_split`` looks at."""
        return {"relpath": self.relpath, "group": self.group}


def read_manifest(path: Path) -> list[ManifestRow]:
    """Read and check a manifest CSV (columns relpath,label,family,source,group at least)."""
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in MANIFEST_COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise ManifestError(f"manifest {path} lacks column(s): {', '.join(missing)}")
            rows = [
                ManifestRow(
                    relpath=(r["relpath"] or "").strip(),
                    label=(r["label"] or "").strip(),
                    family=(r["family"] or "").strip(),
                    source=(r["source"] or "").strip(),
                    group=(r["group"] or "").strip(),
                )
                for r in reader
            ]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ManifestError(f"cannot read manifest {path}: {exc}") from None
    for line, row in enumerate(rows, start=2):
        if not row.relpath or not row.family:
            raise ManifestError(f"manifest {path} line {line}: relpath and family are required")
        if row.label not in LABELS:
            raise ManifestError(
                f"manifest {path} line {line}: label must be real or fake, not {row.label!r}"
            )
    if not rows:
        raise ManifestError(f"manifest {path} has no rows")
    return rows


def read_demographics(manifest: Path) -> dict[str, dict[str, dict[str, str]]]:
    """Demographic labels from ``*/LABELS.csv`` beside the manifest: {dataset: {relpath: row}}."""
    found: dict[str, dict[str, dict[str, str]]] = {}
    for labels in sorted(manifest.parent.glob("*/LABELS.csv")):
        try:
            with labels.open(newline="", encoding="utf-8") as handle:
                rows = {r["relpath"]: r for r in csv.DictReader(handle) if r.get("relpath")}
        except (OSError, UnicodeDecodeError, csv.Error, KeyError):
            continue
        if rows:
            found[labels.parent.name] = rows
    return found


def _sample_key(row: ManifestRow, seed: int) -> str:
    return hashlib.sha256(f"{seed}\x00{row.relpath}".encode()).hexdigest()


def select_rows(
    rows: Sequence[ManifestRow],
    *,
    split: str = "validation",
    validation_fraction: float = 0.2,
    seed: int = 0,
    limit: int | None = None,
) -> list[ManifestRow]:
    """The rows to evaluate: the validation part (or all), at most ``limit`` per family.

    The validation part leaves out the real photos that calibrated the fusion
    (``split.is_calibration``), so BPCER at the policy's thresholds is measured on unseen
    genuine captures.
    """
    if split not in ("validation", "all"):
        raise ValueError("split must be 'validation' or 'all'")
    chosen = [
        r
        for r in rows
        if split == "all"
        or (
            is_validation(r.split_key(), validation_fraction, seed)
            # the real photos that calibrated the score are not evidence for it
            and (r.is_fake or not is_calibration(r.split_key(), seed=seed))
        )
    ]
    if limit is None:
        return sorted(chosen, key=lambda r: r.relpath)
    by_family: dict[str, list[ManifestRow]] = defaultdict(list)
    for row in chosen:
        by_family[row.family].append(row)
    picked = [
        row
        for family_rows in by_family.values()
        for row in sorted(family_rows, key=lambda r: _sample_key(r, seed))[:limit]
    ]
    return sorted(picked, key=lambda r: r.relpath)


def missing_files(rows: Iterable[ManifestRow], root: Path) -> list[str]:
    """Relpaths of ``rows`` that are not files under ``root``."""
    return [r.relpath for r in rows if not (root / r.relpath).is_file()]


@dataclass(frozen=True)
class ScoredImage:
    """What the assessor said about one image (``authenticity_score`` None = abstained)."""

    row: ManifestRow
    authenticity_score: float | None
    abstention: str | None
    band: str
    action: str
    detectors: dict[str, float | None] = field(default_factory=dict)
    elapsed_ms: float = 0.0
    error: str | None = None

    @property
    def attack_score(self) -> float | None:
        """``100 - authenticity_score``: higher = more likely fake."""
        return None if self.authenticity_score is None else 100.0 - self.authenticity_score

    @property
    def scored(self) -> bool:
        """Whether the image got a score (no abstention, no error)."""
        return self.authenticity_score is not None


@dataclass(frozen=True)
class ScoringRun:
    """All images of one pass, with the wall-clock time of the pass."""

    images: list[ScoredImage]
    wall_seconds: float
    transform: str = "clean"


def score_image(assessor: Assessor, row: ManifestRow, data: bytes, flow: str) -> ScoredImage:
    """Judge one image's bytes as ``faceverdict scan`` does, timing the whole call."""
    started = time.perf_counter()
    try:
        assessment = assessor.assess(data, flow, ClientSignals())
    except CaptureRejected as exc:
        elapsed = (time.perf_counter() - started) * 1000.0
        action = assessor.flow(flow).abstentions.get(exc.abstention)
        return ScoredImage(
            row=row,
            authenticity_score=None,
            abstention=exc.abstention.value,
            band="abstained",
            action=action.value if action else "review",
            elapsed_ms=elapsed,
            error=exc.detail,
        )
    elapsed = (time.perf_counter() - started) * 1000.0
    judgement, outcome = assessment.judgement, assessment.outcome
    return ScoredImage(
        row=row,
        authenticity_score=judgement.authenticity_score,
        abstention=judgement.abstention.value if judgement.abstention else None,
        band=outcome.band,
        action=outcome.action.value,
        detectors={r.detector: r.fake_probability for r in judgement.results},
        elapsed_ms=elapsed,
    )


def score_rows(
    assessor: Assessor,
    rows: Sequence[ManifestRow],
    root: Path,
    flow: str,
    *,
    transform: tuple[str, Transform] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ScoringRun:
    """Judge every row's image (after ``transform``, if given), one at a time."""
    images: list[ScoredImage] = []
    started = time.perf_counter()
    for done, row in enumerate(rows, start=1):
        data = (root / row.relpath).read_bytes()
        try:
            if transform is not None:
                data = transform[1](data)
        except (OSError, ValueError, Image.DecompressionBombError) as exc:
            failed = f"transform {transform[0] if transform else ''} failed: {exc}"
            images.append(ScoredImage(row, None, "corrupted", "abstained", "review", error=failed))
        else:
            images.append(score_image(assessor, row, data, flow))
        if progress is not None:
            progress(done, len(rows))
    return ScoringRun(
        images=images,
        wall_seconds=time.perf_counter() - started,
        transform="clean" if transform is None else transform[0],
    )


def warm_up(assessor: Assessor, rows: Sequence[ManifestRow], root: Path, flow: str) -> None:
    """Judge the first image once, untimed, so that lazy model loading is not measured."""
    if rows:
        score_image(assessor, rows[0], (root / rows[0].relpath).read_bytes(), flow)


def _load_rgb(data: bytes) -> Image.Image:
    with Image.open(io.BytesIO(data)) as image:
        oriented = ImageOps.exif_transpose(image)
        return oriented.convert("RGB")


def _encode(image: Image.Image, fmt: str, **options: int) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **options)
    return out.getvalue()


def jpeg(quality: int) -> Transform:
    """Re-encode as a baseline JPEG at ``quality`` (orientation applied, metadata dropped)."""

    def apply(data: bytes) -> bytes:
        return _encode(_load_rgb(data), "JPEG", quality=quality)

    return apply


def _resized(image: Image.Image, factor: float) -> Image.Image:
    size = (max(1, round(image.width * factor)), max(1, round(image.height * factor)))
    return image.resize(size, Image.Resampling.BILINEAR)


def resize(factor: float) -> Transform:
    """Bilinear resize by ``factor``, stored losslessly (PNG) so only the resize acts."""

    def apply(data: bytes) -> bytes:
        return _encode(_resized(_load_rgb(data), factor), "PNG", compress_level=1)

    return apply


def chain(factor: float, qualities: Sequence[int]) -> Transform:
    """A messaging-app style chain: resize by ``factor``, then JPEG at each quality in turn."""

    def apply(data: bytes) -> bytes:
        image = _resized(_load_rgb(data), factor)
        encoded = _encode(image, "PNG", compress_level=1)
        for quality in qualities:
            encoded = _encode(_load_rgb(encoded), "JPEG", quality=quality)
        return encoded

    return apply


TRANSFORMS: dict[str, tuple[str, Transform]] = {
    "jpeg90": ("JPEG re-encode, quality 90", jpeg(90)),
    "jpeg75": ("JPEG re-encode, quality 75", jpeg(75)),
    "jpeg60": ("JPEG re-encode, quality 60", jpeg(60)),
    "resize50": ("bilinear resize to half size (PNG)", resize(0.5)),
    "chain": ("resize 0.75 -> JPEG 80 -> JPEG 70", chain(0.75, (80, 70))),
}


@dataclass(frozen=True)
class Latency:
    """Per-image timing of one pass."""

    count: int
    mean_ms: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    throughput_per_s: float


def latency(elapsed_ms: Sequence[float], wall_seconds: float) -> Latency:
    """Latency percentiles of ``elapsed_ms`` and throughput over ``wall_seconds``."""
    values = sorted(elapsed_ms)
    if not values:
        return Latency(0, math.nan, math.nan, math.nan, math.nan, math.nan, math.nan)

    def pct(q: float) -> float:
        position = q * (len(values) - 1)
        low = math.floor(position)
        high = min(low + 1, len(values) - 1)
        return values[low] + (values[high] - values[low]) * (position - low)

    return Latency(
        count=len(values),
        mean_ms=sum(values) / len(values),
        p50_ms=pct(0.5),
        p90_ms=pct(0.9),
        p99_ms=pct(0.99),
        max_ms=values[-1],
        throughput_per_s=len(values) / wall_seconds if wall_seconds > 0 else math.nan,
    )


@dataclass(frozen=True)
class EvaluationOptions:
    """What to evaluate and how (the ``faceverdict eval`` options)."""

    manifest: Path
    root: Path
    split: str = "validation"
    validation_fraction: float = 0.2
    seed: int = 0
    limit: int | None = None
    flow: str = "onboarding"
    robustness: bool = True
    ensemble: str = "inline"


@dataclass(frozen=True)
class Evaluation:
    """The scored passes of one evaluation: clean, then one per robustness transform."""

    options: EvaluationOptions
    rows: list[ManifestRow]
    manifest_rows: int
    clean: ScoringRun
    transformed: list[ScoringRun]
    demographics: dict[str, dict[str, dict[str, str]]]


def prepare(options: EvaluationOptions) -> tuple[list[ManifestRow], int]:
    """The rows to evaluate and the manifest's size; ManifestError when they cannot be used."""
    if not options.root.is_dir():
        raise ManifestError(f"image root {options.root} is not a directory")
    rows = read_manifest(options.manifest)
    chosen = select_rows(
        rows,
        split=options.split,
        validation_fraction=options.validation_fraction,
        seed=options.seed,
        limit=options.limit,
    )
    if not chosen:
        raise ManifestError("no image selected (empty validation split?)")
    missing = missing_files(chosen, options.root)
    if missing:
        raise ManifestError(
            f"{len(missing)} image(s) of the manifest are missing under {options.root} "
            f"(first: {missing[0]})"
        )
    return chosen, len(rows)


def evaluate(
    assessor: Assessor,
    options: EvaluationOptions,
    rows: list[ManifestRow],
    manifest_rows: int,
    progress: Callable[[str, int, int], None] | None = None,
) -> Evaluation:
    """Judge ``rows`` clean and, if asked, after every robustness transform."""

    def report(name: str) -> Callable[[int, int], None] | None:
        if progress is None:
            return None
        return lambda done, total: progress(name, done, total)

    warm_up(assessor, rows, options.root, options.flow)
    clean = score_rows(assessor, rows, options.root, options.flow, progress=report("clean"))
    transformed = []
    if options.robustness:
        for name, (_, function) in TRANSFORMS.items():
            transformed.append(
                score_rows(
                    assessor,
                    rows,
                    options.root,
                    options.flow,
                    transform=(name, function),
                    progress=report(name),
                )
            )
    return Evaluation(
        options=options,
        rows=rows,
        manifest_rows=manifest_rows,
        clean=clean,
        transformed=transformed,
        demographics=read_demographics(options.manifest),
    )

"""``faceverdict eval``: the evaluation report on a labelled manifest (docs/evaluation.md)."""

from __future__ import annotations

from pathlib import Path

import click

from faceverdict.entrypoints.cli_support import fail
from faceverdict.errors import FaceverdictError


@click.command("eval")
@click.option("--manifest", required=True, type=click.Path(path_type=Path), help="manifest CSV")
@click.option("--root", required=True, type=click.Path(path_type=Path), help="folder of relpaths")
@click.option(
    "--out", default=Path("eval-report"), type=click.Path(path_type=Path), show_default=True
)
@click.option(
    "--split",
    "split",
    type=click.Choice(["validation", "all"]),
    default="validation",
    show_default=True,
)
@click.option(
    "--validation-fraction", default=0.2, type=click.FloatRange(0.0, 1.0), show_default=True
)
@click.option("--seed", default=0, type=int, show_default=True, help="split and sampling seed")
@click.option(
    "--limit", default=None, type=click.IntRange(min=1), help="at most N images per family"
)
@click.option("--flow", default="onboarding", show_default=True, help="policy flow to apply")
@click.option(
    "--robustness/--no-robustness", default=True, show_default=True, help="re-encoded passes"
)
@click.option(
    "--ensemble",
    type=click.Choice(["inline", "assurance"]),
    default="inline",
    show_default=True,
    help="detectors to judge with: the inline path, or the heavier asynchronous one",
)
def eval_command(
    manifest: Path,
    root: Path,
    out: Path,
    split: str,
    validation_fraction: float,
    seed: int,
    limit: int | None,
    flow: str,
    robustness: bool,
    ensemble: str,
) -> None:
    """Evaluate detectors and policy on a labelled manifest; writes report.json/.md and plots."""
    from datetime import UTC, datetime

    from faceverdict.config import load_settings
    from faceverdict.evaluation.report import write_report
    from faceverdict.evaluation.report_json import build_report
    from faceverdict.evaluation.runner import (
        TRANSFORMS,
        EvaluationOptions,
        ManifestError,
        evaluate,
        prepare,
    )
    from faceverdict.wiring.bootstrap import build_assessor

    if not manifest.is_file():
        fail(f"no such manifest: {manifest}")
    if not root.is_dir():
        fail(f"no such image folder: {root}")
    options = EvaluationOptions(
        manifest=manifest,
        root=root,
        split=split,
        validation_fraction=validation_fraction,
        seed=seed,
        limit=limit,
        flow=flow,
        robustness=robustness,
        ensemble=ensemble,
    )
    try:
        rows, manifest_rows = prepare(options)
        assessor = build_assessor(load_settings(), assurance=ensemble == "assurance")
        flow_policy = assessor.flow(flow)
    except ManifestError as exc:
        fail(str(exc))
    except FaceverdictError as exc:
        fail(exc.detail)
    passes = 1 + (len(TRANSFORMS) if robustness else 0)
    click.echo(
        f"evaluating {len(rows)} images x {passes} pass(es), flow {flow}, {ensemble} ensemble",
        err=True,
    )

    def progress(name: str, done: int, total: int) -> None:
        if done == total or done % 200 == 0:
            click.echo(f"  {name}: {done}/{total}", err=True)

    result = evaluate(assessor, options, rows, manifest_rows, progress)
    report = build_report(
        result,
        flow_policy,
        assessor.policy.version,
        assessor.ensemble.model_versions,
        datetime.now(UTC).isoformat(timespec="seconds"),
    )
    bands = [b.min_score for b in flow_policy.bands]
    written = write_report(report, result.clean.images, bands, out)
    latency = report["latency"]["all"]
    click.echo(
        f"pooled AUC {report['pooled']['auc']}, p50 {latency['p50_ms']} ms/image; "
        f"wrote {', '.join(str(p) for p in written)}"
    )

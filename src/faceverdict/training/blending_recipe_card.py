"""The "Recipe" section of the blending model card: commands, options and each run's training.

For a seed ensemble (``--ensemble-of``) it gives the members' shared recipe once and then one
subsection per run (seed, steps, checkpoint, replay, held-out passes).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from faceverdict.training.blending_args import parse_args
from faceverdict.training.blending_ensemble import Member, ensemble_command, member_command
from faceverdict.training.blending_history import History


def recipe_lines(
    args: argparse.Namespace,
    argv: list[str],
    counts: dict[str, Any],
    history: History,
    export: dict[str, Any],
    members: Sequence[Member],
) -> list[str]:
    """The card's "Recipe" section: the command(s), the options and each run's training."""
    lines: list[str] = ["## Recipe", ""]
    add = lines.append
    if members:
        add(
            f"A **seed ensemble**: {len(members)} runs of one recipe that differ only in "
            "`--seed`, joined into one ONNX graph that averages their fake logits and boundary "
            "maps (`training.blending_ensemble`): the detector's input and outputs are those of "
            "one model. The members' frozen stem and first blocks are the same ImageNet layers "
            "and run once; the rest runs per member. Seeds alone move a "
            'photoshop family by up to 0.15 AUC (see "Why these weights"); averaging them '
            "removes part of that run-to-run variance without choosing between runs. "
            "`make train-blending` runs:"
        )
        add("")
    add("```")
    if members:
        add(member_command(members))
        add(ensemble_command(members))
    else:
        add("python -m faceverdict.training.blending " + " ".join(argv))
    add("```")
    add("")
    skip = {"out", "card", "work", "cache", "dataset", "metrics_only", "limit", "ensemble_of"}
    skip |= {"seed", "threads"} if members else set()
    options = ", ".join(f"{k}={v}" for k, v in sorted(vars(args).items()) if k not in skip)
    add(f"Effective options{' (every run)' if members else ''}: {options}.")
    add("")
    add(
        f"- batch {args.batch} ({args.batch // 2} real + {args.batch // 2} self-blend pairs); "
        f"AdamW lr {args.lr:g} (heads ×5), weight decay 1e-4, warm-up + cosine; loss BCE(logit) "
        f"+ {args.map_weight:g} × BCE(boundary map, max-pooled 4·M·(1−M) per 16-px cell; "
        f"zeros for reals)"
    )
    add(
        f"- sampling: one real/self-blend pair per face; no real family fills more than "
        f"{args.family_cap:.0%} of an epoch (UTKFace, 72 % of the reals, is subsampled afresh "
        f"each epoch)"
    )
    add(
        "- augmentation of both classes: mirror, zoom 0.93–1.07, shift ±4 %, rotation ±25° with "
        "black fill (15 %), brightness/contrast, hue/saturation, greyscale (5 %), down/up-scaling "
        "×0.35–0.9 (30 %), blur, JPEG q 40–95 (70 %, twice 20 % of those)"
    )
    runs = [
        (parse_args(m.argv), History(**m.run["history"]), m.run["export"]["device"], m.sha256)
        for m in members
    ] or [(args, history, export["device"], "")]
    for run_args, run, device, sha in runs:
        add("")
        if members:
            add(f"### Run with seed {run_args.seed}")
            add("")
            add(f"Weights of this run alone: sha256 `{sha}`.")
            add("")
        lines += run_lines(run_args, counts, run, device)
    add("")
    return lines


def run_lines(
    args: argparse.Namespace, counts: dict[str, Any], history: History, device: str
) -> list[str]:
    """One training run: seed, steps, checkpoint, how to replay it, its held-out passes."""
    lines: list[str] = []
    add = lines.append
    checkpoint_faces = (
        "validation faces"
        if args.checkpoint_faces == "validation"
        else "faces of the train-internal hold-out (10 % of the training groups, not trained on)"
    )
    add(f"- seed {args.seed}; device {device}; {args.threads} CPU thread(s)")
    add(
        f"- steps: {history.steps_done} ({history.epochs:.2f} epochs; {history.plan_reason}); "
        f"{history.steps_done * args.batch} images seen; {history.seconds / 60:.1f} min "
        "training wall time" + ("; stopped by --max-minutes" if history.stopped_early else "")
    )
    add(
        f"- checkpoint: step {history.best_step}, lowest classification loss on held-out "
        f"self-blends of {counts['val_sbi_faces']} {checkpoint_faces} ({history.best_loss:.4f})"
    )
    replay = f"--schedule {history.schedule}"
    if history.steps_done < history.planned_steps:
        replay += f" --stop-step {history.steps_done}"
    add(
        f"- to replay the run's step plan: the same command with `{replay}` (the time-based "
        "plan depends on the machine's speed and load). CPU training is reproducible in "
        "distribution, not bit for bit: a rerun of a seed on another day gives other weights "
        "of the same held-out quality"
    )
    add("")
    add(f"Passes on the checkpoint self-blends during training ({checkpoint_faces}):")
    add("")
    add("| step | minutes | held-out cls loss | held-out map loss | held-out SBI AUC |")
    add("|---|---|---|---|---|")
    for e in history.evals:
        add(
            f"| {int(e['step'])} | {e['minutes']:.1f} | {e['val_cls_loss']:.4f} | "
            f"{e['val_map_loss']:.4f} | {e['val_sbi_auc']:.4f} |"
        )
    return lines

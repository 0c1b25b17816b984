"""Trains the synthetic-image detector (``models/synthetic_v1.onnx``) and writes its model card.

Usage::

    python -m faceverdict.training.synthetic [--epochs N] [--device auto] [--seed 0]
        [--licence TEXT ...] [--include-eval-only] [--threads 1] [--max-minutes M]

Data: the face-crop cache index (``faceverdict.training.crops``; face boxes from the inline
decode and capture gate) and the original files of ``faces-dev``. Only rows where
``evaluation.split.is_validation`` is False are trained on; 10 % of their groups (another
hash seed) are held out to choose the checkpoint by loss. The validation split is touched
once, after training, to write the model card. Rows whose licence says "eval only" are not
trained on unless ``--include-eval-only`` is given; photoshopped faces are not synthetic and
are never trained on (both are still reported).

Every sample goes through the same pipeline whatever its class, so the source of an image
cannot give its label away: mirror, rotation with black fill, resize by 0.5-1.5x with a
random filter, blur, greyscale, JPEG q60-100 (sometimes twice), then the detector's own
``face_patch`` at the resulting resolution. Sampling balances the fake families, gives the
real half of the paired source (FFHQ beside StyleGAN) the share of its fakes, spreads a
quarter over the other real sources by the square root of their size, and gives real faces
of 250 px and more as much weight as the fakes of their size bin (250-420, 420+): only
diffusion fakes are that large here, and resolution must not give the class away. The loss
weighs fakes so that both classes count equally.

The same command scales from a short CPU run to a GPU run (``--device auto`` picks CUDA,
``--epochs``/``--samples-per-epoch`` set the length). ``--max-minutes`` is a safety stop:
the schedule is fixed by the epochs, so a run stopped early keeps its best checkpoint but
is not the reproducible run.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812

from faceverdict.detectors.model_files import MODELS_DIR, sha256_file
from faceverdict.detectors.synthetic import (
    MODEL_NAME,
    PATCH_SIZE,
)
from faceverdict.evaluation.metrics import roc_auc
from faceverdict.evaluation.split import is_validation
from faceverdict.training.data import DEFAULT_CACHE
from faceverdict.training.synthetic_card_text import STATIC_SECTIONS
from faceverdict.training.synthetic_data import (
    Item,
    load_window,
    read_index,
    sampling_weights,
    training_side,
)
from faceverdict.training.synthetic_net import ResidualNet, pick_device, predict
from faceverdict.training.synthetic_report import (
    MODEL_FILE,
    evaluate,
    latency_ms,
    metrics,
    write_card,
)
from faceverdict.training.synthetic_samples import (
    Samples,
    balanced_loss,
    half_size_tune_set,
    simulated_slots,
    tune_set,
    unseen_generator_probe,
)

REPO = Path(__file__).resolve().parents[3]
DEFAULT_ROOT = REPO.parent / "shared" / "datasets" / "faces-dev"
CARD = REPO / "docs" / "models" / "synthetic.md"
# The tune hold-out's augmented copies are drawn with this seed whatever the training seed, so
# that the keep-rule compares runs of different seeds on the same images (before 2026-12-07
# they followed --seed, and tune losses of different seeds were not comparable).
TUNE_AUGMENT_SEED = 0


# --- training --------------------------------------------------------------------------------


@dataclass
class Options:
    """Command-line options."""

    epochs: int
    samples_per_epoch: int
    batch_size: int
    lr: float
    seed: int
    device: str
    threads: int
    workers: int
    max_minutes: float
    licences: list[str] | None
    include_eval_only: bool
    cache: Path
    root: Path
    models_dir: Path
    card: Path
    eval_limit: int | None = None
    rgb: bool = False
    spectrum: bool = False
    rewrite_card: bool = False
    simulated_fakes: float = 0.0
    downscale_share: float = 0.0


@dataclass
class History:
    """What happened during training, for the model card."""

    epochs_run: int = 0
    best_epoch: int = 0
    best_loss: float = math.inf
    minutes: float = 0.0
    stopped_early: bool = False
    log: list[dict[str, float]] = field(default_factory=list)


def train(
    options: Options, train_items: list[Item], tune_items: list[Item], log: Callable[[str], None]
) -> tuple[ResidualNet, History]:
    """Train, keeping the weights with the lowest class-balanced loss on the tune hold-out."""
    device = pick_device(options.device)
    torch.manual_seed(options.seed)
    model = ResidualNet(rgb=options.rgb, spectrum=options.spectrum).to(device)
    weights = sampling_weights(train_items)
    fake_mass = float(sum(w for w, i in zip(weights, train_items, strict=True) if i.fake))
    pos_weight = torch.tensor([(1.0 - fake_mass) / fake_mass], device=device)
    x_tune, y_tune, w_tune = tune_set(tune_items, TUNE_AUGMENT_SEED)
    steps_per_epoch = math.ceil(options.samples_per_epoch / options.batch_size)
    total = steps_per_epoch * options.epochs
    optimiser = torch.optim.AdamW(model.parameters(), lr=options.lr, weight_decay=0.05)
    warmup = min(steps_per_epoch, total // 10)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimiser,
        lambda s: (
            (s + 1) / warmup
            if s < warmup
            else 0.5 * (1 + math.cos(math.pi * (s - warmup) / max(1, total - warmup)))
        ),
    )
    history = History()
    best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    started = time.time()
    sampler_rng = np.random.default_rng([options.seed, 12345])
    for epoch in range(options.epochs):
        indices = sampler_rng.choice(len(train_items), size=options.samples_per_epoch, p=weights)
        simulated = simulated_slots(
            train_items, indices, weights, options.simulated_fakes, sampler_rng
        )
        loader = torch.utils.data.DataLoader(
            Samples(train_items, indices, options.seed, epoch, simulated, options.downscale_share),
            batch_size=options.batch_size,
            shuffle=False,
            num_workers=options.workers,
            drop_last=True,
        )
        model.train()
        losses = []
        for x, y in loader:
            logits = model(x.to(device, non_blocking=True))
            loss = F.binary_cross_entropy_with_logits(logits, y.to(device), pos_weight=pos_weight)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            scheduler.step()
            losses.append(loss.item())
        logits_tune = predict(model, x_tune, device)
        tune_loss = float(F.binary_cross_entropy_with_logits(logits_tune, y_tune, weight=w_tune))
        tune_auc = roc_auc(y_tune.numpy().ravel(), logits_tune.numpy().ravel())
        minutes = (time.time() - started) / 60
        history.log.append(
            {
                "epoch": epoch + 1,
                "train_loss": float(np.mean(losses)),
                "tune_loss": tune_loss,
                "tune_auc": tune_auc,
                "minutes": minutes,
            }
        )
        history.epochs_run = epoch + 1
        if tune_loss < history.best_loss:
            history.best_loss, history.best_epoch = tune_loss, epoch + 1
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        log(
            f"epoch {epoch + 1}/{options.epochs} train loss {np.mean(losses):.4f} "
            f"tune loss {tune_loss:.4f} AUC {tune_auc:.4f} lr {scheduler.get_last_lr()[0]:.2e} "
            f"{minutes:.1f} min{' *' if history.best_epoch == epoch + 1 else ''}"
        )
        if minutes > options.max_minutes and epoch + 1 < options.epochs:
            history.stopped_early = True
            log(f"stopping: {options.max_minutes} minutes spent")
            break
    history.minutes = (time.time() - started) / 60
    model.load_state_dict(best_state)
    return model.cpu().eval(), history


# --- export ----------------------------------------------------------------------------------


def export(
    model: ResidualNet, models_dir: Path, options: Options, history: History, sources: str
) -> str:
    """Write the ONNX file, check it against torch and update the manifest; returns sha256."""
    import onnxruntime as ort

    path = models_dir / MODEL_FILE
    model = model.cpu().eval()
    dummy = torch.zeros(2, 3, PATCH_SIZE, PATCH_SIZE)
    torch.onnx.export(
        model,
        (dummy,),
        str(path),
        input_names=["pixels"],
        output_names=["fake_logit"],
        dynamic_axes={"pixels": {0: "batch"}, "fake_logit": {0: "batch"}},
        opset_version=17,
        dynamo=False,
    )
    rng = np.random.default_rng(0)
    probe = rng.integers(0, 256, size=(4, 3, PATCH_SIZE, PATCH_SIZE)).astype(np.float32)
    with torch.no_grad():
        expected = model(torch.from_numpy(probe)).numpy()
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {"pixels": probe})[0]
    diff = float(np.abs(got - expected).max())
    if diff >= 1e-4:
        raise RuntimeError(f"ONNX and torch disagree by {diff}")
    digest = sha256_file(path)
    manifest_path = models_dir / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest[MODEL_NAME] = {
        "file": MODEL_FILE,
        "sha256": digest,
        "licence": (
            "Trained from scratch in this repository (code Apache-2.0, no pretrained weights). "
            "The weights inherit the terms of their training data, which include non-commercial "
            "research data (FFHQ CC BY-NC-SA 4.0, UTKFace non-commercial research only, CIPLAB, "
            "sources without a stated licence): non-commercial research use only; retrain with "
            "--licence on cleared data for other uses. Training sources: " + sources
        ),
        "source": (
            "faceverdict.training.synthetic (seed "
            f"{options.seed}, {history.epochs_run} epochs x {options.samples_per_epoch} samples, "
            f"best epoch {history.best_epoch}); model card docs/models/synthetic.md; "
            f"ONNX vs torch max abs diff {diff:.1e}"
        ),
    }
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
    return digest


# --- command ---------------------------------------------------------------------------------


def parse(argv: Sequence[str] | None = None) -> Options:
    """Parse the command line."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--epochs", type=int, default=18)
    parser.add_argument("--samples-per-epoch", type=int, default=2048)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--workers", type=int, default=0, help="data-loading processes")
    parser.add_argument("--max-minutes", type=float, default=40.0, help="safety stop for training")
    parser.add_argument(
        "--licence",
        action="append",
        default=None,
        help="train only on rows whose licence contains TEXT (repeatable)",
    )
    parser.add_argument(
        "--include-eval-only", action="store_true", help="also train on sources marked 'eval only'"
    )
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT)
    parser.add_argument("--models-dir", type=Path, default=MODELS_DIR)
    parser.add_argument("--card", type=Path, default=CARD)
    parser.add_argument(
        "--eval-limit", type=int, default=None, help="smoke tests: evaluate N images"
    )
    parser.add_argument("--rgb", action="store_true", help="also feed the RGB patch to the CNN")
    parser.add_argument(
        "--spectrum",
        action="store_true",
        help="add the residual-spectrum branch (measured worse on the tune groups: see the card)",
    )
    parser.add_argument(
        "--rewrite-card", action="store_true", help="only rewrite the card from its saved JSON"
    )
    parser.add_argument(
        "--simulated-fakes",
        type=float,
        default=0.0,
        help="share of fake slots filled by real faces through a simulated upsampler (0-1)",
    )
    parser.add_argument(
        "--downscale-share",
        type=float,
        default=0.0,
        help="share of samples (both classes) shrunk to 0.45-0.75x instead of the usual resize",
    )
    a = parser.parse_args(argv)
    return Options(
        epochs=a.epochs,
        samples_per_epoch=a.samples_per_epoch,
        batch_size=a.batch_size,
        lr=a.lr,
        seed=a.seed,
        device=a.device,
        threads=a.threads,
        workers=a.workers,
        max_minutes=a.max_minutes,
        licences=a.licence,
        include_eval_only=a.include_eval_only,
        cache=a.cache,
        root=a.root,
        models_dir=a.models_dir,
        card=a.card,
        eval_limit=a.eval_limit,
        rgb=a.rgb,
        spectrum=a.spectrum,
        rewrite_card=a.rewrite_card,
        simulated_fakes=a.simulated_fakes,
        downscale_share=a.downscale_share,
    )


def main(argv: Sequence[str] | None = None) -> None:
    """Command-line entry: load, train, export, evaluate, write the card."""
    options = parse(argv)
    torch.set_num_threads(options.threads)
    t0 = time.time()
    if options.rewrite_card:
        saved = json.loads(options.card.with_suffix(".json").read_text())
        write_card(options.card, {**saved, "static": STATIC_SECTIONS})
        return

    def log(message: str) -> None:
        print(f"[{(time.time() - t0) / 60:5.1f} min] {message}", flush=True)

    items = read_index(options.cache)
    validation = [i for i in items if is_validation(i.split_row)]
    if options.eval_limit:
        validation = validation[:: max(1, len(validation) // options.eval_limit)]
    side = training_side(items, options.licences, options.include_eval_only)
    candidates, usable, probes = side.candidates, side.usable, side.probes
    train_items, tune_items = side.train, side.tune
    if not any(i.fake for i in train_items) or all(i.fake for i in train_items):
        raise SystemExit("the selected rows do not contain both real and fake images")
    log(
        f"{len(train_items)} train, {len(tune_items)} tune, {len(probes)} unseen-generator "
        f"probe, {len(validation)} validation images"
    )
    for item in train_items + tune_items + probes:
        load_window(item, options.root)
    log("windows decoded")
    model, history = train(options, train_items, tune_items, log)

    def scores(x: torch.Tensor) -> torch.Tensor:
        return predict(model, x, torch.device("cpu"))

    probe = unseen_generator_probe(scores, probes, tune_items) if probes else {}
    log(f"unseen-generator probe (training-side images, AUC vs tune reals): {probe}")
    half_loss = balanced_loss(scores, *half_size_tune_set(tune_items))
    log(f"tune loss at half size (the tune images as resize50 leaves them): {half_loss:.4f}")
    options.models_dir.mkdir(parents=True, exist_ok=True)
    sources = "; ".join(sorted({f"{i.family}: {i.license}" for i in train_items}))
    digest = export(model, options.models_dir, options, history, sources)
    log(f"exported {MODEL_FILE} sha256 {digest}")
    scored = evaluate(validation, options.root, options.models_dir, log)
    result = metrics(scored)
    onnx_diff = json.loads((options.models_dir / "manifest.json").read_text())[MODEL_NAME][
        "source"
    ].rsplit(" ", 1)[-1]
    trained_families = {i.family for i in train_items}
    counts = []
    keys = sorted({(i.family, i.source, i.license) for i in items})
    for family, source, licence in keys:
        same = [i for i in items if (i.family, i.source) == (family, source)]
        counts.append(
            {
                "family": family,
                "source": source,
                "license": licence,
                "train": sum(i in train_items for i in same),
                "tune": sum(i in tune_items for i in same),
                "validation": sum(is_validation(i.split_row) for i in same),
            }
        )
    excluded = sorted({i.family for i in candidates if i not in usable})
    argv_text = " ".join(argv) if argv is not None else " ".join(__import__("sys").argv[1:])
    ctx = {
        "metrics": result,
        "sha256": digest,
        "size_kb": (options.models_dir / MODEL_FILE).stat().st_size / 1024,
        "params": sum(p.numel() for p in model.parameters()),
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "latency": latency_ms(options.models_dir),
        "onnx_diff": onnx_diff,
        "root_name": options.root.name,
        "counts": counts,
        "excluded": ", ".join(excluded) or "nothing",
        "held_out_families": sorted({i.family for i in validation if i.fake} - trained_families),
        "command": f"python -m faceverdict.training.synthetic {argv_text}".strip(),
        "seed": options.seed,
        "epochs": options.epochs,
        "samples_per_epoch": options.samples_per_epoch,
        "batch_size": options.batch_size,
        "lr": options.lr,
        "best_epoch": history.best_epoch,
        "best_loss": history.best_loss,
        "minutes": history.minutes,
        "device": str(pick_device(options.device)),
        "threads": options.threads,
        "stopped_early": history.stopped_early,
        "spectrum": options.spectrum,
        "simulated_fakes": options.simulated_fakes,
        "unseen_probe": probe,
        "downscale_share": options.downscale_share,
        "half_size_tune_loss": half_loss,
        "log": history.log,
        "static": STATIC_SECTIONS,
    }
    write_card(options.card, ctx)
    (options.card.with_suffix(".json")).write_text(
        json.dumps({k: v for k, v in ctx.items() if k != "static"}, indent=1, default=str)
    )
    log(f"model card written to {options.card}")


if __name__ == "__main__":
    main()

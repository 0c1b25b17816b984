"""Command-line options of the blending recipe (``python -m faceverdict.training.blending``)."""

from __future__ import annotations

import argparse
from pathlib import Path

from faceverdict.detectors.blending import CROP_MARGIN, INPUT_SIZE
from faceverdict.detectors.model_files import MODELS_DIR
from faceverdict.training.data import DEFAULT_CACHE

REPO = Path(__file__).resolve().parents[3]
DEFAULT_CARD = REPO / "docs" / "models" / "blending.md"
DEFAULT_WORK = DEFAULT_CACHE / "runs" / "blending"
DEFAULT_DATASET = REPO.parent / "shared" / "datasets" / "faces-dev"


def parse_args(argv: list[str] | None, description: str | None = None) -> argparse.Namespace:
    """Command-line options; ``description`` is the recipe's docstring for ``--help``."""
    parser = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--epochs", type=int, default=30, help="most passes over the real faces (time permitting)"
    )
    parser.add_argument("--steps", type=int, default=0, help="fix the number of steps")
    parser.add_argument("--schedule", default="", help="replay a run's plan: STEP:TOTAL,...")
    parser.add_argument(
        "--freeze-blocks", type=int, default=3, help="freeze the stem and this many blocks"
    )
    parser.add_argument("--max-minutes", type=float, default=40.0)
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--workers", type=int, default=0, help="data generation processes")
    parser.add_argument("--licence", nargs="*", default=None, help="keep only these licences")
    parser.add_argument("--out", type=Path, default=MODELS_DIR, help="folder of the ONNX file")
    parser.add_argument("--card", type=Path, default=DEFAULT_CARD)
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK, help="checkpoints and logs")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--dataset", type=Path, default=DEFAULT_DATASET, help="for LABELS.csv")
    parser.add_argument("--size", type=int, default=INPUT_SIZE)
    parser.add_argument("--margin", type=float, default=CROP_MARGIN)
    parser.add_argument("--batch", type=int, default=16, help="images per step (pairs x 2)")
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--map-weight", type=float, default=1.0)
    parser.add_argument(
        "--family-cap", type=float, default=0.5, help="largest share of one real family per epoch"
    )
    parser.add_argument("--extra-fakes", action="store_true", help="add train photoshop fakes")
    parser.add_argument("--extra-repeat", type=int, default=3, help="pairs per extra fake")
    parser.add_argument("--val-faces", type=int, default=300, help="faces for checkpointing")
    parser.add_argument(
        "--checkpoint-faces",
        choices=("tune", "validation"),
        default="tune",
        help="where the checkpointing faces come from: the train-internal hold-out (default) or "
        "the validation split (the recipe before 2026-12-07)",
    )
    parser.add_argument("--evals", type=int, default=5, help="validation passes per run")
    parser.add_argument("--probe-steps", type=int, default=20, help="steps timed to plan")
    parser.add_argument(
        "--metrics-only", action="store_true", help="re-measure the exported model, no training"
    )
    parser.add_argument("--stop-step", type=int, default=0, help="stop early at this step")
    parser.add_argument("--limit", type=int, default=0, help="debug: use only N train faces")
    parser.add_argument(
        "--ensemble-of",
        type=Path,
        nargs="+",
        default=[],
        metavar="RUN",
        help="no training: average the models of these finished runs (their --out/--work "
        "folder, with blending_v1.onnx and run.json) into one ONNX file, then measure and "
        "document it",
    )
    return parser.parse_args(argv)

"""What happened while the blending detector trained, for its run record and model card."""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass
class History:
    """What happened during training, for the model card."""

    log: list[dict[str, float]] = field(default_factory=list)
    evals: list[dict[str, float]] = field(default_factory=list)
    best_step: int = 0
    best_loss: float = math.inf
    steps_done: int = 0
    seconds: float = 0.0
    stopped_early: bool = False
    plan_reason: str = ""
    planned_steps: int = 0
    schedule: str = ""
    epochs: float = 0.0

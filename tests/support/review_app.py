"""The whole service with review, as `faceverdict serve` builds it, in a temporary folder."""

from __future__ import annotations

import io
import re
from importlib import resources
from pathlib import Path

from PIL import PngImagePlugin

from faceverdict.config import load_settings
from faceverdict.domain.check import Check
from faceverdict.domain.policy import ClientSignals
from faceverdict.entrypoints.demo import SD_PARAMETERS, DemoHeatmaps
from faceverdict.services.checks import SubmitCheck
from faceverdict.wiring.bootstrap import Application, bootstrap
from faceverdict.wiring.ensembles import build_ensemble
from tests.support.synthetic_faces import synthetic_face


def policy_with(tmp_path: Path, **review: float) -> Path:
    """The bundled policy with some ``[defaults.review]`` values replaced."""
    text = resources.files("faceverdict.policy").joinpath("default.toml").read_text()
    for key, value in review.items():
        text, n = re.subn(rf"(?m)^{key} = [^\n#]*", f"{key} = {value}", text, count=1)
        assert n == 1, f"{key} not in the bundled policy"
    path = tmp_path / "policy.toml"
    path.write_text(text, encoding="utf-8")
    return path


def full_application(tmp_path: Path, **review: float) -> Application:
    """Service + review over SQLite and local files; heatmaps from the demo illustration."""
    settings = load_settings(
        data_dir=tmp_path / "data", policy_file=policy_with(tmp_path, **review) if review else None
    )
    ensemble = build_ensemble(settings)
    ensemble.detectors.append(DemoHeatmaps([]))
    return bootstrap(settings, ensemble=ensemble)


def face(seed: int = 0, generated: bool = False) -> bytes:
    """A synthetic portrait: JPEG, or a PNG carrying Stable Diffusion parameters."""
    image = synthetic_face(size=(480, 600), seed=seed)
    out = io.BytesIO()
    if generated:
        info = PngImagePlugin.PngInfo()
        info.add_text("parameters", SD_PARAMETERS.format(seed=seed))
        image.save(out, format="PNG", pnginfo=info)
    else:
        image.save(out, format="JPEG", quality=90)
    return out.getvalue()


def submit(
    application: Application, image: bytes, flow: str, subject: str = "customer-1", **signals: float
) -> Check:
    """Submit a check the way the API does."""
    return application.checks.submit(
        SubmitCheck(image=image, subject_ref=subject, flow=flow, signals=ClientSignals(**signals))
    ).check

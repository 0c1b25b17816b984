"""A throw-away third-party detector module, and a registry that forgets it afterwards.

``PLUGIN_SOURCE`` is what a plug-in author writes: one detector whose factory takes the
``DetectorContext`` (``acme_probe``, learned) and one written the way factories were before
there was a context (``acme_legacy``, no argument, evidence).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from faceverdict.detectors import registry

PLUGIN_SOURCE = '''
from collections.abc import Mapping

from faceverdict.detectors.base import Sample
from faceverdict.detectors.registry import DetectorContext, register
from faceverdict.domain.detection import DetectorInfo, DetectorKind, DetectorResult


class Probe:
    """Says the probability its ``p`` option names (0.5, no evidence, by default)."""

    def __init__(self, name: str, options: Mapping[str, str]) -> None:
        self.info = DetectorInfo(name=name, version="acme-1", description="a test plug-in")
        self.options = options
        self.probability = float(options.get("p", "0.5"))

    def analyse(self, sample: Sample) -> DetectorResult:
        return DetectorResult(self.info.name, self.info.version, self.probability)


@register("acme_probe", kind=DetectorKind.INLINE, calibrated=True)
def make_probe(context: DetectorContext) -> Probe:
    return Probe("acme_probe", context.options)


@register("acme_legacy")
def make_legacy() -> Probe:
    return Probe("acme_legacy", {})
'''


def write_plugin(folder: Path, module: str, source: str = PLUGIN_SOURCE) -> Path:
    """Write ``source`` as ``folder/<module>.py`` (put ``folder`` on sys.path to import it)."""
    path = folder / f"{module}.py"
    path.write_text(source)
    return path


@contextmanager
def isolated_registry(*modules: str) -> Iterator[None]:
    """Registrations made inside are forgotten on exit, and so are the named ``modules``
    (so that importing them again registers again)."""
    registry.load_builtins()
    saved = dict(registry._REGISTRY)
    try:
        yield
    finally:
        registry._REGISTRY.clear()
        registry._REGISTRY.update(saved)
        for module in modules:
            sys.modules.pop(module, None)

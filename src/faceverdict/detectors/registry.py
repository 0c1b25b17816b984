"""Detector registry: a decorator and a dict, failing loudly on unknown or duplicate names."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from faceverdict.detectors.base import Detector
from faceverdict.domain.detection import DetectorKind

DetectorFactory = Callable[[], Detector]


@dataclass(frozen=True)
class Registration:
    """A registered detector: its name, where it runs, and how to build it."""

    name: str
    kind: DetectorKind
    factory: DetectorFactory


_REGISTRY: dict[str, Registration] = {}


class UnknownDetector(KeyError):
    """No detector is registered under that name."""


def register(
    name: str, kind: DetectorKind = DetectorKind.INLINE
) -> Callable[[DetectorFactory], DetectorFactory]:
    """Register ``factory`` under ``name``; registering a name twice is an error."""

    def decorator(factory: DetectorFactory) -> DetectorFactory:
        if name in _REGISTRY:
            raise ValueError(f"detector {name!r} is already registered")
        _REGISTRY[name] = Registration(name=name, kind=kind, factory=factory)
        return factory

    return decorator


def list_detectors(kind: DetectorKind | None = None) -> list[str]:
    """Names of the registered detectors, optionally only those of one kind, sorted."""
    _load_builtin()
    return sorted(n for n, r in _REGISTRY.items() if kind is None or r.kind is kind)


def create_detector(name: str) -> Detector:
    """Build the detector registered as ``name``."""
    _load_builtin()
    try:
        registration = _REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY)) or "none"
        raise UnknownDetector(f"unknown detector {name!r} (known: {known})") from None
    return registration.factory()


def _load_builtin() -> None:
    # Importing the modules runs their @register decorators.
    from faceverdict.detectors import builtin  # noqa: F401

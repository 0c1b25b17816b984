"""Detector registry: a decorator and a dict, failing loudly on unknown or duplicate names.

A detector module registers a *factory* under a name::

    @register("blending", calibrated=True)            # learned: the fusion calibrates it
    def create_blending_detector() -> BlendingDetector: ...

    @register("provenance", calibrated=False)         # evidence (also the default)
    def create_provenance_detector(context: DetectorContext) -> ProvenanceDetector: ...

A factory either takes no required argument (called as ``factory()``) or declares a
parameter named ``context``, which receives the deployment's ``DetectorContext``; any other
required parameter is refused at registration.

Where registrations come from (all loaded before the first ``list_detectors`` or
``create_detector``, see ``load_builtins``): the package's own modules, listed once in
``faceverdict.detectors.BUILTIN_DETECTOR_MODULES``; installed distributions' entry points
in the group ``faceverdict.detectors``; and the modules of the ``detector_modules`` setting,
which the wiring imports. See ``docs/adding-a-detector.md``.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from importlib.metadata import entry_points
from types import MappingProxyType
from typing import Any, TypeVar

from faceverdict.detectors.base import Detector
from faceverdict.domain.detection import DetectorKind

ENTRY_POINT_GROUP = "faceverdict.detectors"
"""Entry-point group of third-party detector modules (``[project.entry-points."..."]``)."""

DetectorFactory = Callable[..., Detector]
"""``() -> Detector`` or ``(context: DetectorContext) -> Detector``."""

FactoryT = TypeVar("FactoryT", bound=DetectorFactory)


@dataclass(frozen=True)
class DetectorContext:
    """What a deployment tells the detectors it builds; given to factories that ask for it.

    ``c2pa_trust_anchors_pem`` and ``c2pa_allowed_certificates_pem`` are the contents of the
    ``c2pa_trust_anchors_file`` and ``c2pa_allowed_certificates_file`` settings (None when
    unset). ``options`` are this detector's own entries of the ``detector_options`` setting
    (``{"<detector name>": {"key": "value"}}``): an escape hatch for third-party detectors,
    strings only, to be parsed and validated by the factory.
    """

    c2pa_trust_anchors_pem: str | None = None
    c2pa_allowed_certificates_pem: str | None = None
    options: Mapping[str, str] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        # A read-only copy: a factory cannot change what another detector is given.
        object.__setattr__(self, "options", MappingProxyType(dict(self.options)))

    def with_options(self, options: Mapping[str, str]) -> DetectorContext:
        """This context with ``options`` in place of its own."""
        return replace(self, options=options)


@dataclass(frozen=True)
class Registration:
    """A registered detector: its name, where it runs, whether the fusion calibrates it,
    and how to build it.

    ``calibrated`` True: a *learned* detector, whose probability the fusion standardises
    on genuine captures (``make calibrate`` fits it into ``models/fusion.json``). False: an
    *evidence* detector (hard evidence such as provenance), added as ``weight * logit(p)``.
    """

    name: str
    kind: DetectorKind
    factory: DetectorFactory
    calibrated: bool = False
    takes_context: bool = False

    def build(self, context: DetectorContext) -> Detector:
        """Call the factory, with ``context`` when it asks for one."""
        if self.takes_context:
            return self.factory(context=context)
        return self.factory()


_REGISTRY: dict[str, Registration] = {}
_loaded = False


class UnknownDetector(KeyError):
    """No detector is registered under that name."""


def register(
    name: str, kind: DetectorKind = DetectorKind.INLINE, *, calibrated: bool = False
) -> Callable[[FactoryT], FactoryT]:
    """Register ``factory`` under ``name``; registering a name twice is an error.

    ``kind``: inline (every check) or assurance (asynchronous only). ``calibrated``: True for
    a learned detector that the fusion calibrates, False (default) for hard evidence.
    """

    def decorator(factory: FactoryT) -> FactoryT:
        if name in _REGISTRY:
            raise ValueError(f"detector {name!r} is already registered")
        _REGISTRY[name] = Registration(
            name=name,
            kind=kind,
            factory=factory,
            calibrated=calibrated,
            takes_context=_takes_context(name, factory),
        )
        return factory

    return decorator


def _takes_context(name: str, factory: Callable[..., Any]) -> bool:
    """Whether ``factory`` declares a ``context`` parameter; TypeError when it needs others."""
    try:
        parameters = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):  # no signature to read (a builtin): called without one
        return False
    takes = False
    for parameter in parameters:
        if parameter.name == "context" and parameter.kind in (
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
            inspect.Parameter.KEYWORD_ONLY,
        ):
            takes = True
        elif parameter.default is inspect.Parameter.empty and parameter.kind not in (
            inspect.Parameter.VAR_POSITIONAL,
            inspect.Parameter.VAR_KEYWORD,
        ):
            raise TypeError(
                f"detector {name!r}: factory parameter {parameter.name!r} has no default; "
                "a factory takes no argument or a `context: DetectorContext` parameter"
            )
    return takes


def load_builtins() -> None:
    """Import the built-in detector modules and the entry-point plug-ins, once.

    Importing a module runs its ``@register`` decorators. The built-ins are listed in
    ``faceverdict.detectors.BUILTIN_DETECTOR_MODULES``; third-party distributions declare
    modules in the entry-point group ``faceverdict.detectors``.
    """
    global _loaded
    if _loaded:
        return
    _loaded = True  # set first: a module being imported may ask the registry again
    try:
        from faceverdict.detectors import BUILTIN_DETECTOR_MODULES

        for module in BUILTIN_DETECTOR_MODULES:
            importlib.import_module(module)
        for entry_point in entry_points(group=ENTRY_POINT_GROUP):
            try:
                entry_point.load()
            except Exception as exc:
                exc.add_note(
                    f"while loading detector plug-in {entry_point.name!r} "
                    f"({entry_point.value}, entry-point group {ENTRY_POINT_GROUP!r})"
                )
                raise
    except BaseException:
        _loaded = False
        raise


def registration(name: str) -> Registration:
    """The registration of ``name``; UnknownDetector when there is none."""
    load_builtins()
    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY)) or "none"
        raise UnknownDetector(f"unknown detector {name!r} (known: {known})") from None


def list_detectors(
    kind: DetectorKind | None = None, *, calibrated: bool | None = None
) -> list[str]:
    """Names of the registered detectors, sorted; optionally only those of one ``kind``
    and only the learned (``calibrated=True``) or the evidence (``False``) ones."""
    load_builtins()
    return sorted(
        n
        for n, r in _REGISTRY.items()
        if (kind is None or r.kind is kind) and (calibrated is None or r.calibrated is calibrated)
    )


def create_detector(name: str, context: DetectorContext | None = None) -> Detector:
    """Build the detector registered as ``name`` (``context``: the deployment's; default: an
    empty one, no C2PA trust and no options)."""
    return registration(name).build(context if context is not None else DetectorContext())

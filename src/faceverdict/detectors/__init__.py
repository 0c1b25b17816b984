"""The detector family: protocol, registry, capture gate, detectors and fusion.

``BUILTIN_DETECTOR_MODULES`` is the one list of the package's detector modules: the
registry imports them (``registry.load_builtins``) before it answers, and importing a module
runs its ``@register`` decorators. Names only, so that this package imports nothing here.
Third-party detectors register through the ``detector_modules`` setting or the
``faceverdict.detectors`` entry-point group instead (``docs/adding-a-detector.md``).
"""

BUILTIN_DETECTOR_MODULES: tuple[str, ...] = (
    "faceverdict.detectors.blending",
    "faceverdict.detectors.provenance",
    "faceverdict.detectors.synthetic",
)

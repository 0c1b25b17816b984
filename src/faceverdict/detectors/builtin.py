"""Imports every built-in detector module so that each registers itself."""

from faceverdict.detectors import (
    blending,  # noqa: F401
    provenance,  # noqa: F401
    synthetic,  # noqa: F401
)

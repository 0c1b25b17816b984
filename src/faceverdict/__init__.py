"""faceverdict: deepfake defence for identity verification."""

__version__ = "0.1.0"

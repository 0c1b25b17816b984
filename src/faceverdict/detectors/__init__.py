"""The detector family: protocol, registry, capture gate, detectors and fusion."""

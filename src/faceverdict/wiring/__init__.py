"""The composition root: settings -> adapters -> services, and the reactions to events."""

"""Adapters: one implementation of a port per module, named <Tech><Role>."""

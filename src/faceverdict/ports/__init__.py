"""Ports: the interfaces that services depend on and adapters implement, one module per role."""

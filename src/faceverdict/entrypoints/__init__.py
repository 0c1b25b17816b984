"""Thin shells around the services: HTTP API, CLI, later the worker and review UI."""

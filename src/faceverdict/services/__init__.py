"""Use cases: the only API that entry points call."""

"""Offline evaluation of the detectors and policy: split, metrics, scoring and reports.

Nothing here is on the serving path; ``faceverdict eval`` imports it lazily and the plots
need the ``eval`` extra (matplotlib).
"""

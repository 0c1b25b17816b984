"""Errors of human review, in the service's one exception tree (see ``faceverdict.errors``).

FaceverdictError
├── NotFound                 (errors.py) no such task or account
├── InvalidRequest           (errors.py) a bad verdict, username or password
└── ReviewError              review refused an action
    ├── TaskUnavailable      the task is done, or another reviewer holds it (409)
    ├── LeaseLost            the caller no longer holds the task (409)
    ├── Forbidden            the caller's role may not do this (403)
    └── SignInFailed         wrong username or password, or a locked account (401)
"""

from __future__ import annotations

from faceverdict.errors import FaceverdictError


class ReviewError(FaceverdictError):
    """Review refused an action."""

    slug = "review"


class TaskUnavailable(ReviewError):
    """The task is done, or another reviewer holds it."""

    slug = "task-unavailable"


class LeaseLost(ReviewError):
    """The caller's claim on the task has lapsed and someone else took it, or it is done."""

    slug = "lease-lost"


class Forbidden(ReviewError):
    """The caller's role may not do this."""

    slug = "forbidden"


class SignInFailed(ReviewError):
    """Wrong username or password, an inactive account, or one locked after failures."""

    slug = "sign-in-failed"

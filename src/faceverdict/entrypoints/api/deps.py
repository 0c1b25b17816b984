"""Dependencies of the API routes: the wired application and the caller.

Routes ask for them with the ``Annotated`` aliases below; tests (or an embedding application)
replace them with ``app.dependency_overrides[get_application] = ...``.
"""

from __future__ import annotations

import hmac
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

from fastapi import Depends, Header, Request

from faceverdict import errors
from faceverdict.services.captures import caller_id
from faceverdict.wiring.bootstrap import Application


def get_application(request: Request) -> Application:
    """The application the API was created over."""
    application: Application = request.app.state.application
    return application


App = Annotated[Application, Depends(get_application)]


def authorise(application: App, authorization: Annotated[str | None, Header()] = None) -> str:
    """The caller: a short hash of its API key (never the key), for the evidence log."""
    keys = [k.get_secret_value().encode() for k in application.settings.api_keys]
    if not keys:
        return "anonymous"  # development without keys (refused in production by settings)
    token = (authorization or "").removeprefix("Bearer ").strip().encode()
    if not any(hmac.compare_digest(token, k) for k in keys):
        raise errors.Unauthorized("send 'Authorization: Bearer <API key>'")
    return caller_id(token.decode())


Caller = Annotated[str, Depends(authorise)]
AUTHORISED: list[Any] = [Depends(authorise)]


class InFlight:
    """At most ``limit`` checks judged at once; beyond it, answer 503 at once, never queue."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._slots = threading.BoundedSemaphore(limit)

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold one slot for the block; Overloaded when none is free."""
        if not self._slots.acquire(blocking=False):
            raise errors.Overloaded(
                f"{self.limit} checks are being judged in this process; retry in a second"
            )
        try:
            yield
        finally:
            self._slots.release()


def get_in_flight(request: Request) -> InFlight:
    """The process's limit on checks in flight."""
    limiter: InFlight = request.app.state.in_flight
    return limiter


Slots = Annotated[InFlight, Depends(get_in_flight)]

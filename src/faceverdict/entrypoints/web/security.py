"""Sessions, CSRF and response headers of the reviewer UI.

Sessions are server-side (see ``ReviewAccounts``): the cookie holds a random token, HttpOnly,
SameSite=Strict, Secure outside development. Every state-changing request carries the
session's CSRF token (a form field, or the ``X-CSRF-Token`` header for scripts) and, when the
browser sends one, an Origin matching the host. Sign-in itself uses a double-submit token.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from starlette.datastructures import FormData
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import Response

from faceverdict.services.review.accounts import ActiveSession
from faceverdict.services.review.errors import Forbidden

SESSION_COOKIE = "fv_review_session"
LOGIN_COOKIE = "fv_review_login"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ]
)


class SignInRequired(Exception):
    """The request has no valid session; the browser goes to the sign-in page."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


@dataclass(frozen=True)
class Posted:
    """A state-changing request that passed the session and CSRF checks."""

    session: ActiveSession
    form: FormData

    def field(self, name: str) -> str:
        """A form field as text ('' when absent or a file)."""
        value = self.form.get(name)
        return value if isinstance(value, str) else ""


class SecurityHeaders(BaseHTTPMiddleware):
    """Strict CSP, no framing, no sniffing, no referrer off-site, no caching of case data."""

    async def dispatch(
        self, request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        """Add the headers to every response of the reviewer UI."""
        response = await call_next(request)
        h = response.headers
        h.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        h.setdefault("X-Frame-Options", "DENY")
        h.setdefault("X-Content-Type-Options", "nosniff")
        h.setdefault("Referrer-Policy", "same-origin")  # no-referrer would send Origin: null
        h.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        h.setdefault("Cross-Origin-Resource-Policy", "same-origin")
        if not request.url.path.startswith(f"{request.scope.get('root_path', '')}/static/"):
            h["Cache-Control"] = "no-store"
        return response


def same_origin(request: Request) -> bool:
    """False when the browser says the request comes from another origin."""
    origin = request.headers.get("origin")
    if origin is None:  # same-origin GETs and older browsers send none
        return True
    expected = f"{request.url.scheme}://{request.headers.get('host', request.url.netloc)}"
    return origin == expected


def check_csrf(request: Request, session: ActiveSession, form: FormData) -> None:
    """Refuse a state change without the session's CSRF token or from another origin."""
    field = form.get(CSRF_FIELD)
    token = request.headers.get(CSRF_HEADER) or (field if isinstance(field, str) else None)
    if not same_origin(request) or not session.csrf_ok(token):
        raise Forbidden("the form expired or came from another site; reload the page")


def new_login_token() -> str:
    """A fresh double-submit token for the sign-in form."""
    return secrets.token_urlsafe(32)


def login_token_ok(cookie: str | None, field: str | None) -> bool:
    """Whether the sign-in form's token matches its cookie."""
    return bool(cookie and field) and hmac.compare_digest(
        (cookie or "").encode(), (field or "").encode()
    )


def safe_next(path: str | None, base: str) -> str:
    """A local path to go to after sign-in (never another site)."""
    if not path or not path.startswith(base + "/") or path.startswith("//") or "\\" in path:
        return base + "/"
    return path

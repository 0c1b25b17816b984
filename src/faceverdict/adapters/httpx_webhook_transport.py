"""HttpxWebhookTransport and SocketResolver: the network side of webhook deliveries."""

from __future__ import annotations

import socket
from collections.abc import Mapping

import httpx

from faceverdict.ports.webhooks import SendResult


class HttpxWebhookTransport:
    """POSTs with a bounded timeout; never follows redirects (they could point inside)."""

    def __init__(self, timeout: float = 10.0) -> None:
        self._client = httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False)

    def send(self, url: str, headers: Mapping[str, str], body: bytes) -> SendResult:
        """POST ``body``; network errors come back in the result."""
        try:
            response = self._client.post(url, content=body, headers=dict(headers))
        except httpx.HTTPError as exc:
            return SendResult(status=None, error=f"{type(exc).__name__}: {exc}"[:500])
        return SendResult(status=response.status_code)

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()


class SocketResolver:
    """Resolves host names with the system resolver."""

    def resolve(self, host: str, port: int) -> list[str]:
        """The addresses of ``host``; OSError if it does not resolve."""
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
        return sorted({str(info[4][0]) for info in infos})

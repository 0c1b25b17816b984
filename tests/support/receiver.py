"""A webhook receiver on 127.0.0.1 that answers as told: ok, 500, or too slowly."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    """One request the receiver got."""

    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """What the receiver does and what it got."""

    url: str
    mode: str = "ok"  # ok | 500 | slow
    slow_seconds: float = 2.0
    requests: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def accepted(self) -> list[Received]:
        """Requests answered 2xx."""
        with self.lock:
            return [r for r in self.requests if r.headers.get("x-answered") == "ok"]


@contextmanager
def receiver(mode: str = "ok") -> Iterator[Receiver]:
    """Run a receiver on a free port of 127.0.0.1 until the block ends."""
    state = Receiver(url="", mode=mode)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            headers = {k.lower(): v for k, v in self.headers.items()}
            mode = state.mode
            if mode == "slow":
                time.sleep(state.slow_seconds)
            headers["x-answered"] = mode
            with state.lock:
                state.requests.append(Received(headers, body))
            self.send_response(204 if mode == "ok" else 500)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            del format, args

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens (a receiver that is down)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/hooks"

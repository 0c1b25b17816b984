"""Real-browser test support: Debian's chromium driven by Playwright, and a live server.

No browser is ever downloaded: Playwright drives ``/usr/bin/chromium`` (Debian's package).
When it is missing and we run as root with apt-get, the package is installed here
(``apt-get update && apt-get install -y --no-install-recommends chromium``). If it still
cannot be had, the browser tests skip with the reason, except under CI (``CI=true``), where
they fail instead.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--disable-dev-shm-usage",
]
INSTALL_COMMANDS = (
    ["apt-get", "update"],
    ["apt-get", "install", "-y", "--no-install-recommends", "chromium"],
)
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"


def _found() -> str | None:
    configured = os.environ.get("FACEVERDICT_CHROMIUM")
    for candidate in (configured, *CHROMIUM_CANDIDATES):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("chromium")


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"browser tests cannot run in CI: {reason}")
    pytest.skip(f"browser tests skipped: {reason}")


def ensure_chromium() -> str:
    """The path of Debian's chromium, installed with apt-get when missing (as root)."""
    found = _found()
    if found:
        return found
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        _unavailable("chromium is not installed: apt-get install -y chromium (needs root)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in INSTALL_COMMANDS:
        try:
            done = subprocess.run(  # fixed commands, no user input
                command, env=env, capture_output=True, text=True, timeout=900, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            _unavailable(f"`{' '.join(command)}` failed: {exc}")
        if done.returncode != 0:
            _unavailable(f"`{' '.join(command)}` failed: {done.stderr.strip()[-400:]}")
    found = _found()
    if not found:
        _unavailable("apt-get installed chromium but /usr/bin/chromium is missing")
    assert found is not None
    return found


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def live_server(app: FastAPI) -> Iterator[str]:
    """Serve ``app`` with uvicorn on a free local port in a thread; yields the base URL."""
    port = _free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def screenshot_path(name: str) -> Path:
    """Where a test keeps a screenshot (``artifacts/screenshots/``, not tracked by git)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS / name

"""Inline latency benchmark: p50/p99 for 1 MP and 12 MP JPEGs, in-process and over HTTP.

Usage: .venv/bin/python scripts/bench_inline.py [--runs 60] [--face PATH] [--out FILE.json]
       [--clients N [--load-checks 120]]

With ``--clients N`` it also posts 12 MP checks from N concurrent callers to one server and
reports throughput (checks/s) and latency under that load.

The capture is a real face photo (``--face``, or the first FRLL image of the shared dataset
when present), else a synthetic face; it is resized to 1 MP (1280x800 equivalent area) and
12 MP (4000x3000) and saved as quality-90 JPEG, so the whole inline path runs (decode, gate,
detectors, fusion, policy, and over HTTP also storage).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx2 as httpx
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
SIZES = {"1MP": (1280, 800), "12MP": (4000, 3000)}


def face_photo(path: Path | None) -> tuple[Image.Image, str]:
    """A face image to scale up, and where it came from."""
    if path is not None:
        return Image.open(path).convert("RGB"), str(path)
    shared = REPO.parent / "shared/datasets/faces-dev/frll"
    candidates = sorted(shared.rglob("*.jpg")) if shared.exists() else []
    if candidates:
        return Image.open(candidates[0]).convert("RGB"), f"faces-dev {candidates[0].name}"
    sys.path.insert(0, str(REPO))
    from tests.support.synthetic_faces import synthetic_face

    return synthetic_face(size=(1024, 1024)).convert("RGB"), "synthetic face"


def jpeg_at(image: Image.Image, size: tuple[int, int]) -> bytes:
    """The face centred on a canvas of ``size``, covering about half its height."""
    w, h = size
    canvas = Image.new("RGB", size, (128, 120, 110))
    scale = 0.8 * min(w / image.width, h / image.height)
    face = image.resize(
        (int(image.width * scale), int(image.height * scale)), Image.Resampling.LANCZOS
    )
    canvas.paste(face, ((w - face.width) // 2, (h - face.height) // 2))
    buf = io.BytesIO()
    canvas.save(buf, "JPEG", quality=90)
    return buf.getvalue()


def percentiles(samples: list[float]) -> dict[str, float]:
    """p50, p99, mean and max in milliseconds."""
    ordered = sorted(samples)
    q = statistics.quantiles(ordered, n=100, method="inclusive")
    return {
        "p50": round(q[49], 1),
        "p99": round(q[98], 1),
        "mean": round(statistics.fmean(ordered), 1),
        "max": round(ordered[-1], 1),
    }


def bench_in_process(images: dict[str, bytes], runs: int) -> tuple[dict[str, Any], float, str]:
    """Time the assessor directly (no HTTP, no storage)."""
    from faceverdict.config import load_settings
    from faceverdict.domain.policy import ClientSignals
    from faceverdict.wiring.bootstrap import build_assessor

    started = time.perf_counter()
    assessor = build_assessor(load_settings())
    assessor.assess(images["1MP"], "onboarding", ClientSignals())
    cold = (time.perf_counter() - started) * 1000
    out: dict[str, Any] = {}
    verdict = ""
    for name, data in images.items():
        for _ in range(3):
            assessor.assess(data, "onboarding", ClientSignals())
        samples = []
        for _ in range(runs):
            t0 = time.perf_counter()
            a = assessor.assess(data, "onboarding", ClientSignals())
            samples.append((time.perf_counter() - t0) * 1000)
        verdict = f"{a.judgement.abstention or a.judgement.authenticity_score}"
        out[name] = percentiles(samples) | {"outcome": verdict}
    return out, round(cold, 1), verdict


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def serving() -> Iterator[str]:
    """A real ``faceverdict serve`` (uvicorn, SQLite) on loopback; yields its base URL."""
    port = free_port()
    with tempfile.TemporaryDirectory() as data_dir:
        env = os.environ | {"FACEVERDICT_DATA_DIR": data_dir, "FACEVERDICT_PORT": str(port)}
        server = subprocess.Popen(
            [sys.executable, "-m", "faceverdict.entrypoints.cli", "serve"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.time() + 60
            while time.time() < deadline:
                try:
                    if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.2)
            yield url
        finally:
            server.terminate()
            server.wait(timeout=10)


def post_check(client: httpx.Client, data: bytes, subject: str) -> float:
    """POST one check; its latency in milliseconds."""
    t0 = time.perf_counter()
    r = client.post(
        "/v1/checks",
        files={"image": ("c.jpg", data, "image/jpeg")},
        data={"subject_ref": subject, "flow": "onboarding"},
    )
    elapsed = (time.perf_counter() - t0) * 1000
    r.raise_for_status()
    return elapsed


def bench_http(images: dict[str, bytes], runs: int) -> dict[str, Any]:
    """Time POST /v1/checks against a real uvicorn process on loopback, one at a time."""
    out: dict[str, Any] = {}
    with serving() as url, httpx.Client(base_url=url, timeout=30) as client:
        for name, data in images.items():
            samples = [post_check(client, data, f"bench-{i}") for i in range(runs + 3)]
            out[name] = percentiles(samples[3:])
    return out


def bench_http_load(data: bytes, clients: int, total: int) -> dict[str, Any]:
    """``clients`` concurrent callers post ``total`` checks of ``data``: throughput and
    latency under load (the server's own thread pool and detector pools decide the rest)."""
    with serving() as url:
        with httpx.Client(base_url=url, timeout=60) as client:
            for i in range(3):
                post_check(client, data, f"warm-{i}")

        def caller(k: int) -> list[float]:
            with httpx.Client(base_url=url, timeout=60) as own:
                return [post_check(own, data, f"load-{k}-{i}") for i in range(total // clients)]

        started = time.perf_counter()
        with ThreadPoolExecutor(clients) as pool:
            samples = [ms for part in pool.map(caller, range(clients)) for ms in part]
        wall = time.perf_counter() - started
    return percentiles(samples) | {
        "clients": clients,
        "checks": len(samples),
        "checks_per_s": round(len(samples) / wall, 2),
    }


def main() -> None:
    """Run both benchmarks and print a JSON report."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=60)
    parser.add_argument("--face", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument(
        "--clients",
        type=int,
        default=0,
        help="also post 12 MP checks from this many concurrent callers (load; 0: skip)",
    )
    parser.add_argument("--load-checks", type=int, default=120, help="checks in the load run")
    args = parser.parse_args()
    photo, source = face_photo(args.face)
    images = {name: jpeg_at(photo, size) for name, size in SIZES.items()}
    in_process, cold_ms, _ = bench_in_process(images, args.runs)
    report = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "face_source": source,
        "runs": args.runs,
        "jpeg_bytes": {k: len(v) for k, v in images.items()},
        "cold_start_first_check_ms": cold_ms,
        "in_process_ms": in_process,
        "http_ms": bench_http(images, args.runs),
    }
    if args.clients > 0:
        report["http_12MP_load"] = bench_http_load(images["12MP"], args.clients, args.load_checks)
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()

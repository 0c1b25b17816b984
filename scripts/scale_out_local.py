"""Start the scale-out topology on this machine: N API processes and M workers, started
independently, on PostgreSQL, Redis and S3-compatible storage (moto's S3 server when no
endpoint is given). The same processes ``compose.yaml`` runs, as local processes.

Usage:
    python scripts/scale_out_local.py [--apis 2] [--workers 2] [--base-port 8100]
        [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/test]
        [--redis-url redis://127.0.0.1:6379/0] [--s3-endpoint URL] [--data-dir DIR]
    python scripts/scale_out_local.py --bench [--checks 200]   # throughput, 1 and 2 workers

Ctrl-C stops everything. The end-to-end test (tests/e2e/test_scale_out.py) drives the same
``Topology`` class.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def policy_file(folder: Path, lease_seconds: int, may_relax: bool | None = None) -> Path:
    """The bundled policy with a short assurance lease (a killed worker's job returns soon) and,
    when ``may_relax`` is given, that assurance rule instead of the bundled one."""
    text = resources.files("faceverdict.policy").joinpath("default.toml").read_text()
    text, n = re.subn(r"(?m)^lease_seconds = \d+", f"lease_seconds = {lease_seconds}", text)
    assert n == 1, "lease_seconds not found in the bundled policy"
    if may_relax is not None:
        text, n = re.subn(r"(?m)^may_relax = \w+", f"may_relax = {str(may_relax).lower()}", text)
        assert n == 1, "may_relax not found in the bundled policy"
    path = folder / "policy.toml"
    path.write_text(text, encoding="utf-8")
    return path


@dataclass
class Topology:
    """The processes of one local scale-out deployment."""

    database_url: str
    redis_url: str = "redis://127.0.0.1:6379/0"
    s3_endpoint: str | None = None
    data_dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="fv-scale-")))
    queue_name: str = field(default_factory=lambda: f"fv-{uuid.uuid4().hex[:8]}")
    extra_env: dict[str, str] = field(default_factory=dict)
    lease_seconds: int = 5
    may_relax: bool | None = None  # None: the bundled policy's rule
    apis: list[subprocess.Popen[bytes]] = field(default_factory=list)
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    api_urls: list[str] = field(default_factory=list)
    _s3: subprocess.Popen[bytes] | None = None

    def env(self) -> dict[str, str]:
        """The environment every process gets (the same settings for all of them)."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.s3_endpoint is None:
            port = free_port()
            moto = shutil.which("moto_server") or str(Path(sys.executable).parent / "moto_server")
            self._s3 = subprocess.Popen(
                [moto, "-H", "127.0.0.1", "-p", str(port)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            self.s3_endpoint = f"http://127.0.0.1:{port}"
            _wait_http(self.s3_endpoint, path="/", ok=lambda status: status < 500)
        env = {
            **os.environ,
            # This checkout's code (and its tests/support modules), whatever is installed.
            "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO)]),
            "AWS_ACCESS_KEY_ID": os.environ.get("AWS_ACCESS_KEY_ID", "testing"),
            "AWS_SECRET_ACCESS_KEY": os.environ.get("AWS_SECRET_ACCESS_KEY", "testing"),
            "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
            "FACEVERDICT_DATA_DIR": str(self.data_dir),
            "FACEVERDICT_DATABASE_URL": self.database_url,
            "FACEVERDICT_JOB_QUEUE": "redis",
            "FACEVERDICT_REDIS_URL": self.redis_url,
            "FACEVERDICT_JOB_QUEUE_NAME": self.queue_name,
            "FACEVERDICT_BLOB_STORE": "s3",
            "FACEVERDICT_S3_BUCKET": "faceverdict-captures",
            "FACEVERDICT_S3_PREFIX": f"{self.queue_name}/",
            "FACEVERDICT_S3_ENDPOINT_URL": self.s3_endpoint,
            "FACEVERDICT_S3_CREATE_BUCKET": "true",
            "FACEVERDICT_EMBEDDED_WORKER": "false",
            "FACEVERDICT_POLICY_FILE": str(
                policy_file(self.data_dir, self.lease_seconds, self.may_relax)
            ),
            "FACEVERDICT_ASSURANCE_SWEEP_EVERY_SECONDS": "1",
        }
        env.update(self.extra_env)
        return env

    def start(self, apis: int = 2, workers: int = 2, base_port: int | None = None) -> None:
        """Start the API processes (waiting until ready), then the workers."""
        env = self.env()
        # One process first: it creates the schema and the development keys all share.
        for n in range(apis):
            port = (base_port + n) if base_port else free_port()
            self.apis.append(self._spawn(["serve", "--port", str(port)], env, f"api-{n}"))
            url = f"http://127.0.0.1:{port}"
            self.api_urls.append(url)
            _wait_http(url, path="/readyz", ok=lambda status: status == 200, timeout=120)
        for n in range(workers):
            self.add_worker(env, n)

    def add_worker(self, env: dict[str, str] | None = None, n: int | None = None) -> None:
        """Start one more worker process."""
        n = len(self.workers) if n is None else n
        self.workers.append(self._spawn(["worker", "--threads", "2"], env or self.env(), f"w{n}"))

    def _spawn(self, args: list[str], env: dict[str, str], name: str) -> subprocess.Popen[bytes]:
        with open(self.data_dir / f"{name}.log", "ab") as log:  # the child keeps its own copy
            return subprocess.Popen(
                [sys.executable, "-m", "faceverdict.entrypoints.cli", *args],
                env=env,
                cwd=REPO,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def kill_worker(self, index: int) -> None:
        """SIGKILL a worker (no chance to finish its job)."""
        self.workers[index].send_signal(signal.SIGKILL)
        self.workers[index].wait(10)

    def stop(self) -> None:
        """Stop every process (SIGTERM, then SIGKILL after 15 s)."""
        procs = [*self.workers, *self.apis, *([self._s3] if self._s3 else [])]
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


def _wait_http(base: str, *, path: str, ok: object, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            status = httpx.get(base + path, timeout=2).status_code
            if callable(ok) and ok(status):
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"{base}{path} not ready after {timeout} s")
        time.sleep(0.3)


def portraits(count: int, seed: int = 0) -> list[bytes]:
    """Distinct synthetic portraits (JPEG), as the tests make them."""
    import io

    from tests.support.synthetic_faces import synthetic_face

    images = []
    for n in range(count):
        out = io.BytesIO()
        synthetic_face(size=(240, 300), seed=seed + n).save(out, format="JPEG", quality=85)
        images.append(out.getvalue())
    return images


@dataclass
class Load:
    """What a load run submitted and when everything was final."""

    submitted: dict[str, bytes]  # check id -> image
    started: float
    submit_seconds: float
    rejected: int = 0


def submit_load(
    api_urls: list[str], images: list[bytes], concurrency: int = 8, key_prefix: str = "load"
) -> Load:
    """POST every image to the APIs in turn, ``concurrency`` at a time.

    Image ``n`` goes with ``Idempotency-Key: <key_prefix>-<n>``: retries after a 503 or a
    dropped connection cannot create a second check.
    """
    from concurrent.futures import ThreadPoolExecutor

    started = time.monotonic()
    submitted: dict[str, bytes] = {}
    rejected = 0

    def one(n: int) -> tuple[str | None, bytes]:
        url = api_urls[n % len(api_urls)] + "/v1/checks"
        for _attempt in range(20):  # 503 during an outage: retry after the advised delay
            try:
                response = httpx.post(
                    url,
                    files={"image": ("selfie.jpg", images[n], "image/jpeg")},
                    data={"subject_ref": f"{key_prefix}-{n}", "flow": "onboarding"},
                    headers={"Idempotency-Key": f"{key_prefix}-{n}"},
                    timeout=60,
                )
            except httpx.HTTPError:
                time.sleep(1)
                continue
            if response.status_code == 503:
                time.sleep(float(response.headers.get("retry-after", "1")))
                continue
            if response.status_code in (200, 201):
                return str(response.json()["check_id"]), images[n]
            return None, images[n]
        return None, images[n]

    with ThreadPoolExecutor(concurrency) as pool:
        for check_id, image in pool.map(one, range(len(images))):
            if check_id is None:
                rejected += 1
            else:
                submitted[check_id] = image
    return Load(submitted, started, time.monotonic() - started, rejected)


def wait_until_settled(
    database_url: str, check_ids: list[str], timeout: float = 600
) -> dict[str, tuple[str, float]]:
    """Poll the database until no check is ``assuring``; state and async latency per check."""
    from sqlalchemy import bindparam, create_engine, text

    engine = create_engine(database_url)
    query = text(
        "SELECT check_id, state, created_at, updated_at FROM checks WHERE check_id IN :ids"
    ).bindparams(bindparam("ids", expanding=True))
    deadline = time.monotonic() + timeout
    try:
        while True:
            with engine.connect() as conn:
                rows = conn.execute(query, {"ids": check_ids}).all()
            if len(rows) == len(check_ids) and all(r.state != "assuring" for r in rows):
                return {
                    r.check_id: (r.state, (r.updated_at - r.created_at).total_seconds())
                    for r in rows
                }
            if time.monotonic() > deadline:
                stuck = sum(r.state == "assuring" for r in rows)
                raise TimeoutError(f"{stuck} checks still assuring after {timeout} s")
            time.sleep(0.5)
    finally:
        engine.dispose()


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (nearest rank) of ``values``."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def bench(
    database_url: str, redis_url: str, checks: int, workers: int, learned: bool = False
) -> dict[str, float]:
    """Throughput (checks/s to a settled state) and async latency with ``workers`` workers.

    Runs in a fresh PostgreSQL schema, dropped afterwards. ``fixed`` puts every capture in
    the gray band; with ``learned`` the inline and assurance ensembles also run the learned
    models (``blending``/``synthetic`` inline, their ``_assurance`` variants in the workers).
    """
    from sqlalchemy import create_engine, text

    schema = f"fv_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(database_url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in database_url else "?"
    database_url = f"{database_url}{sep}options=-csearch_path%3D{schema}"
    topology = Topology(
        database_url=database_url,
        redis_url=redis_url,
        may_relax=True,  # the stand-in's changed opinions supersede (half of them relax)
        extra_env={
            "FACEVERDICT_DETECTOR_MODULES": '["tests.support.fixed_detectors"]',
            "FACEVERDICT_TEST_FIXED_PROBABILITY": "0.85" if learned else "0.9",
            "FACEVERDICT_INLINE_DETECTORS": '["provenance", "blending", "synthetic", "fixed"]'
            if learned
            else '["provenance", "fixed"]',
            "FACEVERDICT_ASSURANCE_DETECTORS": '["blending_assurance", "synthetic_assurance", '
            '"fixed_assurance"]'
            if learned
            else '["fixed_assurance"]',
        },
    )
    try:
        topology.start(apis=2, workers=workers)
        load = submit_load(topology.api_urls, portraits(checks))
        settled = wait_until_settled(database_url, list(load.submitted))
        elapsed = time.monotonic() - load.started
        latencies = [latency for _state, latency in settled.values()]
        return {
            "workers": workers,
            "checks": len(load.submitted),
            "submit_checks_per_s": round(len(load.submitted) / load.submit_seconds, 1),
            "settled_checks_per_s": round(len(load.submitted) / elapsed, 1),
            "async_latency_p50_s": round(percentile(latencies, 0.5), 2),
            "async_latency_p99_s": round(percentile(latencies, 0.99), 2),
        }
    finally:
        topology.stop()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def main() -> None:
    """Start the topology and keep it running until Ctrl-C (or run the benchmark)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--apis", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--base-port", type=int, default=8100)
    parser.add_argument(
        "--database-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test"
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--s3-endpoint", default=None)
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--bench", action="store_true", help="measure 1 and 2 workers")
    parser.add_argument("--checks", type=int, default=200)
    parser.add_argument("--learned", action="store_true", help="bench: also run the learned models")
    args = parser.parse_args()
    if args.bench:
        results = [
            bench(args.database_url, args.redis_url, args.checks, workers=n, learned=args.learned)
            for n in (1, 2)
        ]
        print(json.dumps(results, indent=2))
        return
    topology = Topology(
        database_url=args.database_url,
        redis_url=args.redis_url,
        s3_endpoint=args.s3_endpoint,
        **({"data_dir": args.data_dir} if args.data_dir else {}),
    )
    try:
        topology.start(args.apis, args.workers, args.base_port)
        print(
            f"APIs: {' '.join(topology.api_urls)}; {args.workers} workers; logs in "
            f"{topology.data_dir}; Ctrl-C stops",
            flush=True,
        )
        signal.sigwait({signal.SIGINT, signal.SIGTERM})
    finally:
        topology.stop()


if __name__ == "__main__":
    main()

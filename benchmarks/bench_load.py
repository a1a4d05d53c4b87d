"""Load on `mlflow-monitor serve --workers 2` over loopback: requests/s, p50 and p99, and a
check that nothing was lost.

C client threads each send R ``POST /predict`` requests (one row each, with its own
prediction id) on a keep-alive connection, one after another. Afterwards every request's
prediction must be in the inference store exactly once and the Prometheus counter must equal
the request count. The load is bounded in count (C x R) and time (``--timeout``) and only
targets 127.0.0.1.

``run_load`` is the load generator; tests/integration/reliability/test_load.py runs it against
a server it starts itself. Run the whole benchmark (it logs and wraps the example model in a
temporary MLflow store, then starts the server) with::

    .venv/bin/python benchmarks/bench_load.py --clients 8 --requests 200
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["LoadResult", "run_load"]

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class LoadResult:
    """What a load run sent and got back.

    Attributes:
        sent: prediction ids of every request sent.
        answered: prediction ids the server answered 200 for.
        failures: ``(prediction id, status or error)`` of the other requests.
        latencies: seconds per answered request.
        seconds: wall-clock time of the whole run.
    """

    sent: list[str] = field(default_factory=list)
    answered: list[str] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        """Answered requests per second."""
        return len(self.answered) / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float:
        """The ``q``-th percentile of the latencies, in seconds."""
        ordered = sorted(self.latencies)
        if not ordered:
            return float("nan")
        index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))
        return ordered[index]


def run_load(
    base_url: str,
    clients: int,
    requests: int,
    tag: str = "load",
    texts: list[str] | None = None,
    timeout: float = 300.0,
) -> LoadResult:
    """``clients`` threads each POST ``requests`` one-row /predict requests to ``base_url``.

    Args:
        base_url: ``http://127.0.0.1:<port>`` of the server.
        clients: concurrent clients, each with its own keep-alive connection.
        requests: requests per client.
        tag: prefix of the prediction ids (``<tag>-<client>-<request>``).
        texts: review texts to send, in turn.
        timeout: seconds the whole run may take; clients stop sending after it.

    Returns:
        The sent and answered ids, failures and latencies.
    """
    host_port = base_url.removeprefix("http://")
    host, port = host_port.rsplit(":", 1)
    texts = texts or ["works fine", "best purchase ever, amazing", "arrived broken"]
    result = LoadResult()
    lock = threading.Lock()
    deadline = time.monotonic() + timeout

    def client(index: int) -> None:
        conn = http.client.HTTPConnection(host, int(port), timeout=60)
        try:
            for number in range(requests):
                if time.monotonic() > deadline:
                    return
                pid = f"{tag}-{index}-{number}"
                body = json.dumps(
                    {"text": texts[(index + number) % len(texts)], "prediction_id": pid}
                )
                with lock:
                    result.sent.append(pid)
                start = time.perf_counter()
                try:
                    conn.request("POST", "/predict", body, {"Content-Type": "application/json"})
                    response = conn.getresponse()
                    answer = response.read()
                except (OSError, http.client.HTTPException) as exc:
                    with lock:
                        result.failures.append((pid, repr(exc)))
                    conn.close()
                    conn = http.client.HTTPConnection(host, int(port), timeout=60)
                    continue
                elapsed = time.perf_counter() - start
                with lock:
                    if response.status == 200 and json.loads(answer)["prediction_id"] == pid:
                        result.answered.append(pid)
                        result.latencies.append(elapsed)
                    else:
                        result.failures.append((pid, f"{response.status} {answer[:200]!r}"))
        finally:
            conn.close()

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()) + 60)
    result.seconds = time.perf_counter() - started
    return result


# -- the benchmark: set up a served model, load it, verify ------------------------------------


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wrap_example(tracking_uri: str) -> str:
    sys.path.insert(0, str(ROOT / "examples"))
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from bench_models import quiet

    quiet()  # MLflow's progress bars and INFO lines would bury the result
    import mlflow
    from reviews_data import log_detector, make_reviews, train_pipeline

    from mlflow_monitor.model.wrap import wrap

    mlflow.set_tracking_uri(tracking_uri)
    train = make_reviews(400, seed=1)
    inputs = train[["text"]]
    with mlflow.start_run():
        log_detector(train_pipeline(train), inputs, "load-reviews")
    baseline = {"precision": 0.9, "recall": 0.9, "accuracy": 0.9, "f1_score": 0.9}
    return str(
        wrap("models:/load-reviews/1", inputs, baseline, config={"metrics_prefix": "load"}).uri
    )


def _stored_ids(store_uri: str) -> list[str]:
    import sqlalchemy as sa

    from mlflow_monitor.store.sql.schema import predictions

    engine = sa.create_engine(store_uri)
    try:
        with engine.connect() as conn:
            return list(conn.execute(sa.select(predictions.c.prediction_id)).scalars())
    finally:
        engine.dispose()


def _counter(base_url: str, name: str) -> float:
    with urllib.request.urlopen(f"{base_url}/metrics", timeout=30) as response:
        text = response.read().decode()
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(name))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=200, help="per client")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=300.0)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp:
        tracking_uri = f"sqlite:///{tmp}/mlflow.db"
        store_uri = f"sqlite:///{tmp}/inference.db"
        model_uri = _wrap_example(tracking_uri)
        port = _free_port()
        base_url = f"http://127.0.0.1:{port}"
        env = {**os.environ, "MLFLOW_TRACKING_URI": tracking_uri}
        command = [
            sys.executable, "-m", "mlflow_monitor.cli", "serve", model_uri,
            "--port", str(port), "--workers", str(args.workers), "--store-uri", store_uri,
            "--no-checks", "--log-level", "warning",
        ]  # fmt: skip
        with open(Path(tmp) / "server.log", "wb") as log:
            server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
            try:
                _wait_ready(base_url, server)
                run_load(base_url, args.clients, 5, tag="warm-up")  # connections, imports
                before = _counter(base_url, "load_predictions_total")
                result = run_load(base_url, args.clients, args.requests, timeout=args.timeout)
                deadline = time.monotonic() + 60
                while len(_stored_ids(store_uri)) < before + len(result.answered):
                    if time.monotonic() > deadline:
                        break
                    time.sleep(0.2)
                counted = _counter(base_url, "load_predictions_total") - before
            finally:
                server.terminate()
                server.wait(60)
        stored = _stored_ids(store_uri)

    _report(args, result, stored, counted)
    lost = set(result.answered) - set(stored)
    repeated = len(stored) - len(set(stored))
    return 1 if result.failures or lost or repeated or counted != len(result.sent) else 0


def _wait_ready(base_url: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server exited with code {server.returncode}")
        try:
            with urllib.request.urlopen(f"{base_url}/ping", timeout=2):
                return
        except OSError:
            time.sleep(0.25)
    raise SystemExit("the server did not answer /ping in 180 s")


def _report(args: Any, result: LoadResult, stored: list[str], counted: float) -> None:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from bench_common import cpu_model

    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"CPU: {cpu_model()}, {cpus} usable cores; load average {os.getloadavg()[0]:.2f}")
    print(
        f"serve --workers {args.workers}, {args.clients} clients x {args.requests} requests "
        "(one row each, keep-alive, loopback)"
    )
    print(
        f"{len(result.answered)}/{len(result.sent)} answered in {result.seconds:.2f} s: "
        f"{result.rate:.0f} requests/s, p50 {result.percentile(50) * 1000:.1f} ms, "
        f"p99 {result.percentile(99) * 1000:.1f} ms"
    )
    answered = set(result.answered)
    print(
        f"stored exactly once: {len(answered & set(stored))}/{len(answered)}; "
        f"stored twice: {len(stored) - len(set(stored))}; failures: {len(result.failures)}; "
        f"predictions_total counted {counted:.0f}"
    )
    if result.latencies:
        print(f"mean latency {statistics.mean(result.latencies) * 1000:.1f} ms")


if __name__ == "__main__":
    raise SystemExit(main())

"""A real `mlflow-monitor serve` whose SQLite store another process locks: `/health` answers
within its bound (2 s) with the store's state, the other monitoring endpoints answer 503 within
theirs (5 s) instead of hanging for as long as the lock is held, and predictions go on.

Issue #16, defect 5; see docs/reliability.md.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import urllib.error
import urllib.request

import pytest

from tests.support.http import post_json
from tests.support.monitor_server import MonitorServer
from tests.support.reviews import wrap_example
from tests.support.streams import stored_predictions

MODEL = "stalls-reviews"
HELD_SECONDS = 14.0  # longer than the store's SQLite busy timeout (10 s)
HEALTH_BOUND, STORE_BOUND = 2.0, 5.0
SLACK = 2.5  # a loaded 2-core machine: scheduling, the HTTP round trip


@pytest.fixture(scope="module")
def wrapped(embedded_tracking):
    return wrap_example(MODEL, {"metrics_prefix": "stalls_reviews", "store_flush_seconds": 0.5})


def _timed(method: str, url: str, payload: object = None) -> tuple[int, dict, float]:
    data = None if payload is None else json.dumps(payload).encode()
    request = urllib.request.Request(url, data, {"Content-Type": "application/json"}, method=method)
    started = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            status, body = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, body = exc.code, exc.read()
    return status, json.loads(body or b"null"), time.monotonic() - started


def test_a_locked_store_gets_bounded_answers(wrapped, tmp_path):
    store_uri = f"sqlite:///{tmp_path}/inference.db"
    args = ["--store-uri", store_uri, "--no-checks"]
    with MonitorServer(tmp_path, wrapped.uri, args=args) as server:
        assert post_json(f"{server.uri}/predict", {"text": "ok", "prediction_id": "warm"})[0] == 200
        deadline = time.monotonic() + 30
        while not stored_predictions(store_uri, MODEL):
            assert time.monotonic() < deadline
            time.sleep(0.2)

        lock = sqlite3.connect(tmp_path / "inference.db", timeout=60, isolation_level=None)
        lock.execute("BEGIN EXCLUSIVE")
        taken = time.monotonic()
        answers: dict[str, tuple[int, dict, float]] = {}
        calls = {
            "health": ("GET", "/health", None),
            "status": ("GET", "/monitoring/status", None),
            "feedback": (
                "POST",
                "/monitoring/feedback",
                {"prediction_id": "warm", "true_label": 1},
            ),
            "batch": (
                "POST",
                "/monitoring/feedback",
                {"feedback": [{"prediction_id": "warm", "true_label": 1}] * 3},
            ),
        }

        def call(name: str) -> None:
            method, path, payload = calls[name]
            answers[name] = _timed(method, f"{server.uri}{path}", payload)

        try:
            # Queued and waiting for the lock: a read first waits for it to be written.
            predicted = _timed("POST", f"{server.uri}/predict", {"text": "during the lock"})
            threads = [threading.Thread(target=call, args=(name,)) for name in calls]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(HELD_SECONDS)
            # A second health check while the first probe is still stuck is as quick.
            again = _timed("GET", f"{server.uri}/health")
            assert time.monotonic() - taken < HELD_SECONDS, "the answers took the whole lock"
        finally:
            time.sleep(max(0.0, HELD_SECONDS - (time.monotonic() - taken)))
            lock.execute("ROLLBACK")
            lock.close()

        assert predicted[0] == 200, predicted
        status, health, took = answers["health"]
        assert status == 503 and took < HEALTH_BOUND + SLACK, (status, health, took)
        assert health["status"] == "store_unavailable"
        assert health["store"]["model_name"] == MODEL and "dropped" in health["store"]
        assert again[0] == 503 and again[2] < HEALTH_BOUND + SLACK, again
        for name in ("status", "feedback", "batch"):
            status, body, took = answers[name]
            assert status == 503 and took < STORE_BOUND + SLACK, (name, status, body, took)
            assert body["error_code"] == "STORE_UNAVAILABLE", body

        # Once the lock goes, the same process answers again and wrote what it was given.
        deadline = time.monotonic() + 60
        while _timed("GET", f"{server.uri}/health")[0] != 200:
            assert time.monotonic() < deadline, "health never came back"
            time.sleep(0.5)
        deadline = time.monotonic() + 60
        while len(stored_predictions(store_uri, MODEL)) < 2:
            assert time.monotonic() < deadline, "the prediction made during the lock was lost"
            time.sleep(0.2)

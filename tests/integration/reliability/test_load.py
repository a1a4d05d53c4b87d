"""Load is held and nothing is lost: 8 clients x 50 requests against `serve --workers 2` on
loopback; every prediction is stored exactly once, the Prometheus counter equals the request
count and no request fails. Timings are the benchmark's business (benchmarks/bench_load.py).
"""

from __future__ import annotations

import time
import urllib.parse
import urllib.request

import pytest

from tests.support.benchmarks import run_load
from tests.support.http import http_json, post_json
from tests.support.monitor_server import MonitorServer
from tests.support.reviews import wrap_example
from tests.support.streams import stored_predictions

MODEL = "load-reviews"
PREFIX = "load_reviews"
TOKEN = "load-token-3b9f0e"
CLIENTS, REQUESTS = 8, 50


@pytest.fixture(scope="module")
def server(embedded_tracking, tmp_path_factory):
    wrapped = wrap_example(MODEL, {"metrics_prefix": PREFIX})
    root = tmp_path_factory.mktemp("load")
    store_uri = f"sqlite:///{root}/inference.db"
    process = MonitorServer(
        root,
        wrapped.uri,
        # info: uvicorn logs every request, so the log would show a leaked token
        args=["--workers", "2", "--store-uri", store_uri, "--no-checks", "--log-level", "info"],
        env={"MLFLOW_MONITOR_TOKEN": TOKEN},
    )
    with process:
        yield process, store_uri


def _counter(text: str, name: str) -> float:
    values = [float(line.split()[-1]) for line in text.splitlines() if line.startswith(name)]
    assert values, f"{name} not exported"
    return sum(values)


def test_concurrent_load_every_prediction_stored_exactly_once(server):
    process, store_uri = server
    result = run_load(process.uri, CLIENTS, REQUESTS, tag="load", timeout=240)
    assert not result.failures, result.failures[:5]
    assert len(result.answered) == len(result.sent) == CLIENTS * REQUESTS

    deadline = time.monotonic() + 60  # each worker writes its queue within a second
    while len(stored_predictions(store_uri, MODEL)) < CLIENTS * REQUESTS:
        assert time.monotonic() < deadline, "predictions missing from the store"
        time.sleep(0.25)
    stored = [row.prediction_id for row in stored_predictions(store_uri, MODEL)]
    assert sorted(stored) == sorted(result.answered)  # all of them, each exactly once

    for _ in range(4):  # whichever worker answers, the counters cover both
        metrics = process.metrics()
        assert _counter(metrics, f"{PREFIX}_predictions_total") == CLIENTS * REQUESTS
        assert _counter(metrics, f"{PREFIX}_records_dropped_total") == 0
    store = http_json(f"{process.uri}/monitoring/status")["store"]
    assert store["predictions"] == CLIENTS * REQUESTS
    assert store["dropped"] == 0 and store["rejected"] == 0


def test_the_token_never_reaches_the_server_log(server):
    process, _ = server
    auth = {"Authorization": f"Bearer {TOKEN}"}
    http_json(
        f"{process.uri}/monitoring/feedback", {"prediction_id": "load-0-0", "true_label": 1}, auth
    )
    status, _ = post_json(f"{process.uri}/monitoring/trigger-retraining", {"reason": "x"})
    assert status == 401
    log = process.log()
    assert "POST /monitoring/feedback" in log  # the requests were logged
    assert TOKEN not in log


def test_a_token_sent_in_a_query_string_is_masked_in_the_access_log(server):
    """Issue #16: a client that puts the token in the URL by mistake; uvicorn logs the path."""
    process, _ = server
    queries = [
        f"token={TOKEN}",
        f"access_token={TOKEN}",
        f"t={TOKEN}",
        f"x={urllib.parse.quote(TOKEN)}&y=1",
    ]
    for query in queries:
        with urllib.request.urlopen(f"{process.uri}/health?{query}", timeout=30) as answer:
            assert answer.status == 200
    deadline = time.monotonic() + 10
    while process.log().count("GET /health?") < len(queries):
        assert time.monotonic() < deadline, "the requests were not logged"
        time.sleep(0.2)
    log = process.log()
    assert TOKEN not in log and urllib.parse.quote(TOKEN) not in log
    assert "GET /health?token=*** HTTP" in log

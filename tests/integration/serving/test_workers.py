"""`mlflow-monitor serve --workers 2` as a real server: traffic spread over the workers meets in
the shared store, the Prometheus counters add up across workers, and a real Prometheus
scrapes them."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
from pathlib import Path

import mlflow
import pytest

from mlflow_monitor.store.sql.store import SqlInferenceStore
from tests.support.http import http_json
from tests.support.monitor_server import MonitorServer
from tests.support.prometheus import PrometheusServer
from tests.support.reviews import make_reviews, wrap_example
from tests.support.services import require_executable

MODEL = "workers-reviews"
PREFIX = "workers_reviews"
TOKEN = "workers-token"
K = 120


@pytest.fixture(scope="module")
def wrapped(embedded_tracking):
    return wrap_example(MODEL, {"metrics_prefix": PREFIX})


@pytest.fixture(scope="module")
def server(wrapped, tmp_path_factory):
    root = tmp_path_factory.mktemp("serve-workers")
    store_uri = f"sqlite:///{root}/inference.db"
    process = MonitorServer(
        root,
        wrapped.uri,
        args=["--workers", "2", "--store-uri", store_uri, "--no-checks"],
        env={"MLFLOW_MONITOR_TOKEN": TOKEN},
    )
    with process:
        _worker_pids(process, 2)  # both workers have loaded the model
        yield process, store_uri


def _counts(store_uri: str) -> tuple[int, int]:
    store = SqlInferenceStore(store_uri, model_name=MODEL, model_version="1")
    try:
        counts = store.counts()
        return counts.predictions, counts.labels
    finally:
        store.close()


def _wait_for(condition, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.25)


def _metric_sum(text: str, name: str) -> float:
    values = [float(line.split()[-1]) for line in text.splitlines() if line.startswith(name)]
    assert values, f"{name} not exported"
    return sum(values)


def _worker_pids(process: MonitorServer, n: int, timeout: float = 120.0) -> set[int]:
    """The pids answering ``/health`` on new connections, polled until ``n`` have answered
    (each worker loads the model itself, so one may start serving well before the other)."""
    pids: set[int] = set()
    deadline = time.monotonic() + timeout
    while len(pids) < n and time.monotonic() < deadline:
        pids.add(http_json(f"{process.uri}/health")["pid"])
        if len(pids) < n:
            time.sleep(0.05)
    return pids


def test_both_workers_answer(server):
    process, _ = server
    assert len(_worker_pids(process, 2)) == 2, "new connections should reach both workers"


def test_predictions_and_feedback_meet_across_workers(server):
    process, store_uri = server
    before_predictions, before_labels = _counts(store_uri)
    texts = make_reviews(K, seed=21)["text"].tolist()
    ids = []
    for text in texts:  # one connection per request: the kernel spreads them over workers
        ids.append(http_json(f"{process.uri}/predict", {"text": text})["prediction_id"])
    assert len(set(ids)) == K
    # Each worker writes its queue within store_flush_seconds (1 s by default).
    _wait_for(lambda: _counts(store_uri)[0] == before_predictions + K)

    auth = {"Authorization": f"Bearer {TOKEN}"}
    for i, pid in enumerate(ids):
        answer = http_json(
            f"{process.uri}/monitoring/feedback",
            {"prediction_id": pid, "true_label": i % 2},
            auth,
        )
        assert answer == {"recorded": 1, "rejected": []}
    assert _counts(store_uri) == (before_predictions + K, before_labels + K)

    # Every worker's counters, summed by the multiprocess collector, whichever worker answers.
    for _ in range(4):
        text = process.metrics()
        assert _metric_sum(text, f"{PREFIX}_predictions_total") == before_predictions + K
        assert _metric_sum(text, f"{PREFIX}_feedback_total") == before_labels + K
    assert "Traceback" not in process.log()


def test_a_label_sent_six_times_counts_once(server):
    process, store_uri = server
    before = _counts(store_uri)
    (answer,) = http_json(f"{process.uri}/predict", [{"text": "arrived broken, refund"}])
    _wait_for(lambda: _counts(store_uri)[0] == before[0] + 1)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    payload = {"prediction_id": answer["prediction_id"], "true_label": 0}
    statuses = []
    for _ in range(6):
        try:
            http_json(f"{process.uri}/monitoring/feedback", payload, auth)
            statuses.append(200)
        except urllib.error.HTTPError as exc:
            statuses.append(exc.code)
    assert sorted(statuses) == [200, 409, 409, 409, 409, 409]
    assert _counts(store_uri) == (before[0] + 1, before[1] + 1)


def test_multiprocess_metrics_pass_promtool(server):
    process, _ = server
    promtool = require_executable("promtool", "prometheus")
    checked = subprocess.run(
        [promtool, "check", "metrics"],
        input=process.metrics(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_prometheus_scrapes_the_workers(server, tmp_path):
    process, _ = server
    target = process.uri.removeprefix("http://")
    with PrometheusServer(tmp_path / "prometheus", [target], job="reviews") as prometheus:
        http_json(f"{process.uri}/predict", [{"text": t} for t in ("one", "two", "three")])
        expected = _metric_sum(process.metrics(), f"{PREFIX}_predictions_total")

        def scraped() -> bool:
            result = prometheus.query(f"{PREFIX}_predictions_total")
            return bool(result) and float(result[0]["value"][1]) == expected

        _wait_for(scraped, timeout=30)
        (up,) = prometheus.query('up{job="reviews"}')
        assert up["value"][1] == "1"
        (status,) = prometheus.query(f"{PREFIX}_monitoring_status")
        assert status["value"][1] == "0"  # started with --no-checks


def test_one_worker_runs_the_scheduled_checks(embedded_tracking, tmp_path):
    from mlflow_monitor.tracking.check_runs import ROLE_CHECK, TAG_CHECK, TAG_ROLE, TAG_WORKER

    name, interval = "leader-reviews", 3.0
    config = {
        "metrics_prefix": "leader_reviews",
        "performance_check_minutes": interval / 60,
        "drift_check_minutes": interval / 60,
        "performance_min_samples": 10,
        "drift_min_samples": 10,
    }
    leader_model = wrap_example(name, config)
    store_uri = f"sqlite:///{tmp_path}/inference.db"
    with MonitorServer(
        tmp_path, leader_model.uri, args=["--workers", "2", "--store-uri", store_uri]
    ) as process:
        _worker_pids(process, 2)
        answers = http_json(
            f"{process.uri}/predict", [{"text": t} for t in make_reviews(40, seed=3)["text"]]
        )
        time.sleep(1.5)  # the answering worker's flush interval
        labels = [{"prediction_id": a["prediction_id"], "true_label": 1} for a in answers]
        assert (
            http_json(f"{process.uri}/monitoring/feedback", {"feedback": labels})["recorded"] == 40
        )
        started = time.monotonic()
        time.sleep(5 * interval)
        leaders = {}
        for _ in range(200):  # new connections reach both workers within a few tries
            health = http_json(f"{process.uri}/health")
            leaders[health["pid"]] = health["leader"]
            if len(leaders) == 2:
                break
        elapsed = time.monotonic() - started
    assert sorted(leaders.values()) == [False, True], leaders

    runs = mlflow.search_runs(
        experiment_names=[f"monitoring/{name}"],
        filter_string=f"tags.`{TAG_ROLE}` = '{ROLE_CHECK}'",
        output_format="list",
    )
    workers = {run.data.tags[TAG_WORKER] for run in runs}
    assert len(workers) == 1, f"checks were run by {workers}"
    for kind in ("performance", "drift"):
        n = sum(run.data.tags[TAG_CHECK] == kind for run in runs)
        # One leader logs one check per interval; two would log about twice as many.
        assert 1 <= n <= elapsed / interval + 2, (kind, n)


def test_two_servers_share_a_postgresql_store(wrapped, postgres_uri, tmp_path):
    """Two hosts' worth of servers: predictions to one, feedback to the other."""
    args = ["--store-uri", postgres_uri, "--no-checks"]
    with (
        MonitorServer(tmp_path / "a", wrapped.uri, args=args) as a,
        MonitorServer(tmp_path / "b", wrapped.uri, args=args) as b,
    ):
        answers = http_json(
            f"{a.uri}/predict", [{"text": t} for t in make_reviews(K, seed=31)["text"]]
        )
        _wait_for(lambda: _counts(postgres_uri)[0] == K)
        labels = [{"prediction_id": x["prediction_id"], "true_label": 0} for x in answers]
        assert http_json(f"{b.uri}/monitoring/feedback", {"feedback": labels}) == {
            "recorded": K,
            "rejected": [],
        }
        assert _counts(postgres_uri) == (K, K)
        status = http_json(f"{a.uri}/monitoring/status")
        assert status["store"]["predictions"] == K
        assert status["store"]["labels"] == K


def test_cli_status_asks_a_running_server(server):
    process, store_uri = server
    cli = str(Path(sys.executable).parent / "mlflow-monitor")
    done = subprocess.run(
        [cli, "status", "--json", process.uri],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["store"]["model_name"] == MODEL
    assert report["store"]["predictions"] == _counts(store_uri)[0]
    table = subprocess.run(
        [cli, "status", process.uri], check=False, capture_output=True, text=True
    )
    assert table.returncode == 0 and f"{MODEL} v1" in table.stdout
    gone = subprocess.run(
        [cli, "status", "http://127.0.0.1:9/"],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert gone.returncode == 2 and "cannot reach" in gone.stderr

from __future__ import annotations

import csv
import json
import logging
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from mlflow_monitor import (
    CheckResult,
    ConfigError,
    DataValidationError,
    DriftResult,
    FeatureDrift,
    PerformanceSnapshot,
)
from mlflow_monitor.tracking.check_runs import (
    CheckRunLogger,
    check_metrics,
    feature_metric_suffixes,
)

# MLflow 3.17's SQL store maps a relationship with ``lazy="noload"``, which SQLAlchemy 2.1
# deprecates; the warning comes once per process, from whichever test first touches the store.
pytestmark = pytest.mark.filterwarnings(
    "ignore:The ``noload`` loader strategy is deprecated:sqlalchemy.exc.SADeprecationWarning"
)

T0 = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)
FEATURES = ("length", "price/€", "stars")
PNG = b"\x89PNG\r\n\x1a\n"


def ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


def drift_check(minutes: float, p_value: float = 0.001) -> CheckResult:
    when = T0 + timedelta(minutes=minutes)
    stats = {"length": (0.45, 1e-9), "price/€": (0.30, 1e-4), "stars": (0.05, 0.9)}
    features = tuple(
        FeatureDrift(name, stat, p, min(1.0, 3 * p), 3 * p < 0.05)
        for name, (stat, p) in stats.items()
    )
    drift = DriftResult(
        drift_detected=p_value < 0.05,
        p_value=p_value,
        distance=0.2,
        distance_threshold=0.05,
        p_val=0.05,
        n_reference=200,
        n_test=100,
        backend="builtin",
        sigma=1.5,
        features=features,
        correction="bonferroni",
        timestamp=when,
    )
    status = "drift" if drift.drift_detected else "ok"
    return CheckResult("drift", status, drift=drift, triggered=drift.drift_detected, timestamp=when)


def performance_check(minutes: float) -> CheckResult:
    when = T0 + timedelta(minutes=minutes)
    snapshot = PerformanceSnapshot(
        precision=0.8,
        recall=40 / 55,
        accuracy=0.75,
        f1_score=80 / 105,
        n_samples=100,
        enough_samples=True,
        degraded=True,
        degraded_metrics={"precision": 0.11},
        baseline={"precision": 0.9, "recall": 0.8},
        threshold=0.05,
        timestamp=when,
        true_positives=40,
        false_positives=10,
        false_negatives=15,
        true_negatives=35,
    )
    return CheckResult("performance", "degraded", performance=snapshot, timestamp=when)


def samples(rng):
    reference = rng.normal(size=(200, 3))
    return reference, reference[:100] + np.array([1.0, 0.5, 0.0])


@pytest.fixture
def model_name(request) -> str:
    return f"reviews-{request.node.name}"


@pytest.fixture(params=["sqlite", pytest.param("server", marks=pytest.mark.mlflow_server)])
def tracking_uri(request, sqlite_tracking_uri) -> str:
    if request.param == "sqlite":
        return sqlite_tracking_uri
    return request.getfixturevalue("mlflow_server").uri


@pytest.fixture
def make_logger(tmp_path, model_name):
    def make(uri: str, **kwargs) -> CheckRunLogger:
        if uri.startswith("sqlite"):  # the server keeps its own artifacts
            kwargs.setdefault("artifact_location", str(tmp_path / "artifacts"))
        kwargs.setdefault("model_name", model_name)
        kwargs.setdefault("model_version", 3)
        return CheckRunLogger(tracking_uri=uri, **kwargs)

    return make


def client_for(uri: str):
    from mlflow import MlflowClient

    return MlflowClient(uri)


def check_runs(uri: str, experiment_name: str):
    client = client_for(uri)
    experiment = client.get_experiment_by_name(experiment_name)
    assert experiment is not None
    return client.search_runs(
        [experiment.experiment_id],
        filter_string="tags.`mlflow_monitor.role` = 'check'",
        order_by=["attributes.start_time ASC"],
    )


def download(uri: str, run_id: str, path: str, dst) -> bytes:
    import mlflow.artifacts

    local = mlflow.artifacts.download_artifacts(
        run_id=run_id, artifact_path=path, dst_path=str(dst), tracking_uri=uri
    )
    with open(local, "rb") as handle:
        return handle.read()


def history_points(uri: str, run_id: str, key: str) -> list[tuple[int, int, float]]:
    history = client_for(uri).get_metric_history(run_id, key)
    return sorted((m.step, m.timestamp, m.value) for m in history)


def test_checks_are_child_runs_of_a_history_run(tracking_uri, make_logger, model_name, tmp_path):
    import mlflow

    global_uri = mlflow.get_tracking_uri()
    tracking = make_logger(tracking_uri)
    reference, test = samples(np.random.default_rng(0))
    first = tracking.log_check(
        drift_check(0), reference=reference, test=test, feature_names=FEATURES
    )
    second = tracking.log_check(drift_check(10, p_value=0.4))
    third = tracking.log_check(performance_check(15))
    assert None not in (first, second, third)
    assert tracking.pending == 0
    # the global MLflow state is left alone
    assert mlflow.get_tracking_uri() == global_uri and mlflow.active_run() is None

    runs = check_runs(tracking_uri, f"monitoring/{model_name}")
    assert [r.info.run_id for r in runs] == [first, second, third]
    history_id = tracking.history_run_id()
    expected = [("drift", "drift", "true"), ("drift", "ok", "false"), ("performance", "degraded")]
    for run, (kind, outcome, *triggered) in zip(runs, expected, strict=True):
        tags = run.data.tags
        assert tags["mlflow.parentRunId"] == history_id
        assert tags["mlflow_monitor.model_name"] == model_name
        assert tags["mlflow_monitor.model_version"] == "3"
        assert (tags["mlflow_monitor.check"], tags["mlflow_monitor.outcome"]) == (kind, outcome)
        assert tags["mlflow_monitor.triggered"] == (triggered[0] if triggered else "false")
        assert run.info.status == "FINISHED"
    assert runs[0].info.run_name == "drift-check 2026-11-29T08:00:00Z"
    assert runs[0].info.start_time == ms(T0)
    assert runs[0].data.tags["mlflow_monitor.drifted_features"] == "length, price/€"

    drift_metrics = runs[0].data.metrics
    assert drift_metrics["drift_p_value"] == 0.001 and drift_metrics["drift_detected"] == 1.0
    assert (drift_metrics["n_test"], drift_metrics["n_reference"]) == (100, 200)
    assert drift_metrics["feature_ks_stat.price__"] == 0.30
    assert drift_metrics["feature_ks_pvalue.length"] == 1e-9
    assert runs[0].data.params["feature_correction"] == "bonferroni"
    perf_metrics = runs[2].data.metrics
    assert perf_metrics["precision"] == 0.8 and perf_metrics["window_size"] == 100
    assert perf_metrics["performance_degraded"] == 1.0
    assert perf_metrics["baseline_precision"] == 0.9 and "baseline_accuracy" not in perf_metrics
    assert perf_metrics["true_negatives"] == 35

    table = download(tracking_uri, first, "feature_drift.csv", tmp_path / "a").decode()
    rows = list(csv.DictReader(table.splitlines()))
    assert [r["name"] for r in rows] == ["length", "price/€", "stars"]  # most drifted first
    assert rows[1]["metric_suffix"] == "price__" and float(rows[1]["statistic"]) == 0.30
    assert [r["drift_detected"] for r in rows] == ["True", "True", "False"]
    as_json = json.loads(download(tracking_uri, first, "feature_drift.json", tmp_path / "b"))
    assert as_json["correction"] == "bonferroni" and len(as_json["features"]) == 3
    for run_id in (first, second):  # histograms, then the bar chart
        assert download(tracking_uri, run_id, "drift_plot.png", tmp_path / run_id).startswith(PNG)
    assert download(tracking_uri, third, "confusion_matrix.png", tmp_path / "c").startswith(PNG)
    matrix = json.loads(download(tracking_uri, third, "confusion_matrix.json", tmp_path / "d"))
    assert matrix["matrix"] == [[35, 10], [15, 40]]
    result = json.loads(download(tracking_uri, third, "check_result.json", tmp_path / "e"))
    assert CheckResult.from_dict(result) == performance_check(15)

    assert history_points(tracking_uri, history_id, "drift_p_value") == [
        (0, ms(T0), 0.001),
        (1, ms(T0 + timedelta(minutes=10)), 0.4),
    ]
    assert history_points(tracking_uri, history_id, "precision") == [
        (0, ms(T0 + timedelta(minutes=15)), 0.8)
    ]
    history = client_for(tracking_uri).get_run(history_id)
    assert history.info.status == "RUNNING"
    assert history.data.tags["mlflow_monitor.role"] == "history"
    assert "mlflow.parentRunId" not in history.data.tags


def test_steps_continue_in_a_new_process(sqlite_tracking_uri, make_logger, model_name):
    first = make_logger(sqlite_tracking_uri)
    first.log_check(drift_check(0))
    first.log_check(performance_check(1))
    # a fresh logger stands for a restarted server or another process
    second = make_logger(sqlite_tracking_uri)
    second.log_check(drift_check(10, p_value=0.2))
    history_id = second.history_run_id()
    assert history_id == first.history_run_id()
    steps = history_points(sqlite_tracking_uri, history_id, "drift_p_value")
    assert [(step, value) for step, _, value in steps] == [(0, 0.001), (1, 0.2)]
    # each version has its own history run
    other = make_logger(sqlite_tracking_uri, model_version=4)
    other.log_check(drift_check(20))
    assert other.history_run_id() != history_id
    assert [
        s
        for s, _, _ in history_points(sqlite_tracking_uri, other.history_run_id(), "drift_p_value")
    ] == [0]


def test_ended_history_run_is_reopened(sqlite_tracking_uri, make_logger):
    tracking = make_logger(sqlite_tracking_uri)
    tracking.log_check(drift_check(0))
    tracking.end_history()
    client = client_for(sqlite_tracking_uri)
    assert client.get_run(tracking.history_run_id()).info.status == "FINISHED"
    tracking.log_check(drift_check(10))
    assert client.get_run(tracking.history_run_id()).info.status == "RUNNING"


def test_skipped_checks_are_logged_only_when_asked(sqlite_tracking_uri, make_logger, model_name):
    skipped = CheckResult("performance", "skipped", reason="need 100 labels, have 3")
    assert make_logger(sqlite_tracking_uri).log_check(skipped) is None
    tracking = make_logger(sqlite_tracking_uri, log_skipped=True)
    run_id = tracking.log_check(skipped)
    (run,) = check_runs(sqlite_tracking_uri, f"monitoring/{model_name}")
    assert run.info.run_id == run_id
    assert run.data.tags["mlflow_monitor.outcome"] == "skipped"
    assert run.data.tags["mlflow_monitor.reason"] == "need 100 labels, have 3"
    history = client_for(sqlite_tracking_uri).get_run(tracking.history_run_id())
    assert not history.data.metrics  # no history point for a skipped check
    assert "mlflow_monitor.next_step.performance" not in history.data.tags


def test_retry_replaces_a_half_logged_run(sqlite_tracking_uri, make_logger, model_name):
    from mlflow.exceptions import MlflowException

    tracking = make_logger(sqlite_tracking_uri)
    client = tracking._mlflow()
    real = client.set_terminated
    calls = []

    def fail_once(*args, **kwargs):  # the history point is logged, the run is left unfinished
        calls.append(args)
        if len(calls) == 1:
            raise MlflowException("API request failed: connection reset by peer")
        return real(*args, **kwargs)

    client.set_terminated = fail_once
    assert tracking.log_check(drift_check(0)) is None
    assert tracking.pending == 1
    assert tracking.flush_pending() == 1
    (run,) = check_runs(sqlite_tracking_uri, f"monitoring/{model_name}")
    assert run.info.status == "FINISHED"
    history_id = tracking.history_run_id()
    assert [s for s, _, _ in history_points(sqlite_tracking_uri, history_id, "drift_p_value")] == [
        0
    ]
    assert client.get_run(history_id).data.tags["mlflow_monitor.next_step.drift"] == "1"


def test_a_rejected_check_is_dropped(sqlite_tracking_uri, make_logger, caplog):
    from mlflow.exceptions import INVALID_PARAMETER_VALUE, MlflowException

    tracking = make_logger(sqlite_tracking_uri)

    def reject(*args, **kwargs):
        raise MlflowException("bad metric", error_code=INVALID_PARAMETER_VALUE)

    tracking._mlflow().log_batch = reject
    with caplog.at_level(logging.ERROR, logger="mlflow_monitor"):
        assert tracking.log_check(drift_check(0)) is None
    assert tracking.pending == 0
    assert "dropping the drift check" in caplog.text and "bad metric" in caplog.text


def test_unreachable_store_spools_checks_for_later(
    sqlite_tracking_uri, make_logger, model_name, tmp_path, monkeypatch
):
    from mlflow_server import free_port

    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "77")
    monkeypatch.delenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", raising=False)
    spool = tmp_path / "spool"
    down = make_logger(f"http://127.0.0.1:{free_port()}", spool_dir=spool, max_pending=2)
    reference, test = samples(np.random.default_rng(1))
    start = time.monotonic()
    for minutes in (0, 10, 20):
        check = drift_check(minutes)
        assert down.log_check(check, reference, test, feature_names=FEATURES) is None
    assert time.monotonic() - start < 15
    assert down.pending == 2  # the oldest was dropped
    assert len(list(spool.glob("*.json"))) == 2
    assert down.flush_pending() == 0
    # MLflow's HTTP settings are the caller's again
    assert os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] == "77"
    assert "MLFLOW_HTTP_REQUEST_MAX_RETRIES" not in os.environ

    # another process (here: on a store that works) picks the spooled checks up
    up = make_logger(sqlite_tracking_uri, spool_dir=spool)
    assert up.pending == 2
    assert up.flush_pending() == 2
    assert not list(spool.glob("*.json"))
    runs = check_runs(sqlite_tracking_uri, f"monitoring/{model_name}")
    assert [r.info.start_time for r in runs] == [ms(T0 + timedelta(minutes=m)) for m in (10, 20)]
    png = download(sqlite_tracking_uri, runs[0].info.run_id, "drift_plot.png", tmp_path / "p")
    assert png.startswith(PNG)


def test_a_hung_server_costs_the_request_timeout(make_logger):
    import socket

    with socket.socket() as hung:  # accepts connections, never answers
        hung.bind(("127.0.0.1", 0))
        hung.listen(8)
        uri = f"http://127.0.0.1:{hung.getsockname()[1]}"
        tracking = make_logger(uri, request_timeout=1, max_retries=0)
        start = time.monotonic()
        assert tracking.log_check(drift_check(0)) is None
        assert time.monotonic() - start < 5
    assert tracking.pending == 1


@pytest.mark.mlflow_server
def test_server_down_then_back(mlflow_server, make_logger, model_name, tmp_path):
    tracking = make_logger(mlflow_server.uri, spool_dir=tmp_path / "spool")
    assert tracking.log_check(drift_check(0)) is not None
    mlflow_server.stop()
    try:
        start = time.monotonic()
        assert tracking.log_check(drift_check(10, p_value=0.3)) is None
        assert time.monotonic() - start < 15
        assert tracking.pending == 1
        assert len(list((tmp_path / "spool").glob("*.json"))) == 1
    finally:
        mlflow_server.start()
    assert tracking.flush_pending() == 1
    assert tracking.pending == 0
    runs = check_runs(mlflow_server.uri, f"monitoring/{model_name}")
    assert [r.data.metrics["drift_p_value"] for r in runs] == [0.001, 0.3]
    points = history_points(mlflow_server.uri, tracking.history_run_id(), "drift_p_value")
    assert [(step, value) for step, _, value in points] == [(0, 0.001), (1, 0.3)]


def test_feature_metrics_are_capped_most_drifted_first():
    check = drift_check(0)
    features = tuple(FeatureDrift(f"f{i}", i / 100, 0.5, 0.5, False) for i in range(60))
    drift = DriftResult(**{**check.drift.__dict__, "features": features})
    metrics = check_metrics(CheckResult("drift", "ok", drift=drift), max_feature_metrics=5)
    stats = sorted(k for k in metrics if k.startswith("feature_ks_stat."))
    assert stats == [f"feature_ks_stat.f{i}" for i in range(55, 60)]
    assert len([k for k in metrics if k.startswith("feature_ks_pvalue.")]) == 5


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (["price/€", "a:b", "ok name-1.x"], ["price__", "a_b", "ok name-1.x"]),
        (["a/b", "a_b", "a%b"], ["a_b", "a_b_2", "a_b_3"]),
        (["", "..", "/"], ["_", "..", "__2"]),
    ],
    ids=["characters", "collisions", "empty-and-dots"],
)
def test_feature_metric_suffixes(names, expected):
    assert list(feature_metric_suffixes(names).values()) == expected


def test_long_feature_names_fit_mlflow_keys():
    suffixes = feature_metric_suffixes(["x" * 400, "x" * 401])
    assert len(set(suffixes.values())) == 2
    assert all(len(f"feature_ks_pvalue.{s}") <= 250 for s in suffixes.values())


@pytest.mark.parametrize(
    "kwargs",
    [{"model_name": ""}, {"model_version": " "}, {"max_pending": 0}, {"request_timeout": 0.5}],
    ids=["name", "version", "max-pending", "timeout"],
)
def test_bad_parameters(kwargs):
    with pytest.raises(ConfigError):
        CheckRunLogger(**{"model_name": "m", "model_version": 1, **kwargs})


def test_only_check_results_are_accepted():
    with pytest.raises(DataValidationError, match="CheckResult"):
        CheckRunLogger("m", 1, "sqlite:////nowhere/mlflow.db").log_check({"kind": "drift"})


def test_import_leaves_mlflow_and_matplotlib_alone():
    code = (
        "import sys, mlflow_monitor.tracking.check_runs;"
        "print([m for m in ('mlflow', 'matplotlib') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_histogram_samples_follow_dataframe_columns(caplog):
    import pandas as pd

    from mlflow_monitor.tracking.artifacts import histogram_samples

    drift = drift_check(0).drift
    reference = pd.DataFrame({"stars": [1.0, 2.0], "length": [10.0, 20.0], "price/€": [5.0, 6.0]})
    test = reference[["price/€", "length", "stars"]] + 1
    picked = histogram_samples(drift, reference, test, feature_names=FEATURES)
    assert list(picked) == ["length", "price/€", "stars"]  # most drifted first
    assert picked["length"] == ([10.0, 20.0], [11.0, 21.0])
    with caplog.at_level(logging.WARNING, logger="mlflow_monitor.tracking.artifacts"):
        assert histogram_samples(drift, np.ones((5, 2)), np.ones((5, 2)), None) == {}
    assert "not drawing histograms" in caplog.text

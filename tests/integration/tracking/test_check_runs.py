"""CheckRunLogger against a real ``mlflow server`` (and, alike, the embedded SQLite store):
the runs, artifacts and history it logs, and a server that goes down and comes back.
"""

from __future__ import annotations

import csv
import json
import time
from datetime import timedelta

import numpy as np
import pytest

from mlflow_monitor import (
    CheckResult,
)
from tests.support.check_runs import (
    FEATURES,
    PNG,
    T0,
    check_runs,
    client_for,
    download,
    drift_check,
    history_points,
    ms,
    performance_check,
    samples,
)

# MLflow 3.17's SQL store maps a relationship with ``lazy="noload"``, which SQLAlchemy 2.1
# deprecates; the warning comes once per process, from whichever test first touches the store.
pytestmark = pytest.mark.filterwarnings(
    "ignore:The ``noload`` loader strategy is deprecated:sqlalchemy.exc.SADeprecationWarning"
)


@pytest.fixture(params=["sqlite", pytest.param("server", marks=pytest.mark.mlflow_server)])
def tracking_uri(request, sqlite_tracking_uri) -> str:
    if request.param == "sqlite":
        return sqlite_tracking_uri
    return request.getfixturevalue("mlflow_server").uri


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
    assert runs[0].info.run_name == f"drift \u2717 p=0.001 \u00b7 {model_name} v3"
    assert runs[0].info.start_time == ms(T0)
    assert runs[0].data.tags["mlflow_monitor.drifted_features"] == "length, price/€"

    drift_metrics = runs[0].data.metrics
    assert drift_metrics["drift/p_value"] == 0.001 and drift_metrics["drift/detected"] == 1.0
    assert (drift_metrics["drift/n_test"], drift_metrics["drift/n_reference"]) == (100, 200)
    assert drift_metrics["feature/price__/ks_statistic"] == 0.30
    assert drift_metrics["feature/length/ks_p_value"] == 3e-9  # the corrected one decides
    assert drift_metrics["feature/length/ks_raw_p_value"] == 1e-9
    assert runs[0].data.params["drift/feature_correction"] == "bonferroni"
    perf_metrics = runs[2].data.metrics
    assert perf_metrics["performance/precision"] == 0.8
    assert perf_metrics["performance/window_size"] == 100
    assert perf_metrics["performance/degraded"] == 1.0
    assert perf_metrics["performance/precision_baseline"] == 0.9
    assert perf_metrics["performance/precision_delta"] == -0.1
    assert "performance/accuracy_baseline" not in perf_metrics
    assert perf_metrics["performance/confusion/true_negatives"] == 35

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

    assert history_points(tracking_uri, history_id, "drift/p_value") == [
        (0, ms(T0), 0.001),
        (1, ms(T0 + timedelta(minutes=10)), 0.4),
    ]
    assert history_points(tracking_uri, history_id, "performance/precision") == [
        (0, ms(T0 + timedelta(minutes=15)), 0.8)
    ]
    history = client_for(tracking_uri).get_run(history_id)
    assert history.info.status == "FINISHED"
    assert history.data.tags["mlflow_monitor.role"] == "history"
    assert "mlflow.parentRunId" not in history.data.tags


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
    assert [r.data.metrics["drift/p_value"] for r in runs] == [0.001, 0.3]
    points = history_points(mlflow_server.uri, tracking.history_run_id(), "drift/p_value")
    assert [(step, value) for step, _, value in points] == [(0, 0.001), (1, 0.3)]

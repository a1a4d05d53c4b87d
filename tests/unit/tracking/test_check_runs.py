"""CheckRunLogger on MLflow's embedded SQLite store, and on servers that are not there or
never answer: checks as child runs of a history run, spooling, retries; metric names.
Against a real ``mlflow server``: tests/integration/tracking/test_check_runs.py.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from datetime import timedelta

import numpy as np
import pytest

from mlflow_monitor import (
    CheckResult,
    ConfigError,
    DataValidationError,
    DriftResult,
    FeatureDrift,
)
from mlflow_monitor.tracking.check_runs import (
    CheckRunLogger,
    check_metrics,
    feature_metric_suffixes,
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


def test_steps_continue_in_a_new_process(sqlite_tracking_uri, make_logger, model_name):
    first = make_logger(sqlite_tracking_uri)
    first.log_check(drift_check(0))
    first.log_check(performance_check(1))
    # a fresh logger stands for a restarted server or another process
    second = make_logger(sqlite_tracking_uri)
    second.log_check(drift_check(10, p_value=0.2))
    history_id = second.history_run_id()
    assert history_id == first.history_run_id()
    steps = history_points(sqlite_tracking_uri, history_id, "drift/p_value")
    assert [(step, value) for step, _, value in steps] == [(0, 0.001), (1, 0.2)]
    # each version has its own history run
    other = make_logger(sqlite_tracking_uri, model_version=4)
    other.log_check(drift_check(20))
    assert other.history_run_id() != history_id
    assert [
        s
        for s, _, _ in history_points(sqlite_tracking_uri, other.history_run_id(), "drift/p_value")
    ] == [0]


def test_history_run_ends_at_its_last_check(sqlite_tracking_uri, make_logger):
    tracking = make_logger(sqlite_tracking_uri)
    tracking.log_check(drift_check(0))
    client = client_for(sqlite_tracking_uri)
    history = client.get_run(tracking.history_run_id())
    assert history.info.status == "FINISHED"
    assert history.info.end_time >= ms(drift_check(0).timestamp)
    tracking.end_history()  # a retired version
    assert client.get_run(tracking.history_run_id()).info.status == "KILLED"
    tracking.log_check(drift_check(10))
    later = client.get_run(tracking.history_run_id())
    assert later.info.status == "FINISHED" and later.info.end_time >= history.info.end_time


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
    experiment = client_for(sqlite_tracking_uri).get_experiment(history.info.experiment_id)
    assert not any("next_step" in key for key in experiment.tags)
    assert not any("next_step" in key for key in history.data.tags)


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
    assert [s for s, _, _ in history_points(sqlite_tracking_uri, history_id, "drift/p_value")] == [
        0
    ]
    experiment = client.get_experiment(client.get_run(history_id).info.experiment_id)
    assert experiment.tags["mlflow_monitor.next_step.3.drift"] == "1"


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
    from tests.support.ports import free_port

    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "77")
    monkeypatch.delenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", raising=False)
    spool = tmp_path / "spool"
    down = make_logger(f"http://127.0.0.1:{free_port()}", spool_dir=spool, max_pending=2)
    reference, test = samples(np.random.default_rng(1))
    start = time.monotonic()
    for minutes in (0, 10, 20):
        check = drift_check(minutes)
        earlier = [drift_check(m, p_value=0.6) for m in range(-50, minutes, 10)]
        logged = down.log_check(check, reference, test, feature_names=FEATURES, history=earlier)
        assert logged is None
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
    # the report was made from the spooled check: its samples and the history of its time
    report = download(sqlite_tracking_uri, runs[1].info.run_id, "report.html", tmp_path / "r")
    text = report.decode()
    assert "2 of 3 columns drifted" in text and 'aria-label="length"' in text
    recent = text[text.index("<h2>Recent checks</h2>") :]
    assert recent.count("<circle") == 8  # 7 earlier checks (from -50 to 10 minutes) and it


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


def test_feature_metrics_are_capped_most_drifted_first():
    check = drift_check(0)
    features = tuple(FeatureDrift(f"f{i}", i / 100, 0.5, 0.5, False) for i in range(60))
    drift = DriftResult(**{**check.drift.__dict__, "features": features})
    metrics = check_metrics(CheckResult("drift", "ok", drift=drift), max_feature_metrics=5)
    stats = sorted(k for k in metrics if k.endswith("/ks_statistic"))
    assert stats == [f"feature/f{i}/ks_statistic" for i in range(55, 60)]
    assert len([k for k in metrics if k.endswith("/ks_p_value")]) == 5


def test_the_shown_feature_p_value_is_the_one_the_verdict_used():
    metrics = check_metrics(drift_check(0))
    # length: raw KS p 1e-9, Bonferroni over 3 features 3e-9 (what decided "drifted")
    assert metrics["feature/length/ks_p_value"] == pytest.approx(3e-9)
    assert metrics["feature/length/ks_raw_p_value"] == pytest.approx(1e-9)
    assert not [k for k in metrics if k.endswith("ks_adjusted_p_value")]


def test_alarm_and_effect_are_logged():
    from mlflow_monitor.drift.alarm import AlarmPolicy

    check = drift_check(0)
    drift = DriftResult(**{**check.drift.__dict__, "score": 5.0, "effect_size": 0.4})
    drift = DriftResult(**{**drift.__dict__, "alarm": AlarmPolicy().update(drift)})
    metrics = check_metrics(CheckResult("drift", "drift", drift=drift))
    assert metrics["drift/alarm"] == 1.0 and metrics["drift/effect_size"] == 0.4
    assert metrics["drift/evidence"] >= metrics["drift/alarm_threshold"] > 0


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
    assert all(len(f"feature/{s}/ks_raw_p_value") <= 250 for s in suffixes.values())


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

"""A retraining callback that raises and a retraining project run that fails: both are logged
and recorded in the trigger history with their error, and the scheduled checks keep running.
The project is a real MLflow project whose ``retrain`` entry point exits with an error, run
by ``mlflow.projects.run`` in a real subprocess.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from mlflow_monitor import create_monitor

BASELINE = {"precision": 0.9, "recall": 0.9, "accuracy": 0.9, "f1_score": 0.9}


@pytest.fixture
def failing_project(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    project.mkdir()
    (project / "MLproject").write_text(
        "name: failing-retrain\n"
        "entry_points:\n"
        "  retrain:\n"
        '    command: "python -c \\"import sys; sys.exit(3)\\""\n'
    )
    return project


def _wait(condition, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.1)


def test_failing_callback_and_failing_run_are_recorded_and_checks_go_on(
    embedded_tracking, failing_project, caplog
):
    def broken(reason, details):
        raise RuntimeError("the retraining queue is down")

    monitor = create_monitor(
        {
            "model_name": "failing-retrain",
            "enable_drift_detection": False,
            "performance_min_samples": 20,
            "performance_check_minutes": 0.01,  # every 0.6 s
            "retraining_cooldown_minutes": 0,
            "retraining_callback": broken,
            "retrain_project_uri": str(failing_project),
        },
        registry=CollectorRegistry(),
    )
    monitor.setup_performance_baseline(BASELINE)
    for _ in range(30):  # every prediction wrong: degraded at every check
        monitor.record_prediction(1, 0.9, true_label=0)

    def ended_runs():
        return [e for e in monitor.triggers.history if e.retrain_status not in (None, "RUNNING")]

    def launched():
        return {e.retrain_run_id for e in monitor.triggers.history if e.retrain_run_id}

    with caplog.at_level(logging.INFO), monitor:
        # A first run is launched and fails; a later trigger launches a second one.
        _wait(lambda: ended_runs() and len(launched()) >= 2)
        checks_before = monitor.get_monitoring_status()["performance"]["last_check"]["timestamp"]
        _wait(
            lambda: (
                monitor.get_monitoring_status()["performance"]["last_check"]["timestamp"]
                != checks_before
            )
        )
        status = monitor.get_monitoring_status()
    monitor.close()

    failed = ended_runs()[0]
    assert failed.retrain_status == "FAILED"
    assert f"retraining run {failed.retrain_run_id}: ended FAILED" in failed.callback_errors
    assert any("RuntimeError: the retraining queue is down" in e for e in failed.callback_errors)
    assert all(
        any("the retraining queue is down" in error for error in event.callback_errors)
        for event in monitor.triggers.history
    ), "every fired trigger ran the callback and recorded its error"
    assert status["healthy"] and not status["errors"]  # the checks themselves never failed
    assert "retraining callback" in caplog.text and "failed" in caplog.text
    assert f"retraining run {failed.retrain_run_id} ended: FAILED" in caplog.text

    import mlflow

    run = mlflow.get_run(failed.retrain_run_id)
    assert run.info.status == "FAILED"
    assert run.data.params["trigger_reason"] == "performance_degradation"

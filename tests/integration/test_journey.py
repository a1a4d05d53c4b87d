"""The whole plugin journey: train -> wrap -> load -> predict -> check before labels ->
trigger -> retrain project run -> feedback -> check -> new version -> baselines, against a
real ``mlflow server``.

On the embedded SQLite store the same journey is ``make demo``'s (examples/mlflow_journey.py),
which checks every exit code and output on its way; the browser tests
(tests/integration/ui/) run it once and fail when it does.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

import mlflow
import pytest

from mlflow_monitor.cli import EXIT_BOTH, EXIT_DEGRADED, cli
from tests.support.paths import REPO
from tests.support.reviews import make_reviews

NO_SCHEDULE = {"schedule_checks": False}


@pytest.fixture
def project_env(monkeypatch, tmp_path):
    """Environment for `mlflow run --env-manager local`: this Python's `python` on PATH."""
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("MLFLOW_MONITOR_STORE_URI", f"sqlite:///{tmp_path}/inference.db")
    previous = mlflow.get_tracking_uri()
    yield
    mlflow.set_tracking_uri(previous)


def wait_for_version(client, name: str, version: str, timeout: float = 240) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        versions = {str(v.version): v for v in client.search_model_versions(f"name = '{name}'")}
        if version in versions:
            return versions[version]
        time.sleep(1)
    raise AssertionError(f"{name} version {version} was not registered within {timeout} s")


def _flat(table: str) -> str:
    """A printed table's text with its rules and line breaks gone: a cell wrapped over
    several lines reads as one."""
    return " ".join(re.sub("[\u2500-\u257f]", " ", table).split())


def journey(tracking_uri: str, runner, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_uri)
    mlflow.set_tracking_uri(tracking_uri)
    client = mlflow.MlflowClient(tracking_uri)
    name = f"journey-{uuid.uuid4().hex[:8]}"
    monitor_config = {
        "retrain_project_uri": str(REPO),
        "drift_min_samples": 50,
        "performance_min_samples": 30,
        "random_seed": 0,
    }
    train = subprocess.run(
        [
            sys.executable,
            "-m",
            "mlflow",
            "run",
            str(REPO),
            "-e",
            "train",
            "-P",
            f"model_name={name}",
            "-P",
            f"monitor_config={json.dumps(monitor_config)}",
            "--env-manager",
            "local",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert train.returncode == 0, train.stderr[-3000:]
    monitored_uri = f"models:/{name}-monitored/1"

    # serve short reviews of words mostly unseen in training: the model is less sure of them,
    # and gets more of them wrong
    model = mlflow.pyfunc.load_model(monitored_uri, model_config=NO_SCHEDULE)
    traffic = make_reviews(200, seed=21, style_shift=0.4, words=(1, 5))
    ids = [f"req-{i}" for i in range(len(traffic))]
    model.predict(traffic[["text"]].assign(prediction_id=ids))
    model.unwrap_python_model().monitor.close()  # flush to the shared store

    # before any label: drift, and the drop the model's confidence shows
    unlabelled = runner.invoke(cli, ["check", monitored_uri])
    assert unlabelled.exit_code == EXIT_BOTH, unlabelled.output
    shown = _flat(unlabelled.output)
    assert "no labels yet" in shown and "0 labelled; decides the verdict" in shown

    labels = tmp_path / "labels.csv"
    traffic.assign(prediction_id=ids).rename(columns={"is_fake": "true_label"})[
        ["prediction_id", "true_label"]
    ].to_csv(labels, index=False)
    fed = runner.invoke(cli, ["feedback", monitored_uri, "--file", str(labels)])
    assert fed.exit_code == 0, fed.output
    assert "recorded 200 of 200 labels" in fed.output

    # the labels confirm it; the drift check has no new rows to test
    checked = runner.invoke(cli, ["check", monitored_uri])
    assert checked.exit_code == EXIT_DEGRADED, checked.output
    shown = _flat(checked.output)
    assert "over 200 labels" in shown and "200 labelled; estimated - realized" in shown

    # the check before the labels launched the retrain entry point, which registered
    # version 2: for the estimated degradation, or the drift alarm when one check's evidence
    # is enough
    version = wait_for_version(client, name, "2")
    deadline = time.monotonic() + 120
    while client.get_run(version.run_id).info.status == "RUNNING":
        assert time.monotonic() < deadline, "the retraining run did not finish"
        time.sleep(1)
    assert client.get_run(version.run_id).info.status == "FINISHED"
    version = client.get_model_version(name, "2")  # tags are set after registration
    reason = version.tags["mlflow_monitor.trigger_reason"]
    assert reason in ("data_drift", "performance_degradation")
    check_run = client.get_run(version.tags["mlflow_monitor.check_run_id"])
    kind = "drift" if reason == "data_drift" else "performance"
    assert check_run.data.tags["mlflow_monitor.check"] == kind
    assert check_run.data.tags["mlflow_monitor.outcome"] == (
        "drift" if kind == "drift" else "degraded"
    )
    assert check_run.data.tags["mlflow_monitor.retrain_run_id"] == version.run_id
    if kind == "drift":
        assert check_run.data.metrics["drift/p_value"] < 0.05
    else:
        assert check_run.data.metrics["performance/estimated_degraded"] == 1
        assert check_run.data.metrics["performance/window_size"] == 0  # not one label
    wait_for_version(client, f"{name}-monitored", "2")

    table = runner.invoke(cli, ["baselines", name, "--format", "json"])
    assert table.exit_code == 0, table.output
    rows = {row["version"]: row for row in json.loads(table.output)}
    assert set(rows) == {1, 2}
    assert rows[1]["drift_detected"] is True and rows[1]["live_window"] == 200
    assert rows[1]["live_precision"] < rows[1]["baseline_precision"]
    assert rows[2]["trigger_reason"] == reason and rows[2]["created_by"] == "retrain"
    assert rows[2]["baseline_f1_score"] > 0.9


@pytest.mark.mlflow_server
def test_journey_against_a_tracking_server(
    mlflow_server, project_env, runner, tmp_path, monkeypatch
):
    journey(mlflow_server.uri, runner, tmp_path, monkeypatch)

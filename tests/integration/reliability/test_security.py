"""No secret leaves the process: the passwords in the URLs of a real PostgreSQL store and a
real tracking server are masked in the status, logs, saved state, the `status` command and
MLflow run data.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys

import numpy as np

from mlflow_monitor import create_monitor

SECRET = "s3cr3t-Pa55"


def _secret_free(text: str, where: str) -> None:
    assert SECRET not in text, f"the password appears in {where}"


def _with_password(url: str) -> str:
    scheme, rest = url.split("://", 1)
    user_host = rest.split("@", 1)
    if len(user_host) == 2:
        return f"{scheme}://{user_host[0]}:{SECRET}@{user_host[1]}"
    return f"{scheme}://monitor:{SECRET}@{rest}"


def test_passwords_stay_out_of_status_logs_state_cli_and_mlflow(
    postgres_uri, mlflow_server, tmp_path, caplog, capsys
):
    """A real PostgreSQL store (trust authentication ignores the password) and a real
    tracking server, both reached through URLs that carry a password."""
    from mlflow import MlflowClient

    store_uri = _with_password(postgres_uri)
    tracking_uri = _with_password(mlflow_server.uri)
    rng = np.random.default_rng(0)
    state = tmp_path / "state.json"
    with caplog.at_level(logging.DEBUG):
        monitor = create_monitor(
            {
                "store_uri": store_uri,
                "tracking_uri": tracking_uri,
                "log_checks": True,
                "model_name": "secret-model",
                "drift_min_samples": 20,
                "drift_window_size": 50,
                "retraining_cooldown_minutes": 0,
            }
        )
        try:
            monitor.setup_drift_detection(rng.normal(size=(200, 3)))
            monitor.record_predictions(
                rng.integers(0, 2, 40).tolist(),
                rng.uniform(size=40),
                features=rng.normal(2.0, 1.0, size=(40, 3)),
            )
            result = monitor.check_drift()
            assert result.status == "drift"
            status = monitor.get_monitoring_status()
            monitor.save_state(state)
        finally:
            monitor.close()
    assert status["config"]["store_uri"].endswith(postgres_uri.split("@", 1)[1])
    assert ":***@" in status["config"]["store_uri"]
    assert ":***@" in status["config"]["tracking_uri"]
    _secret_free(json.dumps(status), "the status")
    _secret_free(caplog.text, "the logs")
    _secret_free(capsys.readouterr().out, "stdout")
    _secret_free(state.read_text(errors="replace"), "the state file")

    client = MlflowClient(tracking_uri=mlflow_server.uri)
    (experiment,) = [e for e in client.search_experiments() if e.name == "monitoring/secret-model"]
    runs = client.search_runs([experiment.experiment_id])
    assert runs, "the check was not logged"
    for run in runs:
        _secret_free(json.dumps(run.data.params), f"params of run {run.info.run_id}")
        _secret_free(json.dumps(run.data.tags), f"tags of run {run.info.run_id}")
        _secret_free(json.dumps(run.data.metrics), f"metrics of run {run.info.run_id}")
        local = client.download_artifacts(run.info.run_id, "", str(tmp_path / run.info.run_id))
        for root, _dirs, files in os.walk(local):
            for name in files:
                with open(os.path.join(root, name), "rb") as handle:
                    assert SECRET.encode() not in handle.read(), f"artifact {name}"

    # The `status` command as a user runs it (its own process: it leaves the store to exit).
    for extra in ([], ["--json"]):
        outcome = subprocess.run(
            [sys.executable, "-m", "mlflow_monitor.cli", "status", *extra, str(state)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert outcome.returncode == 0, outcome.stderr[-2000:]
        _secret_free(outcome.stdout + outcome.stderr, "the status command")

"""No secret leaves the process: passwords in store and tracking URLs are masked in the status,
logs, saved state, the `status` command and MLflow run data; the serve token is never echoed.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys

import numpy as np
import pytest
from fastapi.testclient import TestClient
from mlflow_server import free_port

from mlflow_monitor import create_monitor
from mlflow_monitor.redaction import describe_exception, redact_config, redact_text, redact_uri
from mlflow_monitor.results import CheckResult
from mlflow_monitor.tracking.check_runs import CheckRunLogger

SECRET = "s3cr3t-Pa55"
TOKEN = "tok-5f1d2c9e-never-echo"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            f"postgresql+psycopg://monitor:{SECRET}@db.internal:5432/monitoring",
            "postgresql+psycopg://monitor:***@db.internal:5432/monitoring",
        ),
        (f"https://alice:{SECRET}@mlflow.example.com", "https://alice:***@mlflow.example.com"),
        (f"postgresql://u:p@ss{SECRET}@host/db", "postgresql://u:***@host/db"),
        (
            f"postgresql://host/db?user=u&password={SECRET}",
            "postgresql://host/db?user=u&password=***",
        ),
        (f"http://h/x?token={SECRET}&a=1", "http://h/x?token=***&a=1"),
        (
            "postgresql+psycopg://postgres@127.0.0.1:5432/db",
            "postgresql+psycopg://postgres@127.0.0.1:5432/db",
        ),
        ("sqlite:////srv/monitor.db", "sqlite:////srv/monitor.db"),
        ("models:/reviews/3", "models:/reviews/3"),
        (
            f"API request to http://a:{SECRET}@h:1/api failed; retry http://b:{SECRET}@h:2/",
            "API request to http://a:***@h:1/api failed; retry http://b:***@h:2/",
        ),
    ],
    ids=[
        "postgres",
        "https",
        "at-in-password",
        "query",
        "token-param",
        "no-password",
        "sqlite",
        "models",
        "in-a-message",
    ],
)
def test_redact_text(text, expected):
    assert redact_text(text) == expected
    assert redact_uri(text) == expected


def test_redact_config_masks_every_url_option():
    options = {
        "store_uri": f"postgresql+psycopg://u:{SECRET}@h/db",
        "tracking_uri": f"https://u:{SECRET}@mlflow",
        "retrain_project_uri": f"https://u:{SECRET}@git.example.com/org/retrain.git",
        "model_name": "m",
    }
    assert SECRET not in json.dumps(redact_config(options))
    assert redact_config(options)["model_name"] == "m"


def test_describe_exception_masks_the_message_and_traceback():
    try:
        raise ConnectionError(f"cannot reach http://u:{SECRET}@h:1/api")
    except ConnectionError as exc:
        assert SECRET not in describe_exception(exc)
        assert SECRET not in describe_exception(exc, with_traceback=True)
        assert "ConnectionError" in describe_exception(exc, with_traceback=True)


def _secret_free(text: str, where: str) -> None:
    assert SECRET not in text, f"the password appears in {where}"


def test_unreachable_tracking_server_logs_no_password(caplog):
    tracking_uri = f"http://monitor:{SECRET}@127.0.0.1:{free_port()}"
    tracking = CheckRunLogger("secret-model", 1, tracking_uri, request_timeout=1, max_retries=0)
    result = CheckResult("performance", "ok")
    with caplog.at_level(logging.DEBUG):
        assert tracking.log_check(result) is None  # kept for later
        with pytest.raises(Exception) as raised:
            tracking.history_run_id()
    _secret_free(caplog.text, "the logs")
    assert "monitor:***@127.0.0.1" in caplog.text
    error: BaseException | None = raised.value
    while error is not None:  # nor anywhere in the chain a traceback would print
        _secret_free(str(error), f"the {type(error).__name__} raised")
        error = error.__cause__ or (None if error.__suppress_context__ else error.__context__)


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


def test_wrapped_model_config_holds_no_password():
    from mlflow_monitor.model.wrap import _monitor_options

    options = _monitor_options(
        {
            "store_uri": f"postgresql+psycopg://u:{SECRET}@h/db",
            "tracking_uri": f"https://u:{SECRET}@mlflow.example.com",
        }
    )
    _secret_free(json.dumps(options), "the monitor.json a wrapped model logs")


# -- the serve token ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def wrapped(embedded_tracking):
    from reliability_support import wrap_example

    return wrap_example("secret-reviews", {"metrics_prefix": "secret_reviews"})


def test_the_token_is_never_echoed(wrapped, tmp_path, monkeypatch, caplog):
    from mlflow_monitor.serving.app import create_app
    from mlflow_monitor.serving.settings import TOKEN_ENV, ServeSettings

    monkeypatch.setenv("MLFLOW_MONITOR_STORE_URI", f"sqlite:///{tmp_path}/inference.db")
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    for name, value in ServeSettings(wrapped.uri, schedule_checks=False).to_env().items():
        monkeypatch.setenv(name, value)
    settings = ServeSettings.from_env()
    assert settings.token == TOKEN
    good = {"Authorization": f"Bearer {TOKEN}"}
    bad = {"Authorization": f"Bearer {TOKEN[:-1]}"}  # a near miss
    answers = []
    with caplog.at_level(logging.DEBUG), TestClient(create_app(settings)) as client:
        (first,) = client.post("/predict", json=[{"text": "works fine"}]).json()
        pid = first["prediction_id"]
        for headers in (good, bad, {}):
            answers += [
                client.post(
                    "/monitoring/feedback",
                    json={"prediction_id": pid, "true_label": 1},
                    headers=headers,
                ),
                client.post(
                    "/monitoring/feedback", json={"prediction_id": "nope"}, headers=headers
                ),
                client.post(
                    "/monitoring/trigger-retraining", json={"reason": "x"}, headers=headers
                ),
                client.get("/monitoring/status", headers=headers),
                client.get("/health", headers=headers),
                client.get("/metrics", headers=headers),
                client.get("/openapi.json", headers=headers),
                client.post("/predict", json={"text": 1}, headers=headers),
            ]
    statuses = [a.status_code for a in answers]
    assert statuses[0] == 200 and statuses[8] == 401 and statuses[16] == 401
    for answer in answers:
        assert TOKEN not in answer.text
        assert TOKEN not in json.dumps(dict(answer.headers))
    assert TOKEN not in caplog.text

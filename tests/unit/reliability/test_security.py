"""No secret leaves the process: passwords in store and tracking URLs are masked in
messages, logs and a wrapped model's settings; the serve token is never echoed. With a
real PostgreSQL store and ``mlflow server``: tests/integration/reliability/test_security.py.
"""

from __future__ import annotations

import json
import logging

import pytest
from fastapi.testclient import TestClient

from mlflow_monitor.redaction import describe_exception, redact_config, redact_text, redact_uri
from mlflow_monitor.results import CheckResult
from mlflow_monitor.tracking.check_runs import CheckRunLogger
from tests.support.ports import free_port

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
        # Issue #16: a secret given as the user name alone.
        ("https://ghp_0123456789abcdefABCDEF@github.com/o/r", "https://***@github.com/o/r"),
        ("http://tok@mlflow.internal:5000", "http://***@mlflow.internal:5000"),
        (
            "postgresql+psycopg://0123456789abcdefABCDEFxyz@db/monitoring",
            "postgresql+psycopg://***@db/monitoring",
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
        "bare-user-token-https",
        "bare-user-http",
        "bare-token-like-user-postgres",
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
    from tests.support.reviews import wrap_example

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

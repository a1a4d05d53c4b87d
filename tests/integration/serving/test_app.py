"""The `mlflow-monitor serve` app in-process, its metrics checked by promtool. The app's
endpoints and their errors: tests/unit/serving/test_app.py.
"""

from __future__ import annotations

import math
import subprocess

import pytest
from fastapi.testclient import TestClient

from mlflow_monitor.serving.app import ServeSettings, create_app, load_monitored_model
from tests.support.reviews import make_reviews
from tests.support.services import require_executable

TOKEN = "s3cret-token"
PREFIX = "app_reviews"


@pytest.fixture(scope="module")
def wrapped(app_reviews):
    return app_reviews


@pytest.fixture
def store_uri(tmp_path, monkeypatch):
    uri = f"sqlite:///{tmp_path}/inference.db"
    monkeypatch.setenv("MLFLOW_MONITOR_STORE_URI", uri)
    return uri


def _client(settings: ServeSettings) -> TestClient:
    """A client of the app; ``client.flush()`` writes the app's queued records."""
    model = load_monitored_model(settings.model_uri, settings.schedule_checks)
    test_client = TestClient(create_app(settings, model))
    test_client.flush = model.unwrap_python_model().monitor.store.flush  # type: ignore[attr-defined]
    return test_client


@pytest.fixture
def client(wrapped, store_uri):
    with _client(ServeSettings(wrapped.uri, token=TOKEN, schedule_checks=False)) as test_client:
        yield test_client


def _metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith((name + " ", name + "{")):
            return float(line.split()[1])
    raise AssertionError(f"{name} not in /metrics")


def _predict_ids(client, n: int) -> list[str]:
    rows = [{"text": t} for t in make_reviews(n, seed=7)["text"]]
    return [a["prediction_id"] for a in client.post("/predict", json=rows).json()]


def test_metrics_count_predictions_and_pass_promtool(client):
    _predict_ids(client, 7)
    for path in ("/metrics", "/monitoring/metrics"):
        response = client.get(path)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain")
        assert _metric(response.text, f"{PREFIX}_predictions_total") == 7
        assert math.isnan(_metric(response.text, f"{PREFIX}_drift_p_value"))
    promtool = require_executable("promtool", "prometheus")
    checked = subprocess.run(
        [promtool, "check", "metrics"],
        input=client.get("/metrics").text,
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr

"""The serve app for a regressor and a multiclass classifier: predictions and feedback of
the task's kind, over the app's HTTP interface."""

from __future__ import annotations

import mlflow
import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sklearn.linear_model import LinearRegression, LogisticRegression

from mlflow_monitor.model.wrap import wrap
from mlflow_monitor.serving.app import ServeSettings, create_app, load_monitored_model


def _served(name: str, model, frame: pd.DataFrame, baseline: dict) -> TestClient:
    with mlflow.start_run():
        mlflow.sklearn.log_model(
            model, name="m", registered_model_name=name, input_example=frame.head(2)
        )
    wrapped = wrap(f"models:/{name}/1", frame, baseline, {"performance_min_samples": 2})
    loaded = load_monitored_model(wrapped.uri, False)
    client = TestClient(create_app(ServeSettings(wrapped.uri, schedule_checks=False), loaded))
    client.monitor = loaded.unwrap_python_model().monitor  # type: ignore[attr-defined]
    return client


@pytest.fixture
def frame():
    rng = np.random.default_rng(0)
    return pd.DataFrame(rng.normal(size=(120, 2)), columns=["size", "age"])


def test_a_regressor_answers_values_and_takes_float_targets(
    embedded_tracking, frame, tmp_path, monkeypatch
):
    monkeypatch.setenv("MLFLOW_MONITOR_STORE_URI", f"sqlite:///{tmp_path}/inference.db")
    target = 3 * frame["size"] - frame["age"] + 0.5
    with _served(
        "served-regressor", LinearRegression().fit(frame, target), frame, {"mae": 1.0}
    ) as client:
        answer = client.post("/predict", json={"size": 1.0, "age": 2.0})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["prediction"] == pytest.approx(1.5) and body["probability"] is None
        sent = client.post(
            "/monitoring/feedback",
            json={"prediction_id": body["prediction_id"], "true_label": 1.75},
        )
        assert sent.status_code == 200, sent.text
        client.monitor.store.flush()
        assert client.monitor.store.labelled_window(5) == [(pytest.approx(1.5), 1.75)]
        refused = client.post(
            "/monitoring/feedback", json={"prediction_id": body["prediction_id"], "true_label": "x"}
        )
        assert refused.status_code == 422


def test_a_multiclass_classifier_answers_its_classes(
    embedded_tracking, frame, tmp_path, monkeypatch
):
    monkeypatch.setenv("MLFLOW_MONITOR_STORE_URI", f"sqlite:///{tmp_path}/inference.db")
    classes = np.array(["low", "mid", "high"])[np.digitize(frame["size"], [-0.5, 0.5])]
    model = LogisticRegression().fit(frame, classes)
    with _served("served-classes", model, frame, {"macro_f1": 0.5}) as client:
        answers = client.post(
            "/predict", json=[{"size": -2.0, "age": 0.0}, {"size": 2.0, "age": 0.0}]
        )
        assert answers.status_code == 200, answers.text
        assert [a["prediction"] for a in answers.json()] == ["low", "high"]
        pid = answers.json()[0]["prediction_id"]
        sent = client.post("/monitoring/feedback", json={"prediction_id": pid, "true_label": "mid"})
        assert sent.status_code == 200, sent.text
        assert client.monitor.config.task == "multiclass"


def test_a_probability_model_served_keeps_every_class_probability(
    embedded_tracking, frame, tmp_path, monkeypatch
):
    monkeypatch.setenv("MLFLOW_MONITOR_STORE_URI", f"sqlite:///{tmp_path}/inference.db")
    classes = np.array(["low", "mid", "high"])[np.digitize(frame["size"], [-0.5, 0.5])]
    model = LogisticRegression().fit(frame, classes)
    with mlflow.start_run():
        mlflow.sklearn.log_model(
            model,
            name="m",
            registered_model_name="served-proba",
            input_example=frame.head(2),
            pyfunc_predict_fn="predict_proba",
        )
    wrapped = wrap("models:/served-proba/1", frame, {"accuracy": 0.5}, {"task": "multiclass"})
    loaded = load_monitored_model(wrapped.uri, False)
    monitor = loaded.unwrap_python_model().monitor
    assert monitor.config.classes == ["high", "low", "mid"]  # the model's classes_
    rows = [{"size": -2.0, "age": 0.0}, {"size": 2.0, "age": 1.0}, {"size": 0.1, "age": 0.0}]
    app = create_app(ServeSettings(wrapped.uri, schedule_checks=False), loaded)
    with TestClient(app) as client:
        one = client.post("/predict", json=rows[0])
        many = client.post("/predict", json=rows[1:])
        assert one.status_code == 200 and many.status_code == 200, (one.text, many.text)
        answers = [one.json(), *many.json()]
        monitor.store.flush()
        recent = monitor.store.recent_outputs(3)
    expected = model.predict_proba(pd.DataFrame(rows))
    assert [a["prediction"] for a in answers] == ["low", "high", "mid"]
    assert [p for p, _, _ in recent] == ["low", "high", "mid"]
    np.testing.assert_allclose(np.vstack([v for _, _, v in recent]), expected)
    np.testing.assert_allclose([a["probability"] for a in answers], expected.max(axis=1))

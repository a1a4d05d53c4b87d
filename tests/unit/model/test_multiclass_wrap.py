"""A wrapped multiclass model whose inner model returns its probability matrix: wrap keeps the
reference's matrix and the model's classes, the monitored model records every class's
probability of each prediction (one row and many), and a check estimates accuracy and
macro F1 and tests each class's probability before any label."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import numpy as np
import pytest
from sklearn.datasets import load_wine
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from mlflow_monitor.model.artifacts import read_settings
from mlflow_monitor.model.wrap import wrap

CONFIG = {"performance_min_samples": 30, "drift_min_samples": 30, "random_seed": 0}


@pytest.fixture(scope="module")
def wine_proba(embedded_tracking):
    x, y = load_wine(return_X_y=True, as_frame=True)
    x.columns = [str(c) for c in x.columns]
    x_train, x_rest, y_train, y_rest = train_test_split(x, y, test_size=0.7, random_state=0)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500, C=0.1))
    model.fit(x_train, y_train)
    with mlflow.start_run():
        mlflow.sklearn.log_model(
            model,
            name="m",
            registered_model_name="wine-proba",
            input_example=x_train.head(3),
            pyfunc_predict_fn="predict_proba",
        )
    return model, x_rest, y_rest


def test_a_wrapped_probability_model_records_vectors_and_estimates(wine_proba, tmp_path):
    model, x_rest, y_rest = wine_proba
    reference, live = x_rest.iloc[:70], x_rest.iloc[70:]
    wrapped = wrap(
        "models:/wine-proba/1", reference, None, CONFIG, reference_labels=y_rest.iloc[:70]
    )
    assert wrapped.task == "multiclass"
    model_dir = Path(mlflow.artifacts.download_artifacts(wrapped.uri, dst_path=str(tmp_path / "m")))
    _, settings = read_settings(next(model_dir.rglob("monitor.json")))
    assert settings.classes == (0, 1, 2)
    saved = json.loads(next(model_dir.rglob("estimation_reference.json")).read_text())
    assert saved["classes"] == [0, 1, 2] and np.shape(saved["probabilities"]) == (70, 3)
    outputs = json.loads(next(model_dir.rglob("reference_outputs.json")).read_text())
    assert np.shape(outputs["class_probabilities"])[1] == 3

    monitored = mlflow.pyfunc.load_model(wrapped.uri, model_config={"schedule_checks": False})
    monitor = monitored.unwrap_python_model().monitor
    assert monitor.config.classes == [0, 1, 2]
    output = monitored.predict(live)
    np.testing.assert_allclose(output, model.predict_proba(live))  # the output is unchanged
    monitored.predict(live.head(1))  # the one-row path
    monitor.store.flush()
    recent = monitor.store.recent_outputs(len(live) + 1)
    vectors = np.vstack([v for _, _, v in recent])
    expected = np.vstack([model.predict_proba(live), model.predict_proba(live.head(1))])
    np.testing.assert_allclose(vectors, expected)
    assert [p for p, _, _ in recent] == expected.argmax(axis=1).tolist()

    performance = monitor.check_performance()
    estimate = performance.performance.estimated
    assert estimate is not None and set(estimate.metrics) == {"accuracy", "macro_f1"}
    realized = float(np.mean(model.predict(live) == y_rest.iloc[70:].to_numpy()))
    # 55 rows of a model that is right about 97% of the time: the estimate is close.
    assert abs(estimate.metrics["accuracy"] - realized) < 0.08
    drift = monitor.check_drift().prediction_drift
    assert [o.name for o in drift.outputs][2:] == [f"class_probability/{c}" for c in range(3)]
    monitor.close()

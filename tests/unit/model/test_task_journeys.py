"""Journeys of a multiclass classifier and a regressor: wrap (the task inferred) → load →
the inner model's output unchanged → a check with the task's metrics → baselines."""

from __future__ import annotations

import json
import math
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm
from sklearn.datasets import load_diabetes, load_wine
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from mlflow_monitor import DataValidationError
from mlflow_monitor.cli import EXIT_DEGRADED, cli
from mlflow_monitor.model.artifacts import read_settings
from mlflow_monitor.model.wrap import wrap
from tests.support.reviews import make_reviews

NO_SCHEDULE = {"schedule_checks": False}
# More rows than a test sends: the drift check is skipped, so the exit code is the
# performance verdict's alone.
CONFIG = {"performance_min_samples": 20, "drift_min_samples": 500, "drift_window_size": 500}


def _split(loader):
    x, y = loader(return_X_y=True, as_frame=True)
    x.columns = [str(c) for c in x.columns]
    return train_test_split(x, y, test_size=0.4, random_state=0)


def _log(model, x_train, name, **options):
    with mlflow.start_run():
        mlflow.sklearn.log_model(
            model, name="m", registered_model_name=name, input_example=x_train.head(3), **options
        )


def _predict_and_label(uri, x_test, truths):
    """Predict through the monitored model, send the true labels, and return the output."""
    monitored = mlflow.pyfunc.load_model(uri, model_config=NO_SCHEDULE)
    output = monitored.predict(x_test)
    with_ids = monitored.predict(x_test, params={"return_prediction_ids": True})
    monitor = monitored.unwrap_python_model().monitor
    monitor.store.flush()
    for pid, truth in zip(with_ids["prediction_id"], truths, strict=True):
        monitor.record_feedback(pid, truth)
    monitor.close()
    return monitored, output


@pytest.fixture(scope="module")
def wine(embedded_tracking):
    x_train, x_test, y_train, y_test = _split(load_wine)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500, C=0.05))
    model.fit(x_train, y_train)
    _log(model, x_train, "wine")
    return model, x_train, x_test, y_test


@pytest.fixture(scope="module")
def diabetes(embedded_tracking):
    x_train, x_test, y_train, y_test = _split(load_diabetes)
    model = LinearRegression().fit(x_train, y_train)
    _log(model, x_train, "diabetes")
    return model, x_train, x_test, y_test


def test_a_multiclass_classifier_journey(wine, runner):
    model, x_train, x_test, y_test = wine
    wrapped = wrap("models:/wine/1", x_train, {"accuracy": 0.99, "macro_f1": 0.99}, CONFIG)
    assert wrapped.task == "multiclass"  # inferred from the labels it predicts
    # Two predictions in three are wrong: the live accuracy falls far below its baseline.
    wrong = (y_test.to_numpy() + (np.arange(len(y_test)) % 3 > 0)) % 3
    monitored, output = _predict_and_label(wrapped.uri, x_test, wrong)
    assert np.array_equal(output, model.predict(x_test))
    assert monitored.unwrap_python_model().monitor.config.task == "multiclass"
    result = runner.invoke(cli, ["check", wrapped.uri, "--json"])
    assert result.exit_code == EXIT_DEGRADED, result.output
    drift, performance = json.loads(result.stdout)
    assert drift["status"] == "skipped"
    live = performance["performance"]
    expected = skm.accuracy_score(wrong, model.predict(x_test))
    assert live["task"] == "multiclass" and live["accuracy"] == pytest.approx(expected)
    assert live["macro_f1"] == pytest.approx(skm.f1_score(wrong, output, average="macro"))
    assert set(live["class_recall"]) == {"0", "1", "2"}
    runs = mlflow.search_runs(experiment_names=["monitoring/wine"])
    assert "metrics.performance/macro_f1" in runs.columns
    assert "metrics.performance/class_recall/2" in runs.columns
    table = runner.invoke(cli, ["baselines", "wine-monitored", "--format", "json"])
    assert table.exit_code == 0, table.output
    (row,) = json.loads(table.stdout)
    assert row["baseline_macro_f1"] == 0.99
    assert row["live_macro_f1"] == pytest.approx(live["macro_f1"], rel=1e-3)


def test_a_regressor_journey(diabetes, runner):
    model, x_train, x_test, y_test = diabetes
    expected = model.predict(x_test)
    mae = skm.mean_absolute_error(y_test, expected)
    baseline = {"mae": round(mae * 1.2, 3), "rmse": 1000.0, "r2": 0.1}
    wrapped = wrap("models:/diabetes/1", x_train, baseline, CONFIG)
    assert wrapped.task == "regression"
    _, output = _predict_and_label(wrapped.uri, x_test, y_test.tolist())
    assert np.array_equal(output, expected)
    result = runner.invoke(cli, ["check", wrapped.uri, "--json"])
    assert result.exit_code == 0, result.output  # errors below their baselines: no verdict
    live = json.loads(result.stdout)[1]["performance"]
    assert live["mae"] == pytest.approx(mae)
    assert live["rmse"] == pytest.approx(math.sqrt(skm.mean_squared_error(y_test, expected)))
    table = runner.invoke(cli, ["baselines", "diabetes-monitored", "--format", "json"])
    (row,) = json.loads(table.stdout)
    assert row["baseline_mae"] == pytest.approx(baseline["mae"], rel=1e-3)  # tags keep 4 digits
    assert row["live_r2"] == pytest.approx(skm.r2_score(y_test, expected), rel=1e-3)


def test_wrap_refuses_a_baseline_of_another_task(diabetes):
    _, x_train, _, _ = diabetes
    with pytest.raises(DataValidationError, match=r"'precision' is unknown for task 'regression'"):
        wrap("models:/diabetes/1", x_train, {"precision": 0.9})


def test_wrap_refuses_a_model_that_returns_one_row_for_many(embedded_tracking):
    train = make_reviews(300, seed=3)
    # Fit on a Series, the pipeline reads the DataFrame MLflow passes as its column names.
    pipeline = make_pipeline(TfidfVectorizer(), LogisticRegression()).fit(
        train["text"], train["is_fake"]
    )
    with mlflow.start_run():
        mlflow.sklearn.log_model(pipeline, name="m", registered_model_name="series-text")
    with pytest.raises(DataValidationError, match="returned 1 predictions for 300 reference rows"):
        wrap("models:/series-text/1", train[["text"]], {"accuracy": 0.9})


@pytest.mark.parametrize(
    ("given", "stored"), [(None, "multiclass"), ("binary", "binary")], ids=["inferred", "given"]
)
def test_monitor_json_holds_the_task(wine, tmp_path, runner, given, stored):
    _, x_train, _, _ = wine
    reference = tmp_path / "reference.parquet"
    x_train.to_parquet(reference)
    baseline = tmp_path / "baseline.json"
    baseline.write_text(json.dumps({"accuracy": 0.9}))
    name = f"wine-{stored}"
    args = ["wrap", "models:/wine/1", "--reference", str(reference), "--baseline", str(baseline)]
    args += ["--name", name] + (["--task", given] if given else [])
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert f"task: {stored}" in result.output
    model_dir = Path(
        mlflow.artifacts.download_artifacts(f"models:/{name}/1", dst_path=str(tmp_path))
    )
    options, settings = read_settings(next(model_dir.rglob("monitor.json")))
    assert options["task"] == stored
    assert settings.classes == ((0, 1, 2) if stored == "multiclass" else ())


def test_a_mixed_type_column_transformer_journey(embedded_tracking, runner):
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.preprocessing import OneHotEncoder

    from tests.unit.drift.test_tabular import mixed

    frame = mixed(400, seed=0).drop(columns=["ordered", "review"])
    frame["gift"] = frame["gift"].astype(str)
    frame["size"] = frame["size"].astype(str)
    frame.loc[frame.index[1], "color"] = None  # the signature then allows a missing color
    labels = ((frame["price"].fillna(10) > 10) ^ (frame["color"] == "red")).astype(int)
    pipeline = make_pipeline(
        ColumnTransformer(
            [
                ("num", SimpleImputer(), ["price"]),
                ("cat", OneHotEncoder(handle_unknown="ignore"), ["color", "size", "gift"]),
            ]
        ),
        LogisticRegression(),
    ).fit(frame, labels)
    _log(pipeline, frame, "shop", skops_trusted_types=["numpy.dtype"])
    wrapped = wrap("models:/shop/1", frame, {"accuracy": 0.9}, CONFIG | {"drift_min_samples": 50})
    assert (wrapped.task, wrapped.features) == ("binary", "tabular")
    current = mixed(80, seed=5, colors=("red", "purple")).drop(columns=["ordered", "review"])
    current["gift"] = current["gift"].astype(str)
    current.loc[current.index[:10], "color"] = None
    current["size"] = current["size"].astype(str)
    current.loc[current.index[:5], "size"] = "XXL"  # a size the model never saw
    monitored = mlflow.pyfunc.load_model(wrapped.uri, model_config=NO_SCHEDULE)
    output = monitored.predict(current)
    assert np.array_equal(output, pipeline.predict(current))
    monitor = monitored.unwrap_python_model().monitor
    monitor.store.flush()
    result = monitor.check_drift()
    monitor.close()
    assert result.status == "drift" and result.drift.drifted_features[0] == "color"
    names = [f.name for f in result.drift.features]
    assert names == ["price", "color", "size", "gift"]
    outputs = result.prediction_drift  # the class balance served against the reference's
    assert outputs is not None and outputs.n_test == 80 and outputs.n_reference == 400
    assert [o.name for o in outputs.outputs] == ["prediction"]  # the pyfunc gives labels
    by_name = {c.name: c for c in result.quality.columns}
    assert by_name["color"].missing_share == pytest.approx(10 / 80)
    assert by_name["size"].unseen_share == pytest.approx(5 / 80)
    runs = mlflow.search_runs(experiment_names=["monitoring/shop"])
    assert "metrics.quality/color/missing_share" in runs.columns
    assert "metrics.feature/color/chi2_p_value" in runs.columns


def test_wrap_refuses_constant_drift_features(diabetes):
    _, x_train, _, _ = diabetes
    constant = x_train.assign(**{c: 1.0 for c in x_train.columns})
    with pytest.raises(DataValidationError, match=r"constant .* matrix"):
        wrap("models:/diabetes/1", constant, {"mae": 50.0})


def test_a_binary_classifier_of_string_classes_records_its_classes(embedded_tracking):
    rng = np.random.default_rng(2)
    frame = pd.DataFrame(rng.normal(size=(200, 2)), columns=["links", "caps"])
    classes = np.where(frame["links"] > 0, "spam", "ham")
    _log(LogisticRegression().fit(frame, classes), frame, "mail")
    wrapped = wrap("models:/mail/1", frame, {"recall": 0.9}, CONFIG)
    monitored = mlflow.pyfunc.load_model(wrapped.uri, model_config=NO_SCHEDULE)
    monitor = monitored.unwrap_python_model().monitor
    assert (monitor.config.task, monitor.config.positive_label) == ("binary", "spam")
    with_ids = monitored.predict(frame.head(30), params={"return_prediction_ids": True})
    monitor.store.flush()
    assert monitor.store.counts().predictions == 30  # recorded, not refused as a third class
    for pid, truth in zip(with_ids["prediction_id"], classes[:30], strict=True):
        monitor.record_feedback(pid, truth)
    snapshot = monitor.current_performance()
    monitor.close()
    expected = skm.recall_score(classes[:30], with_ids["prediction"], pos_label="spam")
    assert snapshot.recall == pytest.approx(expected)


def test_a_regressor_wrapped_with_labels_estimates_its_errors_before_any_label(diabetes, tmp_path):
    model, x_train, x_test, y_test = diabetes
    wrapped = wrap(
        "models:/diabetes/1",
        x_train,
        None,
        # a store of its own: the journey above labelled this stream's predictions
        {**CONFIG, "store_uri": f"sqlite:///{tmp_path}/inference.db"},
        registered_model_name="diabetes-estimated",
        reference_labels=y_train_of(diabetes),
    )
    model_dir = Path(mlflow.artifacts.download_artifacts(wrapped.uri, dst_path=str(tmp_path / "m")))
    saved = json.loads(next(model_dir.rglob("estimation_reference.json")).read_text())
    np.testing.assert_allclose(saved["predictions"], model.predict(x_train))
    train_mae = skm.mean_absolute_error(y_train_of(diabetes), model.predict(x_train))
    baseline = json.loads(next(model_dir.rglob("baseline.json")).read_text())
    assert baseline["mae"] == pytest.approx(train_mae, rel=1e-5)  # computed, not given
    assert set(baseline) == {"mae", "rmse", "r2", "mape"}

    monitored = mlflow.pyfunc.load_model(wrapped.uri, model_config=NO_SCHEDULE)
    monitor = monitored.unwrap_python_model().monitor
    monitored.predict(x_test)
    monitor.store.flush()
    result = monitor.check_performance()
    estimate = result.performance.estimated
    assert result.performance.n_samples == 0 and estimate.decides
    assert set(estimate.metrics) == {"mae", "rmse"}
    realized = skm.mean_absolute_error(y_test, model.predict(x_test))
    # 177 rows like the reference: the estimate is the reference's error level
    assert estimate.metrics["mae"] == pytest.approx(realized, rel=0.15)
    monitor.close()


def y_train_of(diabetes):
    """The training targets of the ``diabetes`` fixture's split."""
    return _split(load_diabetes)[2]

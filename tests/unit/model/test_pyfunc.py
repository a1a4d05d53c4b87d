"""Journey 1: wrap a registry model, load it with MLflow, predict, and see it recorded."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

from mlflow_monitor import ConfigError, DataValidationError
from mlflow_monitor.model.wrap import wrap
from tests.support.reviews import log_detector, make_reviews, train_pipeline

BASELINE = {"precision": 0.9, "recall": 0.9, "accuracy": 0.9, "f1_score": 0.9}
NO_SCHEDULE = {"schedule_checks": False}


@pytest.fixture(scope="module")
def registered(embedded_tracking):
    """A text classifier registered as ``reviews`` v1 (pyfunc returns predict_proba)."""
    train = make_reviews(600, seed=1)
    with mlflow.start_run():
        log_detector(train_pipeline(train), train[["text"]], "reviews")
    return train


@pytest.fixture(scope="module")
def wrapped(registered):
    config = {"drift_min_samples": 30, "performance_min_samples": 10, "random_seed": 0}
    return wrap("models:/reviews/1", registered[["text"]].head(400), BASELINE, config=config)


def test_wrap_registers_a_monitored_version(wrapped):
    assert (wrapped.name, wrapped.version) == ("reviews-monitored", "1")
    # MLflow predicted the input example while logging; that must not reach the store
    monitor = mlflow.pyfunc.load_model(wrapped.uri, model_config=NO_SCHEDULE)
    assert monitor.unwrap_python_model().monitor.store.counts().predictions == 0
    assert wrapped.inner.uri == "models:/reviews/1"
    assert wrapped.features == "pipeline"
    assert 1 <= wrapped.n_features <= 32  # TF-IDF projected


def test_version_artifacts_and_tags(wrapped, tmp_path):
    client = mlflow.MlflowClient()
    version = client.get_model_version("reviews-monitored", "1")
    assert version.tags["baseline.precision"] == "0.9"
    assert version.tags["mlflow_monitor.inner_model_uri"] == "models:/reviews/1"
    inner_tags = client.get_model_version("reviews", "1").tags
    assert inner_tags["mlflow_monitor.monitored"] == "models:/reviews-monitored/1"
    local = mlflow.artifacts.download_artifacts(wrapped.uri, dst_path=str(tmp_path))
    files = {p.relative_to(local).as_posix() for p in Path(local).rglob("*")}
    expected_files = (
        "artifacts/reference.parquet",
        "artifacts/baseline.json",
        "artifacts/monitor.json",
        "artifacts/reference_features.npz",
        "artifacts/features/features.json",
        "artifacts/features/projection.npz",
        "artifacts/inner_model/MLmodel",
    )
    assert [f for f in expected_files if f not in files] == [], " ".join(sorted(files))
    assert not any(name.endswith(".pkl") for name in files)  # logged as code, not pickled
    mlmodel = (Path(local) / "MLmodel").read_text()
    assert "model_code_path" in mlmodel
    settings = json.loads((Path(local) / "artifacts/monitor.json").read_text())
    assert settings["monitor"]["model_name"] == "reviews"
    assert settings["monitor"]["model_version"] == "1"


def test_predict_returns_exactly_what_the_inner_model_returns(wrapped, registered):
    batch = make_reviews(50, seed=2)[["text"]]
    inner = mlflow.pyfunc.load_model("models:/reviews/1")
    monitored = mlflow.pyfunc.load_model(wrapped.uri, model_config=NO_SCHEDULE)
    np.testing.assert_array_equal(monitored.predict(batch), inner.predict(batch))
    monitor = monitored.unwrap_python_model().monitor
    monitor.store.flush() if hasattr(monitor.store, "flush") else None
    assert monitor.get_monitoring_status()["counts"]["predictions"] == 50


def test_ids_from_the_input_column_and_feedback(wrapped):
    monitored = mlflow.pyfunc.load_model(wrapped.uri, model_config=NO_SCHEDULE)
    model = monitored.unwrap_python_model()
    batch = make_reviews(40, seed=3)
    frame = batch[["text"]].assign(prediction_id=[f"req-{i}" for i in range(40)])
    output = monitored.predict(frame)
    assert output.shape == (40, 2)
    for i, label in enumerate(batch["is_fake"]):
        model.monitor.record_feedback(f"req-{i}", int(label))
    snapshot = model.monitor.check_performance().performance
    assert snapshot.n_samples == 40
    assert snapshot.accuracy > 0.8


def test_return_prediction_ids_param(wrapped):
    monitored = mlflow.pyfunc.load_model(wrapped.uri, model_config=NO_SCHEDULE)
    out = monitored.predict(
        make_reviews(5, seed=4)[["text"]], params={"return_prediction_ids": True}
    )
    assert isinstance(out, pd.DataFrame)
    assert list(out.columns[:1]) == ["prediction_id"] and len(out) == 5
    assert out["prediction_id"].str.len().eq(32).all()


def test_drift_check_on_recorded_traffic(wrapped):
    monitored = mlflow.pyfunc.load_model(wrapped.uri, model_config=NO_SCHEDULE)
    monitor = monitored.unwrap_python_model().monitor
    monitored.predict(make_reviews(200, seed=5)[["text"]])
    calm = monitor.check_drift()
    assert calm.status == "ok", calm
    shouting = pd.DataFrame({"text": ["wow wow amazing best ever must buy"] * 200})
    monitored.predict(shouting)
    assert monitor.check_drift().status == "drift"


def test_numeric_models_use_their_columns(embedded_tracking):
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(300, 3)), columns=["length", "stars", "caps"])
    labels = (frame["caps"] > 0).astype(int)
    with mlflow.start_run():
        mlflow.sklearn.log_model(
            LogisticRegression().fit(frame, labels),
            name="m",
            registered_model_name="numeric-model",
            input_example=frame.head(2),
        )
    result = wrap(
        "models:/numeric-model/1", frame, {"accuracy": 0.95}, registered_model_name="numeric-model"
    )
    assert (result.name, result.version, result.features) == ("numeric-model", "2", "numeric")
    monitored = mlflow.pyfunc.load_model("models:/numeric-model/2", model_config=NO_SCHEDULE)
    assert monitored.predict(frame.head(10)).tolist() == labels.head(10).tolist()


def test_wrap_rejects_bad_input(registered, tmp_path):
    with pytest.raises(DataValidationError, match="baseline metric 'auc' is unknown"):
        wrap("models:/reviews/1", registered[["text"]], {"auc": 0.9})
    with pytest.raises(ConfigError, match="retraining_callback cannot be stored"):
        wrap(
            "models:/reviews/1",
            registered[["text"]],
            BASELINE,
            config={"retraining_callback": print},
        )
    with pytest.raises(DataValidationError, match="does not exist"):
        wrap("models:/reviews/1", tmp_path / "missing.parquet", BASELINE)
    with pytest.raises(DataValidationError, match="no numeric columns"):
        wrap("models:/reviews/1", registered[["text"]], BASELINE, features="numeric")


def test_cli_refuses_a_model_that_is_not_monitored(registered, runner):
    from mlflow_monitor.cli import cli

    result = runner.invoke(cli, ["check", "models:/reviews/1"])
    assert result.exit_code == 2
    assert "is not a monitored model" in result.output and "Traceback" not in result.output


def test_cli_status_counts_what_the_store_holds(wrapped, runner):
    from mlflow_monitor.cli import cli

    monitored = mlflow.pyfunc.load_model(wrapped.uri, model_config=NO_SCHEDULE)
    monitored.predict(make_reviews(7, seed=8)[["text"]])
    monitor = monitored.unwrap_python_model().monitor
    monitor.close()
    held = monitor.store.counts().predictions
    result = runner.invoke(cli, ["status", wrapped.uri])
    assert result.exit_code == 0, result.output
    rows = {
        line.split("│")[0].strip(): line.split("│")[-1].strip()
        for line in result.output.splitlines()
    }
    assert rows["predictions"] == f"{held} in the store"


def _store_files(uri: str) -> dict[str, bytes]:
    """The bytes of a SQLite store and its write-ahead log, by file name. (The ``-shm`` file,
    SQLite's shared-memory index of the log, is left out: every reader marks it; and a reader
    may open an empty log where there was none.)"""
    db = Path(uri.removeprefix("sqlite:///"))
    files = [db, db.with_name(db.name + "-wal")]
    return {p.name: p.read_bytes() for p in files if p.exists() and p.stat().st_size}


def test_cli_status_of_a_model_only_reads_its_store(wrapped, runner, tmp_path):
    import sqlite3

    from mlflow_monitor.cli import cli
    from mlflow_monitor.model.pyfunc import resolve_store_uri

    monitored = mlflow.pyfunc.load_model(wrapped.uri, model_config=NO_SCHEDULE)
    monitored.predict(make_reviews(5, seed=9)[["text"]])
    monitor = monitored.unwrap_python_model().monitor
    monitor.close()
    # A copy of the store that no other monitor of this test process writes to.
    shared = resolve_store_uri().removeprefix("sqlite:///")
    copy = tmp_path / "copy.db"
    with sqlite3.connect(shared) as source, sqlite3.connect(copy) as target:
        source.backup(target)
    uri = f"sqlite:///{copy}"
    before = _store_files(uri)
    result = runner.invoke(cli, ["status", "--json", "--store-uri", uri, wrapped.uri])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["source"] == "store"
    assert (report["store"]["model_name"], report["store"]["model_version"]) == ("reviews", "1")
    assert report["store"]["predictions"] == monitor.store.counts().predictions >= 5
    assert report["monitoring_active"] is False and report["leader"] is False
    assert report["performance"]["baseline"] == BASELINE
    assert runner.invoke(cli, ["status", "--store-uri", uri, wrapped.uri]).exit_code == 0
    assert _store_files(uri) == before  # not a byte written, in the file or its log
    default = runner.invoke(cli, ["status", "--json", wrapped.uri])  # the store servers share
    assert json.loads(default.output)["store"]["predictions"] >= 5


def test_cli_status_registers_no_stream_for_a_version_never_served(wrapped, runner, tmp_path):
    from mlflow_monitor.cli import cli
    from mlflow_monitor.store.sql import SqlInferenceStore

    uri = f"sqlite:///{tmp_path}/other.db"
    SqlInferenceStore(uri, "another-model", "3").close()  # a store this version never used
    before = _store_files(uri)
    result = runner.invoke(cli, ["status", "--json", "--store-uri", uri, wrapped.uri])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["store"]["predictions"] == report["store"]["labels"] == 0
    assert report["drift"]["last_check"] is None and report["triggers"]["total"] == 0
    assert _store_files(uri) == before


def test_cli_status_of_a_missing_store_is_an_error_and_creates_nothing(wrapped, runner, tmp_path):
    from mlflow_monitor.cli import cli

    missing = tmp_path / "nowhere" / "inference.db"
    result = runner.invoke(cli, ["status", "--store-uri", f"sqlite:///{missing}", wrapped.uri])
    assert result.exit_code == 2
    assert "does not exist" in result.output and "Traceback" not in result.output
    assert not missing.parent.exists()


def test_a_read_only_store_refuses_to_write(tmp_path):
    from mlflow_monitor import StoreError
    from mlflow_monitor.store.sql import SqlInferenceStore

    uri = f"sqlite:///{tmp_path}/inference.db"
    SqlInferenceStore(uri, "reviews", "1").close()
    reader = SqlInferenceStore(uri, "reviews", "1", read_only=True)
    try:
        assert reader.counts().predictions == 0
        for write in (
            lambda: reader.record_check({"kind": "drift"}),
            lambda: reader.label("x", 1),
            lambda: reader.take_features(1, 10),
            lambda: reader.leadership("checks"),
        ):
            with pytest.raises(StoreError, match="read-only"):
                write()
    finally:
        reader.close()


@pytest.mark.parametrize("width", [72, 100, 200], ids=["72", "100", "200"])
def test_cli_baselines_fit_the_terminal(wrapped, runner, width):
    from mlflow_monitor.cli import cli

    result = runner.invoke(cli, ["baselines", "reviews-monitored"], env={"COLUMNS": str(width)})
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines and max(len(line) for line in lines) <= width
    assert "0.9" in result.output  # the baseline
    assert "0.900" in result.output and "None" not in result.output and "-\n" not in result.output


def test_cli_report_writes_the_latest_checks_report(wrapped, runner, tmp_path):
    from mlflow_monitor.cli import cli

    monitored = mlflow.pyfunc.load_model(wrapped.uri, model_config=NO_SCHEDULE)
    monitor = monitored.unwrap_python_model().monitor
    monitored.predict(pd.DataFrame({"text": ["wow wow amazing best ever must buy"] * 60}))
    monitor.store.flush()
    checked = monitor.check_drift()
    monitor.close()
    assert checked.ran
    target = tmp_path / "report.html"
    result = runner.invoke(cli, ["report", wrapped.uri, "-o", str(target)])
    assert result.exit_code == 0, result.output
    text = target.read_text()
    assert text.startswith("<!DOCTYPE html>") and "reviews v1: drift check" in text
    p_value = checked.drift.p_value
    shown = f"{p_value:.2e}" if p_value < 1e-3 else f"{p_value:.4g}"
    assert f"p = {shown}" in text
    missing = runner.invoke(cli, ["report", wrapped.uri, "--check", "nope", "-o", "-"])
    assert missing.exit_code == 2 and "no check run 'nope'" in missing.output


def test_wrap_with_reference_labels_estimates_before_any_feedback(registered):
    reference = registered[["text", "is_fake"]].head(400)
    config = {"performance_min_samples": 30, "random_seed": 0, "drift_min_samples": 30}
    wrapped = wrap(
        "models:/reviews/1",
        reference,
        None,  # computed from the labels
        config=config,
        registered_model_name="reviews-estimated",
        reference_labels="is_fake",
    )
    tags = mlflow.MlflowClient().get_model_version("reviews-estimated", "1").tags
    inner = mlflow.pyfunc.load_model("models:/reviews/1")
    predicted = (inner.predict(reference[["text"]])[:, 1] >= 0.5).astype(int)
    accuracy = float(np.mean(predicted == reference["is_fake"].to_numpy()))
    assert float(tags["baseline.accuracy"]) == pytest.approx(accuracy, abs=1e-3)
    monitored = mlflow.pyfunc.load_model(wrapped.uri, model_config=NO_SCHEDULE)
    monitor = monitored.unwrap_python_model().monitor
    try:
        monitored.predict(make_reviews(120, seed=31, style_shift=0.6)[["text"]])
        monitor.store.flush()
        result = monitor.check_performance()
        # the stream (reviews v1) is the one the other tests of this module record into:
        # the estimate covers the latest predictions, these 120 among them
        estimated = result.performance.estimated
        assert estimated is not None and estimated.n_samples >= 120
        assert set(estimated.metrics) >= {"accuracy", "precision", "recall", "f1_score"}
    finally:
        monitor.close()


def test_cli_wrap_takes_the_labels_from_a_reference_column(registered, runner, tmp_path):
    from mlflow_monitor.cli import cli

    path = tmp_path / "reference.csv"
    registered[["text", "is_fake"]].head(300).to_csv(path, index=False)
    args = ["wrap", "models:/reviews/1", "--reference", str(path), "--target", "is_fake"]
    result = runner.invoke(cli, [*args, "--name", "reviews-cli-estimated"])
    assert result.exit_code == 0, result.output
    assert "reviews-cli-estimated" in result.output
    both = runner.invoke(cli, [*args, "--labels", str(path)])
    assert both.exit_code == 2 and "not both" in both.output
    neither = runner.invoke(cli, ["wrap", "models:/reviews/1", "--reference", str(path)])
    assert neither.exit_code == 2 and "--baseline" in neither.output

"""Crafted files and values given to the commands and the config: a malformed feedback CSV labels
nothing and exits 2, `wrap` refuses a reference its model could never load with, and config
edge values raise ConfigError.

Issue #16, defects 7, 8 and 9; see docs/reliability.md.
"""

from __future__ import annotations

import json

import mlflow
import pandas as pd
import pytest

from mlflow_monitor import ConfigError, DataValidationError, MonitorError, create_monitor
from mlflow_monitor.cli import cli
from mlflow_monitor.model.wrap import wrap
from mlflow_monitor.monitor.feedback_file import read_feedback_csv
from mlflow_monitor.store.sql.store import SqlInferenceStore
from tests.support.reviews import BASELINE, make_reviews

MODEL = "app-reviews"

# -- defect 7: feedback --file ---------------------------------------------------------------


@pytest.fixture
def store_uri(tmp_path, monkeypatch):
    uri = f"sqlite:///{tmp_path}/inference.db"
    monkeypatch.setenv("MLFLOW_MONITOR_STORE_URI", uri)
    return uri


@pytest.fixture
def predicted(app_reviews, store_uri):
    """Predictions ``p1``..``p3`` of the wrapped model, in the store."""
    model = mlflow.pyfunc.load_model(app_reviews.uri, model_config={"schedule_checks": False})
    frame = pd.DataFrame({"text": ["great", "awful", "fine"], "prediction_id": ["p1", "p2", "p3"]})
    model.predict(frame)
    model.unwrap_python_model().monitor.close()
    return app_reviews.uri


def _labels(store_uri: str) -> int:
    store = SqlInferenceStore(store_uri, model_name=MODEL, model_version="1")
    try:
        return store.counts().labels
    finally:
        store.close()


def test_a_row_with_more_fields_than_the_header_labels_nothing(
    predicted, store_uri, runner, tmp_path
):
    labels = tmp_path / "labels.csv"
    # "p1,1,p2" would have shifted columns: p1 unlabelled... and the wrong id labelled.
    labels.write_text("prediction_id,true_label\np1,1,extra\np2,0\n")
    result = runner.invoke(cli, ["feedback", predicted, "--file", str(labels)])
    assert result.exit_code == 2, result.output
    assert "line 2" in result.output and "3 fields" in result.output
    assert "Traceback" not in result.output
    assert _labels(store_uri) == 0


def test_a_good_file_labels_the_right_predictions(predicted, store_uri, runner, tmp_path):
    labels = tmp_path / "labels.csv"
    labels.write_text("true_label,prediction_id\n1,p1\n0,p2\n")
    result = runner.invoke(cli, ["feedback", predicted, "--file", str(labels)])
    assert result.exit_code == 0, result.output
    assert "recorded 2 of 2" in result.output
    assert _labels(store_uri) == 2
    again = runner.invoke(cli, ["feedback", predicted, "--file", str(labels)])
    assert again.exit_code == 1  # labels rejected: already labelled


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'prediction_id,true_label\np1,1\n"p2,0\n', "line"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe", "UTF-8"),
        (b"prediction_id,true_label\np1,\x001\n", "NUL"),
        (b"", "empty"),
        (b"   \n", "empty"),
        (b"prediction_id,label\np1,1\n", "missing columns"),
        (b"prediction_id,true_label\n", "no labels"),
        (b"prediction_id,true_label\n,1\n", "empty prediction_id"),
        (b"prediction_id,true_label\np1\n", "1 fields"),
    ],
    ids=[
        "unterminated-quote",
        "binary",
        "nul",
        "empty",
        "blank",
        "no-label-column",
        "header-only",
        "empty-id",
        "short-row",
    ],
)
def test_malformed_files_are_refused_with_a_clear_error(tmp_path, content, message):
    path = tmp_path / "labels.csv"
    path.write_bytes(content)
    with pytest.raises(DataValidationError, match=message):
        read_feedback_csv(path)


def test_a_malformed_file_exits_2_not_1_with_no_traceback(predicted, runner, tmp_path):
    path = tmp_path / "labels.csv"
    path.write_bytes(b'prediction_id,true_label\np1,1\n"p2,0\n')
    result = runner.invoke(cli, ["feedback", predicted, "--file", str(path)])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_labels_are_read_as_typed(tmp_path):
    path = tmp_path / "labels.csv"
    path.write_text('\ufeffprediction_id,true_label\n"a,b",1\nc,cat\nd,1.0\n007,-2\n')
    assert read_feedback_csv(path) == [("a,b", 1), ("c", "cat"), ("d", 1), ("007", -2)]


# -- defect 8: wrap validates the reference ---------------------------------------------------


def _inner_uri(app_reviews) -> str:
    return "models:/app-reviews/1"


@pytest.mark.parametrize(
    ("reference", "message"),
    [
        (lambda: make_reviews(1, seed=3)[["text"]], "at least 2 rows"),
        (lambda: pd.DataFrame({"text": ["good", None, "bad"]}), "missing values"),
        (lambda: pd.DataFrame({"text": ["good", float("nan"), "bad"]}), "missing values"),
        (lambda: pd.DataFrame({"review": ["good", "bad", "fine"]}), "lacks the input column"),
    ],
    ids=["one-row", "none-text", "nan-text", "missing-column"],
)
def test_wrap_refuses_a_reference_the_model_could_never_load(app_reviews, reference, message):
    before = len(mlflow.MlflowClient().search_model_versions("name='app-reviews-monitored'"))
    with pytest.raises(DataValidationError, match=message):
        wrap(_inner_uri(app_reviews), reference(), BASELINE)
    after = len(mlflow.MlflowClient().search_model_versions("name='app-reviews-monitored'"))
    assert after == before, "a version was registered"


@pytest.mark.parametrize(
    ("name", "content"),
    [("ref.csv", b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe\x00"), ("ref.parquet", b"not parquet")],
    ids=["binary-csv", "bad-parquet"],
)
def test_wrap_from_the_shell_names_an_unreadable_reference(
    app_reviews, runner, tmp_path, name, content
):
    reference = tmp_path / name
    reference.write_bytes(content)
    baseline = tmp_path / "baseline.json"
    baseline.write_text(json.dumps(BASELINE))
    result = runner.invoke(
        cli,
        [
            "wrap",
            _inner_uri(app_reviews),
            "--reference",
            str(reference),
            "--baseline",
            str(baseline),
        ],
    )
    assert result.exit_code == 2, result.output
    assert "cannot read the reference file" in result.output, result.output


# -- defect 9: config edge values --------------------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [
        {"performance_window_size": 2**63},
        {"max_pending_feedback": 2**63},
        {"drift_window_size": 2**63},
        {"drift_update_ref": {"last": 2**63, "sigma": 1.0}},
        {"retrain_parameters": {"a": object()}},
        {"retrain_parameters": {"a": float("nan")}},
    ],
    ids=["window-2^63", "pending-2^63", "drift-window-2^63", "update-ref-2^63", "object", "nan"],
)
def test_edge_values_are_config_errors(options):
    with pytest.raises(ConfigError, match=next(iter(options))):
        create_monitor(options)


def test_a_store_uri_the_directory_cannot_be_made_for_is_a_config_error(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    with pytest.raises(ConfigError, match="cannot create the directory"):
        create_monitor({"store_uri": f"sqlite:///{blocker}/sub/monitor.db"})


def test_accepted_configs_serialise(tmp_path):
    monitor = create_monitor({"retrain_parameters": {"alpha": 0.5, "tags": ["a"]}})
    try:
        json.dumps(monitor.config.to_dict())
    finally:
        monitor.close()
    assert isinstance(ConfigError("x"), MonitorError)


def test_the_prune_command_deletes_what_is_older_than_asked(predicted, store_uri, runner):
    kept = runner.invoke(cli, ["prune", predicted, "--older-than-days", "1"])
    assert kept.exit_code == 0 and "deleted 0 predictions" in kept.output, kept.output
    gone = runner.invoke(cli, ["prune", predicted, "--older-than-days", "0"])
    assert gone.exit_code == 0 and "deleted 3 predictions" in gone.output, gone.output

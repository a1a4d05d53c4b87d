"""Registry notes: the verdict tag, the description section with its links, retraining
sentences and replaced versions, on MLflow's embedded SQLite store."""

from __future__ import annotations

import json

import mlflow
import pytest

from mlflow_monitor.tracking.check_runs import CheckRunLogger
from mlflow_monitor.tracking.registry import (
    TAG_CHECK_RUN,
    TAG_LAST_CHECK,
    TAG_MONITORED,
    TAG_REPLACED_BY,
    TAG_TRIGGER_DETAILS,
    TAG_TRIGGER_REASON,
    note_wrapped,
    retraining_sentence,
    section_of,
    set_section,
)
from tests.support.check_runs import drift_check

pytestmark = pytest.mark.filterwarnings(
    "ignore:The ``noload`` loader strategy is deprecated:sqlalchemy.exc.SADeprecationWarning"
)


@pytest.fixture
def client(sqlite_tracking_uri, tmp_path):
    return mlflow.MlflowClient(sqlite_tracking_uri)


def _version(client, name: str, tmp_path) -> str:
    if not client.search_registered_models(f"name = '{name}'"):
        client.create_registered_model(name)
    source = tmp_path / f"{name}-source"
    source.mkdir(exist_ok=True)
    return str(client.create_model_version(name, str(source)).version)


def test_the_section_keeps_the_users_description(client, model_name, tmp_path):
    version = _version(client, model_name, tmp_path)
    client.update_model_version(model_name, version, description="Trained on March data.")
    set_section(client, model_name, version, "first")
    set_section(client, model_name, version, "second")
    text = client.get_model_version(model_name, version).description
    assert text.startswith("Trained on March data.")
    assert section_of(text) == "second" and "first" not in text


def test_a_logged_check_tags_and_links_both_versions(
    client, sqlite_tracking_uri, model_name, tmp_path
):
    inner = _version(client, model_name, tmp_path)
    monitored_name = f"{model_name}-monitored"
    monitored = _version(client, monitored_name, tmp_path)
    client.set_model_version_tag(model_name, inner, TAG_MONITORED, f"models:/{monitored_name}/1")
    logger = CheckRunLogger(model_name, inner, sqlite_tracking_uri)
    run_id = logger.log_check(drift_check(0))
    experiment = client.get_experiment_by_name(f"monitoring/{model_name}")
    for name, number in ((model_name, inner), (monitored_name, monitored)):
        version = client.get_model_version(name, number)
        assert version.tags[TAG_LAST_CHECK] == "drift \u2717 p=0.001 \u00b7 2026-11-29 08:00 UTC"
        section = section_of(version.description)
        assert f"#/experiments/{experiment.experiment_id}/runs/{run_id}/artifacts/report.html" in (
            section
        )
        assert f"runs/{logger.history_run_id()})" in section


def test_a_stream_that_is_not_registered_is_left_alone(sqlite_tracking_uri, model_name):
    logger = CheckRunLogger(f"{model_name}-engine", 1, sqlite_tracking_uri)
    assert logger.log_check(drift_check(0)) is not None  # no registry version: nothing to note


def test_retraining_in_words():
    tags = {
        TAG_TRIGGER_REASON: "data_drift",
        TAG_TRIGGER_DETAILS: json.dumps({"p_value": 0.0099, "drifted_features": ["length"]}),
        TAG_CHECK_RUN: "abc123",
    }
    assert retraining_sentence(tags) == (
        "Made by a retraining run after the data-drift check found drift "
        "(p = 0.0099; drifted columns: length); check run `abc123`."
    )
    degraded = {
        TAG_TRIGGER_REASON: "performance_degradation",
        TAG_TRIGGER_DETAILS: json.dumps({"degraded_metrics": {"recall": 0.12}}),
    }
    assert "recall 12.0% below baseline" in retraining_sentence(degraded)
    assert retraining_sentence({}) == ""


def test_a_retrained_version_says_why_and_the_old_one_says_it_was_replaced(
    client, sqlite_tracking_uri, model_name, tmp_path
):
    old = _version(client, model_name, tmp_path)
    check_run = CheckRunLogger(model_name, old, sqlite_tracking_uri).log_check(drift_check(0))
    new = _version(client, model_name, tmp_path)
    for key, value in {
        TAG_TRIGGER_REASON: "data_drift",
        TAG_TRIGGER_DETAILS: json.dumps({"p_value": 0.001}),
        TAG_CHECK_RUN: check_run,
    }.items():
        client.set_model_version_tag(model_name, new, key, value)
    monitored_name = f"{model_name}-monitored"
    monitored = _version(client, monitored_name, tmp_path)
    note_wrapped(client, (monitored_name, monitored), (model_name, new), "monitoring/x")
    new_text = section_of(client.get_model_version(monitored_name, monitored).description)
    assert "wraps `models:/" in new_text and "found drift (p = 0.001)" in new_text
    assert check_run in new_text
    old_version = client.get_model_version(model_name, old)
    assert old_version.tags[TAG_REPLACED_BY] == f"models:/{model_name}/{new}"
    assert f"Replaced by `models:/{model_name}/{new}`." in section_of(old_version.description)

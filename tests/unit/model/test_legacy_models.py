"""A model wrapped by an earlier mlflow-monitor still loads, predicts and records.

``tests/data/models/monitored-0.1.0.dev0`` is the monitored review detector exactly as
``mlflow_monitor.registry.wrap`` wrote it before the package was split into subpackages (its
code file imports ``mlflow_monitor.pyfunc``); ``.expected.json`` holds the inputs it was given
then and what it answered.
"""

from __future__ import annotations

import json
import shutil

import mlflow
import numpy as np
import pandas as pd
import pytest

from mlflow_monitor import MonitoredModel
from mlflow_monitor.model.pyfunc import MonitoredModel as CurrentHome
from tests.support.paths import DATA as TEST_DATA

DATA = TEST_DATA / "models"
LEGACY = DATA / "monitored-0.1.0.dev0"


@pytest.fixture
def legacy_model(tmp_path, monkeypatch):
    """The legacy model copied to a fresh directory, recording into a SQLite file there."""
    local = tmp_path / "model"
    shutil.copytree(LEGACY, local)
    monkeypatch.setenv("MLFLOW_MONITOR_STORE_URI", f"sqlite:///{tmp_path}/store.db")
    model = mlflow.pyfunc.load_model(str(local), model_config={"schedule_checks": False})
    yield model
    model.unwrap_python_model().monitor.close()


def test_the_code_file_imports_the_forever_path():
    code = (LEGACY / "monitored_model_code.py").read_text()
    assert "from mlflow_monitor.pyfunc import MonitoredModel" in code


def test_a_model_wrapped_before_the_split_loads_and_predicts_as_before(legacy_model):
    expected = json.loads((DATA / "monitored-0.1.0.dev0.expected.json").read_text())
    output = legacy_model.predict(pd.DataFrame({"text": expected["texts"]}))
    np.testing.assert_allclose(output, np.asarray(expected["output"]), rtol=0, atol=1e-12)
    python_model = legacy_model.unwrap_python_model()
    assert isinstance(python_model, MonitoredModel) and MonitoredModel is CurrentHome
    monitor = python_model.monitor
    monitor.store.flush()
    assert monitor.store.counts().predictions == len(expected["texts"])
    # its settings came from the old monitor.json: same stream, same drift reference
    assert (monitor.config.model_name, monitor.config.model_version) == ("reviews", "1")
    assert monitor.drift_detector is not None and monitor.reference_size == 120
    # its monitor.json has no task: a binary monitor, as the seed's
    assert monitor.config.task == "binary" and python_model.settings.classes == ()


def test_a_legacy_model_runs_its_checks(legacy_model):
    python_model = legacy_model.unwrap_python_model()
    texts = json.loads((DATA / "monitored-0.1.0.dev0.expected.json").read_text())["texts"]
    legacy_model.predict(pd.DataFrame({"text": texts * 3}))
    python_model.monitor.store.flush()
    result = python_model.monitor.check_drift()
    assert result.ran and result.drift is not None and result.drift.n_test == 36

"""A status read from the store alone computes the version's own task's metrics."""

from __future__ import annotations

import pytest

from mlflow_monitor import create_monitor
from mlflow_monitor.config import MonitorConfig
from mlflow_monitor.monitor.stored import stored_status


def test_a_regressors_stored_status_reports_its_error_metrics():
    options = {"task": "regression", "performance_min_samples": 2}
    monitor = create_monitor(options)
    for prediction, target in ((10.0, 12.0), (5.0, 4.0), (7.0, 7.5)):
        monitor.record_prediction(prediction, true_label=target)
    config = MonitorConfig.from_dict(options)
    report = stored_status(config, monitor.store, {"mae": 1.0})
    current = report["performance"]["current"]
    assert current["mae"] == pytest.approx((2.0 + 1.0 + 0.5) / 3)
    assert report["source"] == "store"

"""Missing values, new categories and schema changes are recorded, checked and reported,
never a failed recording: numeric rows and mixed tabular rows, in memory and in SQLite."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlflow_monitor import create_monitor
from mlflow_monitor.tracking.artifacts import check_metrics
from mlflow_monitor.tracking.report import render_report
from tests.unit.drift.test_tabular import mixed

SERIES = {"model": "default", "version": "0"}  # the labels of a monitor's series

BASE = {"drift_min_samples": 50, "drift_window_size": 500, "random_seed": 0}

# The model and version labels of a monitor on the default options.
DEFAULT_LABELS = {"model": "default", "version": "0"}


def test_missing_numeric_features_are_recorded_and_counted(registry):
    rng = np.random.default_rng(0)
    monitor = create_monitor(BASE, registry=registry)
    reference = pd.DataFrame(rng.uniform(-5, 5, size=(300, 3)), columns=["a", "b", "c"])
    monitor.setup_drift_detection(reference)
    monitor.record_prediction(1, 0.9, features=[None, 0.1, float("nan")])
    monitor.record_prediction(0, 0.2, features={"a": 0.3, "b": None, "c": 0.0})
    batch = rng.uniform(-4, 4, size=(98, 3))
    batch[:18, 0] = np.nan
    batch[:5, 2] = 40.0  # far outside the reference's range
    monitor.record_predictions([0] * 98, features=batch)
    result = monitor.check_drift()
    assert result.ran and result.drift is not None
    quality = {c.name: c for c in result.quality.columns}
    assert quality["a"].missing_share == pytest.approx(19 / 100)
    assert quality["b"].missing_share == pytest.approx(1 / 100)
    assert quality["c"].out_of_range_share == pytest.approx(5 / 99)
    assert registry.get_sample_value(
        "fake_review_detection_data_missing_share", {**DEFAULT_LABELS, "column": "a"}
    ) == pytest.approx(0.19)
    logged = check_metrics(result)
    assert logged["quality/a/missing_share"] == 0.19 and logged["quality/schema_changes"] == 0
    assert np.isfinite(result.drift.p_value)


@pytest.mark.parametrize("store", ["memory", "sqlite"])
def test_mixed_rows_with_missing_values_and_new_categories_never_fail(tmp_path, store, registry):
    options = dict(BASE)
    if store == "sqlite":
        options["store_uri"] = f"sqlite:///{tmp_path}/monitoring.db"
    monitor = create_monitor(options, registry=registry)
    detector = monitor.setup_drift_detection(
        mixed(400, seed=0), feature_types={"gift": "categorical"}
    )
    assert detector is not None and detector.encoder is not None
    current = mixed(120, seed=9, colors=("red", "purple"))
    current = current.drop(columns=["size"]).assign(coupon="SPRING")
    current.loc[current.index[:30], "color"] = None
    monitor.record_predictions([1] * 120, features=current)
    monitor.record_prediction(0, features={"price": "n/a", "color": "teal", "review": None})
    monitor.record_prediction(0, features=[None] * 6)
    if store == "sqlite":
        monitor.store.flush()
    result = monitor.check_drift()
    monitor.close()
    assert result.status == "drift" and "color" in result.drift.drifted_features
    quality = result.quality
    by_name = {c.name: c for c in quality.columns}
    assert by_name["color"].missing_share == pytest.approx(31 / 122)
    present = current["color"].dropna()
    unseen = ((present == "purple").sum() + 1) / (len(present) + 1)
    assert by_name["color"].unseen_share == pytest.approx(unseen)
    assert by_name["size"].missing_share == 1.0  # no row has it (the list row holds None)
    assert quality.missing_columns == () and quality.new_columns == ("coupon",)
    assert {f.name for f in result.drift.features} >= {"price", "color", "review.text.length"}
    assert not any(f.name.startswith("component_") for f in result.drift.features)
    html = render_report(result, model_name="shop", model_version="1")
    assert "<h2>Data quality</h2>" in html and "coupon" in html and "effect size" in html


def test_a_schema_change_is_reported():
    monitor = create_monitor(BASE)
    monitor.setup_drift_detection(mixed(200, seed=0))
    rows = mixed(60, seed=1).drop(columns=["review"])
    rows["price"] = "cheap"
    monitor.record_predictions([0] * 60, features=rows)
    quality = monitor.check_drift().quality
    assert quality.missing_columns == ("review",)
    assert quality.type_changes == {"price": "numeric -> text"}
    assert quality.schema_changes == 2


def test_data_quality_may_trigger_retraining():
    calls = []
    options = {**BASE, "quality_max_missing_share": 0.2}
    monitor = create_monitor({**options, "retraining_callback": lambda r, d: calls.append((r, d))})
    rng = np.random.default_rng(1)
    monitor.setup_drift_detection(rng.normal(size=(300, 2)))
    batch = rng.normal(size=(100, 2))
    batch[:30, 1] = np.nan
    monitor.record_predictions([0] * 100, features=batch)
    result = monitor.check_drift()
    assert result.status == "ok" and result.triggered
    ((reason, details),) = calls
    assert reason == "data_quality"
    assert details["columns"] == {"feature_1": {"missing_share": 0.3}}
    with pytest.raises(Exception, match="quality_max_unseen_share"):
        create_monitor({"quality_max_unseen_share": 1.5})


def test_a_monitor_with_column_kinds_restores_its_state(tmp_path):
    monitor = create_monitor(BASE)
    monitor.setup_drift_detection(mixed(300, seed=0))
    monitor.record_predictions([0] * 60, features=mixed(60, seed=2))
    monitor.save_state(tmp_path / "state")
    again = create_monitor(BASE)
    again.setup_drift_detection(mixed(300, seed=0))
    again.load_state(tmp_path / "state")
    result = again.check_drift()
    assert result.ran and result.drift.features[1].name == "color"
    assert result.quality is not None and result.quality.n_rows == 60


def test_a_shifted_column_of_mixed_rows_fires_the_drift_alarm(registry):
    monitor = create_monitor(BASE, registry=registry)
    fired = []
    monitor.add_retraining_callback(lambda reason, details: fired.append(reason))
    monitor.setup_drift_detection(mixed(400, seed=0))
    current = mixed(300, seed=5)
    current["price"] = current["price"] + 6  # three reference standard deviations
    monitor.record_predictions([0] * len(current), features=current.to_dict("records"))
    result = monitor.check_drift()
    drift = result.drift
    assert drift.drift_detected and drift.effect_size > 1.0  # the column's effect counts
    assert drift.alarm.fired and fired == ["data_drift"]

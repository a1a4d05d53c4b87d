"""Labels of every task and raw rows with missing values, through SQLite and PostgreSQL: what
one monitor records, another reads back as it went in."""

from __future__ import annotations

import numpy as np
import pytest

from mlflow_monitor import create_monitor
from tests.unit.drift.test_tabular import mixed


def _pair(task, uri):
    options = {"task": task, "store_uri": uri, "model_name": "m", "drift_min_samples": 20}
    return create_monitor(options), create_monitor(options)


@pytest.mark.parametrize(
    ("task", "predictions", "truths"),
    [
        ("multiclass", ["a", "1", 1, 7], ["a", 1, "1", 7]),
        ("regression", [0.25, 3.0, -1.5, 1e6], [0.5, 3.0, -2.0, 2e6]),
    ],
    ids=["str-and-int", "float"],
)
def test_labels_keep_their_type(uri, task, predictions, truths):
    writer, reader = _pair(task, uri)
    ids = writer.record_predictions(predictions)
    writer.store.flush()
    for pid, truth in zip(ids, truths, strict=True):
        reader.record_feedback(pid, truth)
    pairs = reader.store.labelled_window(10)
    recent = reader.store.recent_predictions(10)
    writer.close()
    reader.close()

    def typed(pairs):
        return sorted((type(p).__name__, p, type(t).__name__, t) for p, t in pairs)

    assert typed(pairs) == typed(zip(predictions, truths, strict=True))
    assert [p for p, _ in recent] == predictions


def test_mixed_rows_with_missing_values_are_checked_from_another_process(uri):
    writer, checker = _pair("binary", uri)
    for monitor in (writer, checker):
        monitor.setup_drift_detection(mixed(300, seed=0))
    rows = mixed(60, seed=1, colors=("red", "purple"))
    rows.loc[rows.index[:6], ["price", "color", "ordered", "review"]] = None
    writer.record_predictions(np.ones(60, dtype=int), features=rows)
    writer.close()
    result = checker.check_drift()
    checker.close()
    assert result.status == "drift" and result.drift.drifted_features[0] == "color"
    by_name = {c.name: c for c in result.quality.columns}
    assert by_name["ordered"].missing_share == pytest.approx(0.1)
    assert by_name["price"].missing_share == pytest.approx(rows["price"].isna().mean())

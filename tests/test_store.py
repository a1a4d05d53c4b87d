"""Behaviour every inference store shares, run against the in-memory and the SQLite store."""

from __future__ import annotations

import numpy as np
import pytest

from mlflow_monitor import FeedbackError, UnknownPredictionError
from mlflow_monitor.store import InMemoryStore, PredictionBatch, StoreCounts


@pytest.fixture(params=["memory", "sqlite"])
def store(request, tmp_path):
    if request.param == "memory":
        yield InMemoryStore(capacity=1000, window_size=100)
        return
    from mlflow_monitor.sql_store import SqlInferenceStore

    with SqlInferenceStore(f"sqlite:///{tmp_path}/store.db", "reviews", "3") as sql:
        yield sql


def batch(ids, predictions=None, true_labels=None, features=None, probabilities=None):
    n = len(ids)
    return PredictionBatch(
        prediction_ids=list(ids),
        predictions=list(predictions) if predictions is not None else [1] * n,
        probabilities=list(probabilities) if probabilities is not None else [0.5] * n,
        true_labels=true_labels,
        features=features,
    )


def test_labels_join_predictions_and_form_the_window_in_arrival_order(store):
    store.add(batch(["a", "b", "c"], predictions=[1, 0, 1]))
    store.add(batch(["d"], predictions=[0], true_labels=[0]))  # label known at prediction time
    record = store.label("b", 1)
    assert (record.prediction_id, record.prediction, record.true_label) == ("b", 0, 1)
    assert record.probability == 0.5
    store.label("a", 1)
    assert store.labelled_window(10) == [(0, 0), (0, 1), (1, 1)]
    assert store.labelled_window(2) == [(0, 1), (1, 1)]
    counts = store.counts()
    assert (counts.predictions, counts.labels) == (4, 3)


def test_int_and_str_labels_keep_their_type(store):
    store.add(batch(["a", "b"], predictions=["fake", 1]))
    store.label("a", "1")
    store.label("b", 1)
    assert store.labelled_window(5) == [("fake", "1"), (1, 1)]


def test_unknown_and_repeated_labels_are_refused(store):
    store.add(batch(["a"]))
    with pytest.raises(UnknownPredictionError, match="unknown prediction_id 'nope'"):
        store.label("nope", 1)
    store.label("a", 0)
    with pytest.raises(FeedbackError, match="'a' already has true_label 0; labels are not"):
        store.label("a", 1)
    assert store.labelled_window(5) == [(1, 0)]


def test_take_features_waits_for_min_rows_then_consumes_once(store, rng):
    rows = rng.normal(size=(5, 3))
    store.add(batch("abc", features=rows[:3]))
    assert store.pending_features() == 3
    assert store.take_features(4, 10) is None  # nothing consumed
    store.add(batch("de", features=rows[3:]))
    taken = store.take_features(4, 10)
    np.testing.assert_array_equal(np.vstack(taken), rows)
    assert store.pending_features() == 0
    assert store.take_features(1, 10) is None


def test_take_features_keeps_the_most_recent_max_rows(store, rng):
    rows = rng.normal(size=(6, 2))
    store.add(batch("abcdef", features=rows))
    taken = store.take_features(2, 4)
    np.testing.assert_array_equal(np.vstack(taken), rows[2:])
    assert store.pending_features() == 0  # the older rows were consumed too


def test_predictions_without_features_add_no_drift_rows(store, rng):
    store.add(batch(["a", "b"]))
    store.add(batch(["c"], features=rng.normal(size=(1, 2))))
    assert store.pending_features() == 1


def test_raw_features_round_trip(store):
    raw = ["great blender!!!", {"text": "meh", "stars": 2}]
    store.add(batch(["a", "b"], features=raw))
    assert store.take_features(2, 10) == raw


def test_empty_store(store):
    assert store.counts() == StoreCounts(0, 0)
    assert store.labelled_window(10) == []
    assert store.take_features(1, 10) is None
    assert store.flush(timeout=1)


def test_in_memory_store_refuses_repeated_ids_and_changes_nothing():
    store = InMemoryStore()
    store.add(batch(["a"]))
    with pytest.raises(FeedbackError, match="'a' was already recorded"):
        store.add(batch(["b", "a"], features=np.ones((2, 2))))
    with pytest.raises(FeedbackError, match="'c' was already recorded"):
        store.add(batch(["c", "c"]))
    assert len(store) == 1 and store.pending_features() == 0


def test_in_memory_store_is_bounded():
    store = InMemoryStore(capacity=3, window_size=2, labelled_size=2)
    store.add(batch("abcde", true_labels=[0, 1, 0, 1, 0], features=np.eye(5)))
    assert len(store) == 3 and store.evicted == 2 and "a" not in store
    assert store.counts() == StoreCounts(3, 3)
    assert store.labelled_window(10) == [(1, 1), (1, 0)]
    np.testing.assert_array_equal(np.vstack(store.take_features(1, 10)), np.eye(5)[3:])
    with pytest.raises(UnknownPredictionError, match="older than the last 3 predictions"):
        store.label("a", 1)
